"""The Snakefile on a tiny config in a temporary directory: the plan, one real run read by each test below
for one concern (stores, models, provenance, reruns, what a changed option re-runs, the report)."""

import json
import re
import subprocess

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from helpers import run_snakemake, tiny_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def snakemake(repo_root, workdir, config, *args, check=True):
    out = run_snakemake(repo_root, workdir, config, "--cores", "2", *args)
    if check and out.returncode != 0:
        raise AssertionError(out.stdout + out.stderr)
    return out


def planned_jobs(output: str) -> dict:
    """Rule -> count from Snakemake's 'Job stats' table."""
    table = output.split("Job stats:")[-1] if "Job stats:" in output else ""
    return {
        m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M) if m.group(1) != "total"
    }


EVERY_RULE_ONCE = {
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
    "llc": 1,
    "summary": 1,
    "claims": 1,
    "all": 1,
}


def test_dry_run_plans_every_rule_and_writes_nothing(repo_root, tmp_path):
    dry = snakemake(repo_root, tmp_path, tiny_config(tmp_path), "-n")
    assert planned_jobs(dry.stdout + dry.stderr) == EVERY_RULE_ONCE
    assert not (tmp_path / "results").exists()


@pytest.fixture(scope="module")
def finished(repo_root, tmp_path_factory):
    """The tiny workflow, run once for the tests below (they read it, or plan against it)."""
    workdir = tmp_path_factory.mktemp("run")
    config = tiny_config(workdir)
    snakemake(repo_root, workdir, config)
    return workdir, config


def test_the_bows_stores_logs_and_benchmarks(finished):
    workdir, _ = finished
    ds = xr.open_zarr(workdir / "results/bows/mine/bows.zarr")
    assert ds.bows.shape[1] == int(ds.attrs["vocab_size"]) <= 20
    assert [str(w) for w in ds.word.values[:2]] == ["January", "February"]
    assert (
        json.loads(ds.attrs["input_checksums"])["corpus"] and ds.attrs["config_hash"] and ds.attrs["bowsflow_version"]
    )
    assert (workdir / "results/bows/mine/vocab.tsv").read_text().startswith("id\tword\tcount\tdoc_freq\n0\tJanuary")
    assert (workdir / "results/logs/build_bows/mine.log").exists()
    assert (workdir / "results/benchmarks/build_bows/mine.tsv").exists()
    assert xr.open_zarr(workdir / "results/bows/ring/bows.zarr").bows.shape == (500, 12)


def test_the_model_its_tables_and_its_analyses(finished):
    workdir, _ = finished
    model_dir = workdir / "results/models/ring-tied"
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
    assert "ring-tied" in (workdir / "results/models/comparison.tsv").read_text()
    assert (workdir / "results/analysis/ring-tied/polytope.json").exists()
    assert "ring-tied" in (workdir / "results/analysis/geometry_summary.tsv").read_text()
    # the claims: every registered claim has a row with a verdict; a synthetic-only run cannot test
    # the text claims, and says why instead of failing
    claims = pd.read_csv(workdir / "results/claims.tsv", sep="\t", keep_default_na=False)
    from bowsflow.claims.registry import VERDICTS, registered_claims

    assert set(registered_claims()) == set(claims["claim"])
    assert set(claims["verdict"]) <= set(VERDICTS)
    untested = claims[claims["verdict"].str.startswith("not testable")]
    assert len(untested) and (untested["reason"].str.len() > 10).all()
    acts = xr.open_zarr(workdir / "results/activations/ring-tied.zarr")
    assert acts["latent"].shape == (500, 2) and acts["out_pre"].shape == (500, 12)


def test_every_store_says_what_made_it(finished):
    workdir, _ = finished
    stores = sorted((workdir / "results").rglob("*.zarr"))
    assert len(stores) >= 6  # two BOWS stores, correlations, activations, polytope codes, interaction
    for path in stores:  # config hash, package version, its inputs' checksums
        attrs = xr.open_zarr(path).attrs
        assert attrs.get("config_hash") and attrs.get("bowsflow_version"), path
        assert "input_checksums" in attrs and isinstance(json.loads(attrs["input_checksums"]), dict), path


