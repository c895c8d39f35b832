# Trained model + its BOWS store -> activation store (one variable per layer, aligned with the samples).
# Reads: results/models/{model}/model.safetensors, results/bows/{corpus}/bows.zarr;
# writes: results/activations/{model}.zarr.


rule extract:
    """Run a trained model over every sample of its BOWS store into an activation store: one variable per layer, aligned with the samples."""
    input:
        checkpoint="results/models/{model}/model.safetensors",
        store=get_model_store,
    output:
        store=directory("results/activations/{model}.zarr"),
    log:
        "results/logs/extract/{model}.log",
    benchmark:
        "results/benchmarks/extract/{model}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=model_mem_mb,
        runtime=120,
        gpu=extract_gpus,
        writer_threads=config["extract"]["writer_threads"],
    params:
        options=EXTRACT_CONTENT_OPTIONS,
    script:
        "../workflow_scripts/extract_activations.py"
