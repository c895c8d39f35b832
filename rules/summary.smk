# Every model and lens: the headline numbers in one table.
# Reads: each model's config, metrics and lens JSONs; writes: results/summary.tsv.


rule summary:
    """One table of every model's headline numbers from every lens."""
    input:
        configs=expand("results/models/{model}/config.json", model=sorted(MODELS)),
        metrics=expand("results/models/{model}/metrics.json", model=sorted(MODELS)),
        polytope=expand("results/analysis/{model}/polytope.json", model=sorted(MODELS)),
        interaction=expand(
            "results/analysis/{model}/interaction.json", model=sorted(MODELS)
        ),
        geometry=expand("results/analysis/{model}/geometry.json", model=sorted(MODELS)),
        bilinear=bilinear_targets(),
    output:
        table=report(
            "results/summary.tsv",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        "results/logs/summary.log",
    benchmark:
        "results/benchmarks/summary.tsv"
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        names=sorted(MODELS),
    script:
        "../workflow_scripts/summary.py"
