"""The Snakefile on a tiny config in a temporary directory: dry run, real run, no-op rerun, caching."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import yaml

from helpers import tiny_config

pytestmark = pytest.mark.workflow


def snakemake(repo_root, workdir, config, *args, check=True):
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        f"{repo_root}/Snakefile",
        "-d",
        str(workdir),
        "--cores",
        "2",
        *args,
        "--configfile",
        str(cfg),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(out.stdout + out.stderr)
    return out


def planned_jobs(output: str) -> dict:
    """Rule -> count from Snakemake's 'Job stats' table."""
    table = output.split("Job stats:")[-1] if "Job stats:" in output else ""
    return {
        m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M) if m.group(1) != "total"
    }


def test_dry_run_real_run_and_noop_rerun(repo_root, tmp_path):
    config = tiny_config(tmp_path)
    dry = snakemake(repo_root, tmp_path, config, "-n")
    assert planned_jobs(dry.stdout + dry.stderr) == {
        "count_vocabulary": 1,
        "build_bows": 1,
        "synthetic_bows": 1,
        "train": 1,
        "compare_architectures": 1,
        "extract": 1,
        "polytope_codes": 1,
        "polytope": 1,
        "word_correlations": 1,
        "geometry": 1,
        "geometry_summary": 1,
        "interaction": 1,
        "summary": 1,
        "all": 1,
    }
    assert not (tmp_path / "results").exists()

    snakemake(repo_root, tmp_path, config)
    ds = xr.open_zarr(tmp_path / "results/bows/mine/bows.zarr")
    assert ds.bows.shape[1] == int(ds.attrs["vocab_size"]) <= 20
    assert [str(w) for w in ds.word.values[:2]] == ["January", "February"]
    assert (
        json.loads(ds.attrs["input_checksums"])["corpus"] and ds.attrs["config_hash"] and ds.attrs["bowsflow_version"]
    )
    assert (tmp_path / "results/bows/mine/vocab.tsv").read_text().startswith("id\tword\tcount\tdoc_freq\n0\tJanuary")
    assert (tmp_path / "results/logs/build_bows/mine.log").exists()
    assert (tmp_path / "results/benchmarks/build_bows/mine.tsv").exists()
    assert xr.open_zarr(tmp_path / "results/bows/ring/bows.zarr").bows.shape == (500, 12)
    model_dir = tmp_path / "results/models/ring-tied"
    assert {p.name for p in model_dir.iterdir()} >= {
        "model.safetensors",
        "config.json",
        "metrics.tsv",
        "metrics.json",
        "loss.png",
    }
    assert (model_dir / "metrics.tsv").read_text().splitlines()[0].split("\t") == [
        "step",
        "epoch",
        "train_loss",
        "val_loss",
        "lr",
        "samples_per_s",
    ]
    assert "ring-tied" in (tmp_path / "results/models/comparison.tsv").read_text()
    first_bytes = (model_dir / "model.safetensors").read_bytes()
    assert (tmp_path / "results/analysis/ring-tied/polytope.json").exists()
    assert "ring-tied" in (tmp_path / "results/analysis/geometry_summary.tsv").read_text()
    acts = xr.open_zarr(tmp_path / "results/activations/ring-tied.zarr")
    assert acts["latent"].shape == (500, 2) and acts["out_pre"].shape == (500, 12)
    stores = sorted((tmp_path / "results").rglob("*.zarr"))
    assert len(stores) >= 6  # two BOWS stores, correlations, activations, polytope codes, interaction
    for path in stores:  # every store says what made it: config hash, package version, its inputs' checksums
        attrs = xr.open_zarr(path).attrs
        assert attrs.get("config_hash") and attrs.get("bowsflow_version"), path
        assert "input_checksums" in attrs and isinstance(json.loads(attrs["input_checksums"]), dict), path

    again = snakemake(repo_root, tmp_path, config)
    assert "Nothing to be done" in again.stdout + again.stderr

    # retraining from scratch gives the same bytes (CPU determinism through the workflow)
    snakemake(repo_root, tmp_path, config, "--forcerun", "train")
    assert (model_dir / "model.safetensors").read_bytes() == first_bytes

    # one analysis parameter re-runs that analysis and the tables built from it, nothing upstream
    for section, key, value, expected in [
        ("polytope", "n_pairs", 123, {"polytope": 1, "summary": 1, "all": 1}),
        ("geometry", "top_k", 7, {"geometry": 1, "geometry_summary": 1, "summary": 1, "all": 1}),
        ("interaction", "edge_samples", 50, {"interaction": 1, "summary": 1, "all": 1}),
    ]:
        changed = tiny_config(tmp_path)
        changed["analysis"] = {section: {key: value}}
        dry = snakemake(repo_root, tmp_path, changed, "-n")
        assert planned_jobs(dry.stdout + dry.stderr) == expected, (section, dry.stdout[-2000:])

    # the report: every figure is embedded and the page renders in a headless browser
    report = tmp_path / "results" / "report.html"
    snakemake(repo_root, tmp_path, config, "--report", str(report))
    html = report.read_text()
    figures = sorted(p.name for p in (tmp_path / "results").rglob("*.png"))
    assert len(figures) >= 9
    for name in figures:
        assert name in html, name
    check_report_renders(report, tmp_path / "report.png")

    # a new window re-runs the store only; a new vocabulary size re-counts too
    changed = snakemake(
        repo_root, tmp_path, tiny_config(tmp_path, window={"unit": "lines", "size": 1, "stride": 1}), "-n"
    )
    assert planned_jobs(changed.stdout + changed.stderr) == {"build_bows": 1, "all": 1}
    changed = snakemake(repo_root, tmp_path, tiny_config(tmp_path, vocab_size=10), "-n")
    assert planned_jobs(changed.stdout + changed.stderr) == {"count_vocabulary": 1, "build_bows": 1, "all": 1}


def check_report_renders(report, screenshot):
    """Headless Chromium opens the report and paints it (a screenshot with many colours, not a blank
    or an error page); skipped where Chromium is not installed."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return
    out = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={screenshot}",
            "--window-size=1200,900",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert screenshot.exists(), out.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(screenshot)[..., :3].reshape(-1, 3)
    assert len(np.unique((pixels * 255).astype(np.uint8), axis=0)) > 50  # a painted page, not a blank


def test_bad_config_fails_before_any_job(repo_root, tmp_path):
    config = tiny_config(tmp_path)
    config["bows"]["window"]["size"] = -1
    out = snakemake(repo_root, tmp_path, config, check=False)
    assert out.returncode != 0
    assert "window" in out.stderr and "size" in out.stderr and "-1" in out.stderr
    assert not (tmp_path / "results").exists()


def test_empty_glob_fails_at_dag_construction(repo_root, tmp_path):
    config = tiny_config(tmp_path)
    config["corpora"]["mine"]["path"] = "nowhere/*.txt"
    out = snakemake(repo_root, tmp_path, config, "-n", check=False)
    assert out.returncode != 0
    assert "corpora.mine.path: no file matches 'nowhere/*.txt'" in out.stdout + out.stderr
