# Gram and Jacobian eigendecompositions, degeneracy counts and the interaction basis.
# Reads: results/activations/{model}.zarr, the checkpoint, the polytope codes;
# writes: results/analysis/{model}/{interaction.zarr, interaction.json, interaction.png}.


rule interaction:
    """The interaction lens on one model: Gram and Jacobian spectra, degeneracies, the interaction basis, co-firing and edges between layers."""
    input:
        activations="results/activations/{model}.zarr",
        checkpoint="results/models/{model}/model.safetensors",
        codes="results/analysis/{model}/polytope.zarr",
        bows=get_model_store,
    output:
        store=directory("results/analysis/{model}/interaction.zarr"),
        summary="results/analysis/{model}/interaction.json",
        figure=report(
            "results/analysis/{model}/interaction.png",
            caption="../report/interaction.rst",
            category="Interaction basis",
            subcategory="{model}",
        ),
        graph=report(
            "results/analysis/{model}/interaction_graph.png",
            caption="../report/interaction_graph.rst",
            category="Interaction basis",
            subcategory="{model}",
        ),
    log:
        "results/logs/interaction/{model}.log",
    benchmark:
        "results/benchmarks/interaction/{model}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: config["analysis"]["threads"]
    resources:
        mem_mb=interaction_mem_mb,
        runtime=60,
    params:
        options=config["analysis"]["interaction"],
    script:
        "../workflow_scripts/interaction.py"
