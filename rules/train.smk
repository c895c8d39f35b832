# BOWS store -> trained model (safetensors), metrics and loss curve; all models -> comparison table.
# Reads: results/bows/{corpus}/bows.zarr; writes: results/models/{model}/*, results/models/comparison.tsv.


rule train:
    """Train one model on its corpus' BOWS store; write the safetensors checkpoint, the resolved config, the metrics and the loss curve."""
    input:
        store=get_model_store,
    output:
        model="results/models/{model}/model.safetensors",
        config="results/models/{model}/config.json",
        metrics_tsv="results/models/{model}/metrics.tsv",
        metrics_json="results/models/{model}/metrics.json",
        loss_png=report(
            "results/models/{model}/loss.png",
            caption="../report/loss.rst",
            category="Training",
            subcategory="{model}",
        ),
    log:
        "results/logs/train/{model}.log",
    benchmark:
        "results/benchmarks/train/{model}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: model_threads
    resources:
        mem_mb=model_mem_mb,
        runtime=120,
        gpu=model_gpus,
    params:
        name="{model}",
        spec=lambda wc: bowsflow_config.training_spec(MODELS[wc.model]),
        bows_part=lambda wc: bowsflow_config.store_part(
            config, MODELS[wc.model]["corpus"]
        ),
    script:
        "../workflow_scripts/train_model.py"


rule compare_architectures:
    """Tabulate every model's validation loss and recall against its parameter count, grouping architectures at equal budgets."""
    input:
        configs=expand("results/models/{model}/config.json", model=sorted(MODELS)),
        metrics=expand("results/models/{model}/metrics.json", model=sorted(MODELS)),
    output:
        table=report(
            "results/models/comparison.tsv",
            caption="../report/comparison.rst",
            category="Training",
        ),
    log:
        "results/logs/compare_architectures.log",
    benchmark:
        "results/benchmarks/compare_architectures.tsv"
    localrule: True
    conda:
        "../envs/torch.yaml"
    params:
        names=sorted(MODELS),
    script:
        "../workflow_scripts/compare_architectures.py"
