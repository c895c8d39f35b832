# Bilinear models: per-output interaction matrices, their eigendecompositions, truncation and paths.


rule bilinear:
    input:
        checkpoint="results/models/{model}/model.safetensors",
        activations="results/activations/{model}.zarr",
        bows=model_store,
        correlations=model_correlations,
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
    message:
        "Bilinear tensor of model {wildcards.model}"
    script:
        "../workflow_scripts/bilinear.py"
