"""The one checked way in: every reader opens stores through bowsflow.store.checked, and what it opens
names a damaged chunk (the fault suite, tests/test_faults.py, damages real stores)."""

import ast
from pathlib import Path

import numpy as np
import pytest
import zarr

from bowsflow.store.checked import open_dataset, open_group
from bowsflow.store.integrity import StoreIntegrityError
from bowsflow.store.zarr_io import write_dataset

ROOT = Path(__file__).resolve().parents[2]
# the checker itself, and the writers' reading of their own temporary partial store
ALLOWED = {
    "src/bowsflow/store/checked.py",
    "src/bowsflow/store/integrity.py",
    "src/bowsflow/store/index_form.py",
    "src/bowsflow/activations/extraction.py",
}


def _read_openings(path: Path) -> list[str]:
    """Calls in a file that open a store for reading without the checked opener: xarray's open_zarr or
    open_dataset(engine=zarr), zarr's open_group/open/open_array without a writing mode."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        mode = next(
            (k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)), "r"
        )
        if owner in ("xr", "xarray") and node.func.attr in ("open_zarr", "open_dataset", "open_datatree"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {owner}.{node.func.attr}")
        if owner == "zarr" and node.func.attr in ("open_group", "open", "open_array") and mode == "r":
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} zarr.{node.func.attr}(mode='r')")
    return found


def test_every_script_and_library_reader_opens_stores_through_the_checked_opener():
    files = sorted((ROOT / "workflow_scripts").glob("*.py")) + sorted((ROOT / "src" / "bowsflow").rglob("*.py"))
    assert len(files) > 50
    offenders = [f for path in files if str(path.relative_to(ROOT)) not in ALLOWED for f in _read_openings(path)]
    assert not offenders, "open stores with bowsflow.store.checked.open_group / open_dataset:\n" + "\n".join(offenders)


def test_the_scan_finds_what_it_must(tmp_path):
    """The test above can fail: a file that opens a store directly is reported."""
    bad = ROOT / "workflow_scripts" / "_probe_direct_open.py"
    bad.write_text("import xarray as xr\nimport zarr\nxr.open_zarr('a')\nzarr.open_group('b', mode='r')\n")
    try:
        assert len(_read_openings(bad)) == 2
    finally:
        bad.unlink()


@pytest.fixture
def store(tmp_path):
    import xarray as xr

    ds = xr.Dataset({"x": (("sample", "k"), np.arange(40.0).reshape(10, 4))}).chunk({"sample": 3})
    write_dataset(ds, tmp_path / "s.zarr")
    return tmp_path / "s.zarr"


def test_a_missing_chunk_of_a_store_written_with_every_chunk_is_named_on_opening_and_on_reading(store):
    ds = open_dataset(store)  # opened while whole
    (store / "x" / "c" / "1" / "0").unlink()
    with pytest.raises(StoreIntegrityError, match=f"{store}: array 'x', chunk \\(1, 0\\) .*is missing"):
        ds["x"].values
    with pytest.raises(StoreIntegrityError, match="chunk \\(1, 0\\) is missing"):
        open_group(store)


def test_a_store_written_without_every_chunk_reads_a_missing_chunk_as_fill_values(tmp_path):
    """zarr's own convention for stores bowsflow did not write: an absent chunk is an empty one."""
    group = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    group.create_array("x", shape=(6,), chunks=(3,), dtype="f8", fill_value=-1.0)[:3] = 1.0
    np.testing.assert_array_equal(open_group(tmp_path / "plain.zarr")["x"][:], [1, 1, 1, -1, -1, -1])


def test_only_the_damaged_chunk_of_a_batch_is_named(store):
    f = store / "x" / "c" / "2" / "0"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 1
    f.write_bytes(bytes(data))
    group = open_group(store)
    np.testing.assert_array_equal(group["x"][:6], np.arange(24.0).reshape(6, 4))  # chunks 0 and 1 read
    with pytest.raises(StoreIntegrityError, match="array 'x', chunk \\(2, 0\\) .*does not decode"):
        group["x"][:]  # a read of every chunk at once names the one that failed
