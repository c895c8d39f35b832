"""Writing xarray Datasets as Zarr (v3) stores: atomically, with consolidated metadata.

Consolidated metadata is a zarr-python extension of format 3 (it warns about that when written); we
write it anyway so that ``xarray.open_zarr(path)`` opens our stores quickly and without a warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from bowsflow.store.atomic import atomic_path


def consolidate(path: str | Path) -> None:
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        zarr.consolidate_metadata(str(path))


def write_dataset(ds, path: str | Path, threads: int = 1, encoding: dict | None = None) -> None:
    """Write ``ds`` to ``path`` (a temporary sibling first, renamed when complete), computing dask
    arrays with ``threads`` threads; every array checksummed and every chunk written
    (:mod:`bowsflow.store.integrity`)."""
    from bowsflow.runtime.dask_cluster import compute_context
    from bowsflow.store.integrity import INTEGRITY, checksummed_encoding, writing_every_chunk

    ds = ds.assign_attrs(integrity=INTEGRITY)
    with atomic_path(path) as tmp, compute_context(threads), writing_every_chunk():
        ds.to_zarr(str(tmp), zarr_format=3, consolidated=False, encoding=checksummed_encoding(ds, encoding))
        consolidate(tmp)
