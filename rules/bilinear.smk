# Bilinear models: per-output interaction matrices, their eigendecompositions, truncation and paths.
# Reads: the checkpoint, activations, BOWS store and correlations;
# writes: results/analysis/{model}/{bilinear.zarr, bilinear.json, bilinear.png}.


rule bilinear:
    """The bilinear lens on one bilinear model: per-output interaction matrices, their eigendecompositions, truncation and path shares."""
    input:
        checkpoint="results/models/{model}/model.safetensors",
        activations="results/activations/{model}.zarr",
        bows=get_model_store,
        correlations=get_model_correlations,
    output:
        store=directory("results/analysis/{model}/bilinear.zarr"),
        summary="results/analysis/{model}/bilinear.json",
        figure=report(
            "results/analysis/{model}/bilinear.png",
            caption="../report/bilinear.rst",
            category="Bilinear layers",
            subcategory="{model}",
        ),
    log:
        "results/logs/bilinear/{model}.log",
    benchmark:
        "results/benchmarks/bilinear/{model}.tsv"
    wildcard_constraints:
        model=name_pattern(
            [re.escape(m) for m in MODELS if MODELS[m]["arch"] == "bilinear"]
        ),
    conda:
        "../envs/analysis.yaml"
    threads: config["analysis"]["threads"]
    resources:
        mem_mb=lambda wc: 1500 + 3 * config["analysis"]["bilinear"]["max_array_mb"],
        runtime=60,
    params:
        options=config["analysis"]["bilinear"],
    script:
        "../workflow_scripts/bilinear.py"
