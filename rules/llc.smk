# The local learning coefficient of each analysed model, by SGLD around its trained parameters.
# Reads: the checkpoint, its resolved config and its corpus' BOWS store;
# writes: results/analysis/{model}/{llc.zarr, llc.json, llc.png}.


rule llc:
    """The LLC lens on one model: SGLD chains on its training split, each chain's estimate, their interval and the loss traces."""
    input:
        checkpoint="results/models/{model}/model.safetensors",
        model_config="results/models/{model}/config.json",
        bows=get_model_store,
    output:
        store=directory("results/analysis/{model}/llc.zarr"),
        summary="results/analysis/{model}/llc.json",
        figure=report(
            "results/analysis/{model}/llc.png",
            caption="../report/llc.rst",
            category="Local learning coefficient",
            subcategory="{model}",
        ),
    log:
        "results/logs/llc/{model}.log",
    benchmark:
        "results/benchmarks/llc/{model}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["analysis"]["threads"]
    resources:
        mem_mb=model_mem_mb,
        runtime=60,
        gpu=lambda wc: 1 if config["analysis"]["llc"]["device"] == "cuda" else 0,
    params:
        options=config["analysis"]["llc"],
    script:
        "../workflow_scripts/llc.py"
