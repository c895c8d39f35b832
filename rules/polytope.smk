# Activation store -> polytope codes (no parameters: the interaction analysis reads them too) ->
# the polytope-lens analyses.
# Reads: results/activations/{model}.zarr, the checkpoint, the BOWS store;
# writes: results/analysis/{model}/{polytope.zarr, polytope.json, polytope_*.png}.


rule polytope_codes:
    """Pack the on/off pattern (polytope code) of each ReLU layer of a model, chunk-aligned with its activation store."""
    input:
        activations="results/activations/{model}.zarr",
        checkpoint="results/models/{model}/model.safetensors",
    output:
        codes=directory("results/analysis/{model}/polytope.zarr"),
    log:
        "results/logs/polytope_codes/{model}.log",
    benchmark:
        "results/benchmarks/polytope_codes/{model}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: config["analysis"]["threads"]
    resources:
        mem_mb=model_mem_mb,
        runtime=30,
    script:
        "../workflow_scripts/polytope_codes.py"


rule polytope:
    """The polytope lens on one model: distinct codes, Hamming neighbourhoods, codes against meaning, boundaries along paths, clusters, scale."""
    input:
        activations="results/activations/{model}.zarr",
        checkpoint="results/models/{model}/model.safetensors",
        bows=get_model_store,
        codes="results/analysis/{model}/polytope.zarr",
    output:
        summary="results/analysis/{model}/polytope.json",
        rank_frequency=report(
            "results/analysis/{model}/polytope_rank_frequency.png",
            caption="../report/polytope_rank_frequency.rst",
            category="Polytope lens",
            subcategory="{model}",
        ),
        boundaries=report(
            "results/analysis/{model}/polytope_boundaries.png",
            caption="../report/polytope_boundaries.rst",
            category="Polytope lens",
            subcategory="{model}",
        ),
        scale=report(
            "results/analysis/{model}/polytope_scale.png",
            caption="../report/polytope_scale.rst",
            category="Polytope lens",
            subcategory="{model}",
        ),
    log:
        "results/logs/polytope/{model}.log",
    benchmark:
        "results/benchmarks/polytope/{model}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: config["analysis"]["threads"]
    resources:
        mem_mb=model_mem_mb,
        runtime=60,
    params:
        options=config["analysis"]["polytope"],
    script:
        "../workflow_scripts/polytope.py"
