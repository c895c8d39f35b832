"""Snakemake script: Pearson correlations and frequencies of a corpus' word indicators."""

import numpy as np
import xarray as xr

from bowsflow.lenses.geometry.measures import word_correlations
from bowsflow.runtime.dask_cluster import dask_scheduler
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.provenance import attrs_checksum, provenance_attrs
from bowsflow.store.zarr_io import write_dataset

log_to_file(snakemake.log[0])
with dask_scheduler(snakemake.config.get("dask"), snakemake.threads):
    bows = xr.open_zarr(snakemake.input.store)
    corr, freq, n = word_correlations(bows["bows"], threads=snakemake.threads)
    words = np.asarray([str(w) for w in bows.word.values], dtype=object)
    ds = xr.Dataset(
        {"correlation": (("word", "word2"), corr.astype(np.float32)), "frequency": ("word", freq)},
        coords={"word": words, "word2": words},
        attrs=provenance_attrs(
            {"bows_config_hash": bows.attrs.get("config_hash")},
            n_samples=n,
            input_checksums={"bows": attrs_checksum(bows.attrs)},
        ),
    )
    write_dataset(ds, snakemake.output.store)
