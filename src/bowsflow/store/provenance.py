"""Provenance attributes for every store and file we write — the one place that says what a store is.

Conventions, the same for every store (BOWS, correlations, activations, every lens store):

- ``config_hash`` / ``config``: the part of the config that determines the content;
- ``input_checksums``: a JSON object, input name → checksum (a file: the sha256 of its bytes; a store
  of ours: its :func:`store_checksum`);
- a store's identity is :func:`store_checksum`: the hash of its attributes without the time it was
  written — cheap whatever its size, and it changes whenever its content can.

Zarr attributes must be JSON; xarray accepts only flat values, so nested specs are stored as sorted
JSON strings (``json.loads`` them back). ``config_hash`` is the sha256 of the sorted JSON of the part
of the config that determines the output.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from bowsflow import __version__


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(obj) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def provenance_attrs(config_part: dict, **extra) -> dict:
    """Flat attrs: config hash, the config part as JSON, package and Python versions, and ``extra``
    (dict values become JSON strings)."""
    attrs = {
        "bowsflow_version": __version__,
        "python_version": platform.python_version(),
        "config_hash": config_hash(config_part),
        "config": canonical_json(config_part),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    for key, value in extra.items():
        attrs[key] = canonical_json(value) if isinstance(value, (dict, list, tuple)) else value
    return attrs


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# not part of a store's identity: when it was written, and xarray's list of the coordinates that no
# array names (xarray reads it into coordinates and leaves it out of Dataset.attrs, so a checksum of
# zarr's attributes and one of xarray's would differ over it)
_NOT_IDENTITY = {"created_utc", "coordinates"}


def tensors_sha256(arrays: Mapping) -> str:
    """SHA-256 of a checkpoint's tensors (name → numpy array): names in sorted order, each with its dtype,
    shape and bytes; what a checkpoint records of itself so that a flipped bit is caught on loading."""
    import numpy as np

    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def attrs_checksum(attrs: Mapping) -> str:
    """Identity of a store we wrote, from its attributes (which carry its own provenance: config hash,
    input checksums, counts), leaving out when it was written: cheap whatever the store's size. The
    same from zarr's group attributes as from xarray's ``Dataset.attrs``."""
    return config_hash({k: v for k, v in attrs.items() if k not in _NOT_IDENTITY})


def store_checksum(path: str | Path) -> str:
    """The identity of the Zarr store at ``path`` (:func:`attrs_checksum` of its root attributes), opened
    checked (:mod:`bowsflow.store.checked`)."""
    from bowsflow.store.checked import open_group

    return attrs_checksum(dict(open_group(path).attrs))


def input_checksums(**paths) -> dict[str, str]:
    """name → checksum of each input: a Zarr store (a directory) by :func:`attrs_checksum` of its
    root attributes, a file by the sha256 of its bytes."""
    return {name: store_checksum(path) if Path(path).is_dir() else sha256_file(path) for name, path in paths.items()}
