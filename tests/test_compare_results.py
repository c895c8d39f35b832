"""scripts/compare_results.py: two results trees that differ only in timings and write times agree;
a changed array entry, JSON number or TSV cell is found and named."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import xarray as xr

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_results.py"
spec = importlib.util.spec_from_file_location("compare_results", SCRIPT)
compare_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_results)


def tree(root: Path, value=1.0, loss=0.25, cell="0.5", seconds=1.0, created="2026-01-01"):
    (root / "analysis" / "m").mkdir(parents=True)
    (root / "logs").mkdir()
    (root / "logs" / "x.log").write_text(str(seconds))  # logs are not compared
    attrs = {"created_utc": created, "config_hash": "h", "input_checksums": json.dumps({"a": created})}
    xr.Dataset({"x": (("sample",), np.array([0.0, value]))}, attrs=attrs).to_zarr(
        root / "analysis" / "m" / "s.zarr", zarr_format=3
    )
    (root / "analysis" / "m" / "s.json").write_text(json.dumps({"loss": loss, "seconds": seconds, "n": 2}))
    (root / "t.tsv").write_text(f"model\tval_loss\tsamples_per_s\nm\t{cell}\t{seconds}\n")
    return root


def test_timings_and_write_times_are_not_differences(tmp_path):
    a = tree(tmp_path / "a")
    b = tree(tmp_path / "b", seconds=9.0, created="2027-06-30")
    c = compare_results.compare(a, b, 1e-9, 1e-12)
    assert c.differences == [] and c.compared["files"] == 3 and c.compared["arrays"] == 1


def test_a_changed_value_is_found_and_named(tmp_path):
    a = tree(tmp_path / "a")
    b = tree(tmp_path / "b", value=1.0 + 1e-6, loss=0.26, cell="0.6")
    found = compare_results.compare(a, b, 1e-9, 1e-12).differences
    assert any(d.startswith("analysis/m/s.zarr/x: max |difference| 1e-06") for d in found), found
    assert any(d.startswith("analysis/m/s.json.loss: 0.25 != 0.26") for d in found), found
    assert any(d.startswith("t.tsv[0].val_loss: 0.5 != 0.6") for d in found), found
    assert len(found) == 3
    # within the tolerance, and a key deliberately left out
    assert compare_results.compare(a, b, 1e-2, 0, ignored_keys={"loss", "val_loss"}).differences == []
