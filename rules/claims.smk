# The claims scorecard: each paper's headline claims tested on the run, with n, interval, null and ceiling.
# Reads: every model's checkpoint, metrics and lens JSONs, the BOWS and correlation stores;
# writes: results/claims.tsv, results/claims.json, results/claims.png.


rule claims:
    """Every registered claim (bowsflow.claims) evaluated on the run: a verdict per comparison."""
    input:
        checkpoints=expand(
            "results/models/{model}/model.safetensors", model=sorted(MODELS)
        ),
        metrics=expand("results/models/{model}/metrics.json", model=sorted(MODELS)),
        geometry=expand("results/analysis/{model}/geometry.json", model=LENS_MODELS),
        polytope=expand("results/analysis/{model}/polytope.json", model=LENS_MODELS),
        interaction=expand(
            "results/analysis/{model}/interaction.json", model=LENS_MODELS
        ),
        bilinear=bilinear_targets(),
        llc=llc_targets(),
        bows=expand("results/bows/{corpus}/bows.zarr", corpus=model_corpora()),
        correlations=expand(
            "results/bows/{corpus}/correlations.zarr", corpus=model_corpora()
        ),
    output:
        table=report(
            "results/claims.tsv",
            caption="../report/claims.rst",
            category="1. Claims",
        ),
        json="results/claims.json",
        figure=report(
            "results/claims.png",
            caption="../report/claims.rst",
            category="1. Claims",
        ),
    log:
        "results/logs/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: config["analysis"]["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        options=config["claims"],
        models=MODELS,
        corpora=config["corpora"],
        results=lambda wildcards, output: os.path.dirname(output.table),
    script:
        "../workflow_scripts/claims.py"
