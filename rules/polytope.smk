# Activation store -> polytope codes (no parameters: the interaction analysis reads them too) ->
# the polytope-lens analyses.


rule polytope_codes:
    input:
        activations="results/activations/{model}.zarr",
        checkpoint="results/models/{model}/model.safetensors",
    output:
        codes=directory("results/analysis/{model}/polytope.zarr"),
    log:
        "results/logs/polytope_codes/{model}.log",
    benchmark:
        "results/benchmarks/polytope_codes/{model}.tsv"
    wildcard_constraints:
        model=name_pattern([re.escape(m) for m in MODELS]),
    conda:
        "../envs/analysis.yaml"
    threads: config["analysis"]["threads"]
    resources:
        mem_mb=model_mem_mb,
        runtime=30,
    message:
        "Polytope codes of model {wildcards.model}"
    script:
        "../workflow_scripts/polytope_codes.py"


rule polytope:
    input:
        activations="results/activations/{model}.zarr",
        checkpoint="results/models/{model}/model.safetensors",
        bows=model_store,
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
    wildcard_constraints:
        model=name_pattern([re.escape(m) for m in MODELS]),
    conda:
        "../envs/analysis.yaml"
    threads: config["analysis"]["threads"]
    resources:
        mem_mb=model_mem_mb,
        runtime=60,
    params:
        options=config["analysis"]["polytope"],
    message:
        "Polytope lens on model {wildcards.model}"
    script:
        "../workflow_scripts/polytope.py"
