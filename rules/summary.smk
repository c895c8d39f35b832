# Every model and lens: the headline numbers in one table.
# Reads: each model's config, metrics and lens JSONs; writes: results/summary.tsv.


rule summary:
    """One table of every model's headline numbers from every lens."""
    input:
        configs=expand("results/models/{model}/config.json", model=LENS_MODELS),
        metrics=expand("results/models/{model}/metrics.json", model=LENS_MODELS),
        polytope=expand("results/analysis/{model}/polytope.json", model=LENS_MODELS),
        interaction=expand(
            "results/analysis/{model}/interaction.json", model=LENS_MODELS
        ),
        geometry=expand("results/analysis/{model}/geometry.json", model=LENS_MODELS),
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
        names=LENS_MODELS,
    script:
        "../workflow_scripts/summary.py"
