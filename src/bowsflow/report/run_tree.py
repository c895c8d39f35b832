"""The whole run as one lazy :class:`xarray.DataTree`: every store of ``results/`` under one root.

::

    tokens/{corpus}                  the tokenized corpus      (token), (document), (word)
    bows/{corpus}                    the BOWS store            (sample, word)
    correlations/{corpus}            word correlations         (word, word2)
    models/{model}                   the checkpoint's parameters, named dimensions latent, word, hidden
    activations/{model}              the activation store      (sample, latent | hidden | word)
    analysis/{model}/{lens}          each lens store: polytope (codes), interaction, bilinear, llc
    tables/{name}                    summary, comparison, geometry_summary (one row per model)

Stores open with :func:`xarray.open_zarr` (dask-backed: only metadata is read); checkpoint tensors are
dask arrays read through safetensors when computed (never unpickled). Every node keeps its store's
attributes (provenance). A half-written store (``*.partial``, ``*.tmp-<pid>``) or one that does not open
is skipped with a warning that names it, and so is one with a chunk file missing (listing only: a
store's chunks are checked when they are read); a store written by another bowsflow version is opened
with a warning.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from bowsflow import __version__
from bowsflow.store.checked import open_dataset

LENSES = ("polytope", "interaction", "bilinear", "llc")
TABLES = {
    "summary": "summary.tsv",
    "comparison": "models/comparison.tsv",
    "geometry_summary": "analysis/geometry_summary.tsv",
}
# the dimension each symbolic size of a parameter shape stands for
SIZE_DIMS = {"m": "latent", "V": "word", "d": "hidden"}


class RunError(ValueError):
    """The folder is not a bowsflow results tree."""


def _half_written(path: Path) -> bool:
    return path.name.endswith(".partial") or ".tmp-" in path.name


def _open_store(path: Path, problems: list[str]):
    """A lazy Dataset of the store at ``path``, or None (with the reason in ``problems``)."""
    from bowsflow.store.integrity import StoreIntegrityError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # zarr's notes on v3 extensions
            ds = open_dataset(path)
    except StoreIntegrityError as err:
        problems.append(f"damaged, skipped: {err}")
        return None
    except Exception as err:  # noqa: BLE001  (any store that does not open is skipped, and named)
        problems.append(f"{path}: does not open as a Zarr store ({type(err).__name__}: {err})")
        return None
    version = ds.attrs.get("bowsflow_version")
    if version is not None and version != __version__:
        warnings.warn(
            f"{path} was written by bowsflow {version}, this is {__version__}: its layout may differ", stacklevel=3
        )
    return ds


def model_parameters(checkpoint: Path, words=None):
    """The checkpoint's parameters as a lazy Dataset: one variable per parameter, dimensions named from
    the architecture's parameter shapes (``latent``, ``word``, ``hidden``), the metadata as attrs and,
    given the vocabulary, the ``word`` coordinate. Tensors are read through safetensors on compute."""
    import dask
    import dask.array as da
    import xarray as xr
    from safetensors import safe_open

    from bowsflow.store.provenance import tensors_sha256

    with safe_open(str(checkpoint), framework="numpy") as f:
        meta = json.loads((f.metadata() or {}).get("bowsflow", "{}"))
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        # checked as every loader checks it (the tensors are small beside the stores)
        recorded = meta.get("tensors_sha256")
        if recorded is not None and tensors_sha256({k: f.get_tensor(k) for k in f.keys()}) != recorded:
            raise RunError(f"{checkpoint}: its tensors do not match the SHA-256 it records (a damaged or altered file)")

    def read(name):
        with safe_open(str(checkpoint), framework="numpy") as f:
            return f.get_tensor(name)

    # recorded in the checkpoint; an older one: the registry's declarations (read without torch)
    if "parameter_shapes" in meta:
        dims_of = meta["parameter_shapes"]
    else:
        from bowsflow.models.registry import declarations

        dims_of = declarations(meta["arch"])["parameter_shapes"]
    data = {
        name: (tuple(SIZE_DIMS[s] for s in dims_of[name]), da.from_delayed(dask.delayed(read)(name), shape, np.float32))
        for name, shape in shapes.items()
    }
    coords = {"word": ("word", np.asarray(words, dtype=object))} if words is not None else {}
    attrs = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in meta.items()}
    return xr.Dataset(data, coords=coords, attrs=attrs | {"checkpoint_path": str(checkpoint)})


def _table(path: Path):
    import pandas as pd
    import xarray as xr

    frame = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
    return xr.Dataset.from_dataframe(frame.rename_axis("row"))


def open_run(results: str | Path = "results"):
    """The run under ``results`` as a lazy :class:`xarray.DataTree` (see the module doc)."""
    import xarray as xr

    root = Path(results)
    if not root.is_dir():
        raise RunError(f"{root}: no such folder (run the workflow first: snakemake --cores 2)")
    if not any((root / part).is_dir() for part in ("bows", "models", "activations", "analysis")):
        raise RunError(f"{root}: not a bowsflow results tree (no bows/, models/, activations/ or analysis/ in it)")
    problems: list[str] = []
    nodes: dict[str, xr.Dataset] = {}

    def add(key: str, path: Path) -> None:
        if _half_written(path):
            problems.append(f"{path}: half-written (an interrupted job); skipped until the workflow finishes it")
            return
        ds = _open_store(path, problems)
        if ds is not None:
            nodes[key] = ds

    for store in sorted(root.glob("bows/*/tokens.zarr")):
        add(f"tokens/{store.parent.name}", store)
    for store in sorted(root.glob("bows/*/bows.zarr")):
        add(f"bows/{store.parent.name}", store)
    for store in sorted(root.glob("bows/*/correlations.zarr")):
        add(f"correlations/{store.parent.name}", store)
    for store in sorted(root.glob("activations/*.zarr*")):
        add(f"activations/{store.name.split('.zarr')[0]}", store)
    for store in sorted(root.glob("analysis/*/*.zarr*")):
        lens = store.name.split(".zarr")[0]
        add(f"analysis/{store.parent.name}/{lens}", store)
    for checkpoint in sorted(root.glob("models/*/model.safetensors")):
        model = checkpoint.parent.name
        try:
            from bowsflow.data.vocabulary import read_vocabulary

            corpus = json.loads((checkpoint.parent / "config.json").read_text())["corpus"]
            vocab = root / "bows" / corpus / "vocab.tsv"
            words = read_vocabulary(vocab).words if vocab.is_file() else None
            nodes[f"models/{model}"] = model_parameters(checkpoint, words).assign_attrs(corpus=corpus)
        except Exception as err:  # noqa: BLE001
            problems.append(f"{checkpoint}: not read ({type(err).__name__}: {err})")
    for name, rel in TABLES.items():
        if (root / rel).is_file():
            nodes[f"tables/{name}"] = _table(root / rel)
    for line in problems:
        warnings.warn(f"open_run: {line}", stacklevel=2)
    tree = xr.DataTree.from_dict(nodes, name="run")
    tree.attrs.update({"results": str(root.resolve()), "skipped": json.dumps(problems)})
    return tree


def open_analysis(model: str, lens: str, results: str | Path = "results"):
    """The ``lens`` store of ``model`` (polytope, interaction or bilinear) as a lazy Dataset."""
    if lens not in LENSES:
        raise ValueError(f"lens: expected one of {LENSES}, got {lens!r}")
    path = Path(results) / "analysis" / model / f"{lens}.zarr"
    if not path.exists():
        raise FileNotFoundError(f"no {lens} store for model {model!r} at {path} (run: snakemake --cores 2 {path})")
    problems: list[str] = []
    ds = _open_store(path, problems)
    if ds is None:
        raise RunError(problems[0])
    return ds
