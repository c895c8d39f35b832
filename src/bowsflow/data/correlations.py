"""The word correlations of a corpus: the Pearson correlation of the word indicators over the samples
of a BOWS store, a dask reduction (XᵀX, column sums) accumulated in float64, and the store
``results/bows/{corpus}/correlations.zarr`` that the geometry and bilinear lenses read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bowsflow.store.checked import open_dataset

# rows of the correlation matrix per Zarr chunk: about this many bytes, so that one word's row is
# read without the rest of the V × V matrix
ROW_CHUNK_BYTES = 4 * 2**20


def word_correlations(bows, threads: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
    """(Pearson correlation [V, V], frequency [V], n) of the word indicators of a BOWS store's
    ``bows`` DataArray (sample, word), reduced chunk by chunk with dask in float64."""
    import dask

    from bowsflow.runtime.dask_cluster import compute_context

    x = bows.data.astype(np.float32)
    n = int(x.shape[0])
    gram = x.T @ x  # a dask reduction over the sample chunks
    sums = x.sum(axis=0, dtype=np.float64)
    with compute_context(threads):
        gram, sums = dask.compute(gram, sums)
    return correlation_from_moments(np.asarray(gram, dtype=np.float64), np.asarray(sums), n), np.asarray(sums) / n, n


def correlation_from_moments(gram: np.ndarray, sums: np.ndarray, n: int) -> np.ndarray:
    """Pearson correlation of binary columns from XᵀX and the column sums (0 for constant columns)."""
    mean = sums / n
    cov = gram / n - np.outer(mean, mean)
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd, sd)
    corr[~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, np.where(sd > 0, 1.0, 0.0))
    return corr


def correlations_dataset(bows, threads: int = 1):
    """The correlations store's Dataset for an opened BOWS store: ``correlation`` (word, word2;
    float32), ``frequency`` (word), provenance attrs."""
    import xarray as xr

    from bowsflow.store.provenance import attrs_checksum, provenance_attrs

    corr, freq, n = word_correlations(bows["bows"], threads=threads)
    words = np.asarray([str(w) for w in bows.word.values], dtype=object)
    return xr.Dataset(
        {"correlation": (("word", "word2"), corr.astype(np.float32)), "frequency": ("word", freq)},
        coords={"word": words, "word2": words},
        attrs=provenance_attrs(
            {"bows_config_hash": bows.attrs.get("config_hash")},
            n_samples=n,
            input_checksums={"bows": attrs_checksum(bows.attrs)},
        ),
    )


def write_correlations(bows_path: str | Path, out: str | Path, threads: int = 1) -> None:
    """Write the correlations store of the BOWS store at ``bows_path``, rows chunked by
    :data:`ROW_CHUNK_BYTES`."""

    from bowsflow.store.zarr_io import write_dataset

    ds = correlations_dataset(open_dataset(bows_path), threads)
    V = ds.sizes["word"]
    rows = max(1, min(V, ROW_CHUNK_BYTES // (4 * max(V, 1))))
    write_dataset(ds, out, threads, encoding={"correlation": {"chunks": (rows, V)}})
