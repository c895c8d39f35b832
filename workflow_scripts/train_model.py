"""Snakemake script: train one model and write its checkpoint, config, metrics and loss curve."""

import logging
from pathlib import Path

from bowsflow import __version__
from bowsflow.data.corpus import checksum_files
from bowsflow.models.checkpoints import save_checkpoint
from bowsflow.models.training import TrainConfig, config_dict, train
from bowsflow.report.plots import loss_curves
from bowsflow.report.tables import write_json, write_metrics_tsv
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path
from bowsflow.store.provenance import config_hash

log_to_file(snakemake.log[0])
spec = snakemake.params.spec
cfg = TrainConfig.from_config(spec | {"threads": snakemake.threads})
store = Path(snakemake.input.store)
vocab_tsv = store.parent / "vocab.tsv"
resolved = {
    "model": snakemake.params.name,
    "corpus": spec["corpus"],
    **config_dict(cfg),
    "bows_config_hash": config_hash(snakemake.params.bows_part),
    "vocab_checksum": checksum_files([vocab_tsv]),
    "bowsflow_version": __version__,
}
out_dir = Path(snakemake.output.model).parent
result = train(store, cfg, workdir=out_dir, meta={"model": snakemake.params.name}, progress=True)
resolved |= {"n_parameters": result.n_parameters, "device_used": result.device}
metrics = result.evaluation.summary() | {
    "n_parameters": result.n_parameters,
    "seconds": result.seconds,
    "steps": result.history[-1]["step"] if result.history else 0,
    "device": result.device,
}
save_checkpoint(result.model, snakemake.output.model, result.meta | {"config_hash": config_hash(resolved)})
for key, writer, obj in [
    ("config", write_json, resolved),
    ("metrics_json", write_json, metrics),
    ("metrics_tsv", write_metrics_tsv, result.history),
]:
    with atomic_path(snakemake.output[key]) as tmp:
        writer(obj, tmp)
with atomic_path(snakemake.output.loss_png) as tmp:
    loss_curves(result.history, tmp, title=snakemake.params.name)
logging.getLogger("train").info("model %s: %s", snakemake.params.name, metrics)
