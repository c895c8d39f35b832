# Gram and Jacobian eigendecompositions, degeneracy counts and the interaction basis.


rule interaction:
    input:
        activations="results/activations/{model}.zarr",
        checkpoint="results/models/{model}/model.safetensors",
        codes="results/analysis/{model}/polytope.zarr",
    output:
        store=directory("results/analysis/{model}/interaction.zarr"),
        summary="results/analysis/{model}/interaction.json",
        figure=report(
            "results/analysis/{model}/interaction.png",
            caption="../report/interaction.rst",
            category="Interaction basis",
            subcategory="{model}",
        ),
    log:
        "results/logs/interaction/{model}.log",
    benchmark:
        "results/benchmarks/interaction/{model}.tsv"
    wildcard_constraints:
        model=name_pattern([re.escape(m) for m in MODELS]),
    conda:
        "../envs/analysis.yaml"
    threads: config["analysis"]["threads"]
    resources:
        mem_mb=interaction_mem_mb,
        runtime=60,
    params:
        options=config["analysis"]["interaction"],
    message:
        "Interaction basis of model {wildcards.model}"
    script:
        "../workflow_scripts/interaction.py"
