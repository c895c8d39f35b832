"""Checkpoints as safetensors (never pickle), byte-identical for identical weights.

safetensors writes a metadata dict of several keys in hash-map order, so the metadata is one key,
``bowsflow``, holding a sorted JSON string. It records the SHA-256 of the tensors
(:func:`bowsflow.store.provenance.tensors_sha256`), which every load checks: a flipped bit in a weight is
an error naming the file, never a model used. Loading also checks parameter names and shapes against the
architecture's contract (each architecture's ``parameter_shapes``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from bowsflow.models import BowsAutoencoder, build_model, expected_shapes
from bowsflow.store.atomic import atomic_path
from bowsflow.store.provenance import tensors_sha256


class CheckpointError(ValueError):
    """A checkpoint is missing or does not match its architecture."""


def save_checkpoint(model: BowsAutoencoder, path: str | Path, meta: dict) -> None:
    """Write the model's parameters (float32, contiguous) and ``meta`` atomically."""
    tensors = {name: p.detach().to("cpu", torch.float32).contiguous() for name, p in model.named_parameters()}
    meta = dict(meta) | {
        "tensors_sha256": tensors_sha256({k: t.numpy() for k, t in tensors.items()}),
        # each parameter's dimensions (m, V, d), so that readers need no architecture class (open_run)
        "parameter_shapes": {k: list(v) for k, v in type(model).parameter_shapes.items()},
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"bowsflow": json.dumps(meta, sort_keys=True)})


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, meta) of a checkpoint, its tensors checked against the SHA-256 it records."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("bowsflow", "{}"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # noqa: BLE001  (safetensors' errors name no file)
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({type(err).__name__}: {err})") from err
    verify_tensors(path, {k: t.numpy() for k, t in tensors.items()}, meta)
    return tensors, meta


def verify_tensors(path, arrays: dict, meta: dict) -> None:
    """Raise :class:`CheckpointError` naming ``path`` when its tensors' SHA-256 differs from the one its
    metadata records (a checkpoint from before the record: a warning)."""
    recorded = meta.get("tensors_sha256")
    if recorded is None:
        warnings.warn(
            f"{path}: the checkpoint records no checksum of its tensors (written before they did)", stacklevel=3
        )
        return
    if tensors_sha256(arrays) != recorded:
        raise CheckpointError(
            f"{path}: its tensors do not match the SHA-256 it records (a damaged or altered file); re-run the "
            "workflow to retrain it"
        )


def load_model(path: str | Path) -> tuple[BowsAutoencoder, dict]:
    """Rebuild the model of a checkpoint; the names and shapes must match its architecture."""
    tensors, meta = read_checkpoint(path)
    for key in ("arch", "vocab_size", "d_latent"):
        if key not in meta:
            raise CheckpointError(f"{path}: metadata has no {key!r}")
    arch, V, m, d = meta["arch"], int(meta["vocab_size"]), int(meta["d_latent"]), int(meta.get("d_hidden") or 0)
    want = expected_shapes(arch, V, m, d)
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if got != want:
        raise CheckpointError(f"{path}: parameters {got} do not match {arch} with V={V}, m={m}, d={d}: expected {want}")
    model = build_model(arch, V, m, d, meta.get("output", "relu"))
    model.load_state_dict(tensors)
    return model, meta
