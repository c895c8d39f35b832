# BOWS feature geometry: corpus correlations (once per corpus) and each model's geometry; one table.
# Reads: the BOWS store, the checkpoint; writes: results/bows/{corpus}/correlations.zarr,
# results/analysis/{model}/{geometry.json, geometry_*.png}, results/analysis/geometry_summary.tsv.


rule word_correlations:
    """Pearson correlations and frequencies of a corpus' word indicators, a dask reduction over its BOWS store."""
    input:
        store="results/bows/{corpus}/bows.zarr",
    output:
        store=directory("results/bows/{corpus}/correlations.zarr"),
    log:
        "results/logs/word_correlations/{corpus}.log",
    benchmark:
        "results/benchmarks/word_correlations/{corpus}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: config["analysis"]["threads"]
    resources:
        mem_mb=correlations_mem_mb,
        runtime=60,
    script:
        "../workflow_scripts/word_correlations.py"


rule geometry:
    """The feature-geometry lens on one model: correlation against geometry, interference, per-word R², cycles and the semantic map."""
    input:
        checkpoint="results/models/{model}/model.safetensors",
        bows=get_model_store,
        correlations=get_model_correlations,
    output:
        summary="results/analysis/{model}/geometry.json",
        similarity=report(
            "results/analysis/{model}/geometry_similarity.png",
            caption="../report/geometry_similarity.rst",
            category="Feature geometry",
            subcategory="{model}",
        ),
        cycles=report(
            "results/analysis/{model}/geometry_cycles.png",
            caption="../report/geometry_cycles.rst",
            category="Feature geometry",
            subcategory="{model}",
        ),
        map=report(
            "results/analysis/{model}/geometry_map.png",
            caption="../report/geometry_map.rst",
            category="Feature geometry",
            subcategory="{model}",
        ),
        r2=report(
            "results/analysis/{model}/geometry_r2.png",
            caption="../report/geometry_r2.rst",
            category="Feature geometry",
            subcategory="{model}",
        ),
        interference=report(
            "results/analysis/{model}/geometry_interference.png",
            caption="../report/geometry_interference.rst",
            category="Feature geometry",
            subcategory="{model}",
        ),
    log:
        "results/logs/geometry/{model}.log",
    benchmark:
        "results/benchmarks/geometry/{model}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=correlations_mem_mb,
        runtime=60,
    params:
        options=config["analysis"]["geometry"],
        synthetic=lambda wc: config["corpora"][MODELS[wc.model]["corpus"]]["source"]
        == "synthetic",
    script:
        "../workflow_scripts/geometry.py"


rule geometry_summary:
    """One table of every model's geometry numbers."""
    input:
        summaries=expand("results/analysis/{model}/geometry.json", model=LENS_MODELS),
        configs=expand("results/models/{model}/config.json", model=LENS_MODELS),
    output:
        table=report(
            "results/analysis/geometry_summary.tsv",
            caption="../report/geometry_summary.rst",
            category="Feature geometry",
        ),
    log:
        "results/logs/geometry_summary.log",
    benchmark:
        "results/benchmarks/geometry_summary.tsv"
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        names=LENS_MODELS,
    script:
        "../workflow_scripts/geometry_summary.py"
