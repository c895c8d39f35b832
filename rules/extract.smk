# Trained model + its BOWS store -> activation store (one variable per layer, aligned with the samples).


rule extract:
    input:
        checkpoint="results/models/{model}/model.safetensors",
        store=model_store,
    output:
        store=directory("results/activations/{model}.zarr"),
    log:
        "results/logs/extract/{model}.log",
    benchmark:
        "results/benchmarks/extract/{model}.tsv"
    wildcard_constraints:
        model=name_pattern([re.escape(m) for m in MODELS]),
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=model_mem_mb,
        runtime=120,
        gpu=extract_gpus,
    params:
        options=config["extract"],
    message:
        "Extracting activations of model {wildcards.model}"
    script:
        "../workflow_scripts/extract_activations.py"