def test_a_rerun_does_nothing_and_retraining_gives_the_same_bytes(repo_root, finished):
    workdir, config = finished
    again = snakemake(repo_root, workdir, config)
    assert "Nothing to be done" in again.stdout + again.stderr
    checkpoint = workdir / "results/models/ring-tied/model.safetensors"
    first_bytes = checkpoint.read_bytes()
    snakemake(repo_root, workdir, config, "--forcerun", "train")  # CPU determinism through the workflow
    assert checkpoint.read_bytes() == first_bytes


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"analysis": {"polytope": {"n_pairs": 123}}}, {"polytope": 1, "summary": 1, "claims": 1, "all": 1}),
        (
            {"analysis": {"geometry": {"top_k": 7}}},
            {"geometry": 1, "geometry_summary": 1, "summary": 1, "claims": 1, "all": 1},
        ),
        ({"analysis": {"interaction": {"edge_samples": 50}}}, {"interaction": 1, "summary": 1, "claims": 1, "all": 1}),
        ({"extract": {"writer_threads": 5}}, {}),  # speed only: re-runs nothing
        ({"bows": {"window": {"unit": "tokens", "size": 4, "stride": 2}}}, {"build_bows": 1, "all": 1}),
        # a lines window needs each token's line, which the token store keeps only when asked
        (
            {"bows": {"window": {"unit": "lines", "size": 1, "stride": 1}}},
            {"count_vocabulary": 1, "build_bows": 1, "all": 1},
        ),
        ({"bows": {"vocab_size": 10}}, {"count_vocabulary": 1, "build_bows": 1, "all": 1}),
    ],
    ids=["polytope", "geometry", "interaction", "writer_threads", "window", "lines_window", "vocab_size"],
)
def test_a_changed_option_re_runs_what_depends_on_it_and_nothing_else(repo_root, finished, change, expected):
    workdir, _ = finished
    changed = tiny_config(workdir)
    for section, values in change.items():
        changed[section] = changed.get(section, {}) | values
    dry = snakemake(repo_root, workdir, changed, "-n")
    assert planned_jobs(dry.stdout + dry.stderr) == expected, dry.stdout[-2000:]


def test_the_report_embeds_and_renders_every_figure(repo_root, finished, tmp_path):
    workdir, config = finished
    report = workdir / "results" / "report.html"
    snakemake(repo_root, workdir, config, "--report", str(report))
    html = report.read_text()
    figures = sorted(p.name for p in (workdir / "results").rglob("*.png"))
    assert len(figures) >= 9
    for name in figures:
        assert name in html, name
    # the captions are in it, and rendered without a reStructuredText error
    assert "unablated" in html and "Undefined substitution" not in html and "System Message" not in html
    check_report_renders(report, tmp_path / "report.png")


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


def test_a_job_over_a_damaged_store_stops_naming_it_and_the_plain_command_shows_its_log(repo_root, finished, tmp_path):
    """word_correlations once computed from a BOWS store with a chunk deleted and exited 0. Now it stops
    with the store, array and chunk named, writes nothing, and the plain command (no profile given:
    Snakemake applies profiles/default) prints the failed job's log."""
    import shutil

    workdir, config = finished
    copy = tmp_path / "run"
    shutil.copytree(workdir, copy, symlinks=True)
    store = copy / "results/bows/mine/bows.zarr"
    (store / "bows" / "c" / "0" / "0").unlink()
    out = snakemake(
        repo_root, copy, config, "results/bows/mine/correlations.zarr", "--forcerun", "word_correlations", check=False
    )
    assert out.returncode != 0
    said = out.stdout + out.stderr
    assert "StoreIntegrityError" in said and "array 'bows', chunk (0, 0)" in said and "is missing" in said
    assert not (copy / "results/bows/mine/correlations.zarr").exists()


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
