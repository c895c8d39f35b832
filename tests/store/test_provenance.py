"""A store's identity (its attributes' checksum) does not depend on the library that read them."""

import xarray as xr
import zarr

from bowsflow.store.provenance import attrs_checksum, store_checksum
from helpers import synthetic_store


def test_a_store_checksum_is_the_same_from_zarr_and_from_xarray(tmp_path):
    # a synthetic store lists feature_position (a coordinate no array names) in its attributes;
    # xarray reads it into coordinates, so the identity must not depend on which library read them
    path = synthetic_store(tmp_path / "bows.zarr", n_samples=50, chunk=16)
    group_attrs = dict(zarr.open_group(str(path)).attrs)
    assert "coordinates" in group_attrs and "coordinates" not in xr.open_zarr(path).attrs
    assert attrs_checksum(xr.open_zarr(path).attrs) == attrs_checksum(group_attrs) == store_checksum(path)
