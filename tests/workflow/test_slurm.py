"""The tiny workflow through the SLURM profile on a real (local, single-node) SLURM, against a local run.

Needs `scripts/local-slurm.sh start` (root; .ci/run does it) and snakemake-executor-plugin-slurm; skipped
where `sinfo` finds no idle node.
"""

import numpy as np
import pytest
import xarray as xr

from helpers import run_snakemake, slurm_available, tiny_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]  # minutes: a whole workflow through SLURM


needs_slurm = pytest.mark.skipif(not slurm_available(), reason="no local SLURM (scripts/local-slurm.sh start)")


def run(repo_root, workdir, config, *extra, timeout=900):
    # a hang (a status command that never answers) must fail the test, not stall CI
    return run_snakemake(repo_root, workdir, config, *extra, timeout=timeout)


def small_config(tmp_path):
    config = tiny_config(tmp_path)
    config["corpora"].pop("mine")  # one corpus and one model keep the cluster run short
    config["analysis"] = {
        "polytope": {
            "n_pairs": 200,
            "n_paths": 5,
            "neighbourhood_subsample": 100,
            "cluster_subsample": 50,
            "scale_subsample": 50,
        }
    }
    return config


@needs_slurm
def test_workflow_through_the_slurm_profile_equals_a_local_run(repo_root, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    for d in (local, cluster):
        d.mkdir()
    out = run(repo_root, local, small_config(local), "--cores", "2")
    assert out.returncode == 0, out.stderr[-3000:]
    out = run(repo_root, cluster, small_config(cluster), "--workflow-profile", f"{repo_root}/profiles/slurm-local")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "slurm" in (out.stdout + out.stderr).lower()
    for rel in ("results/bows/ring/vocab.tsv", "results/models/ring-tied/model.safetensors", "results/summary.tsv"):
        a, b = (local / rel).read_bytes(), (cluster / rel).read_bytes()
        if rel.endswith("summary.tsv"):
            assert a.splitlines()[0] == b.splitlines()[0]
        else:
            assert a == b, rel
    for rel, var in (("results/bows/ring/bows.zarr", "bows"), ("results/activations/ring-tied.zarr", "latent")):
        np.testing.assert_array_equal(xr.open_zarr(local / rel)[var].values, xr.open_zarr(cluster / rel)[var].values)


@needs_slurm
def test_a_failing_job_fails_the_cluster_run(repo_root, tmp_path):
    config = small_config(tmp_path)
    data = tmp_path / "bad"
    data.mkdir()
    (data / "x.txt").write_bytes(b"\x00\x01binary")
    config["corpora"] = {"bad": {"source": "text", "path": "bad/*.txt"}}
    config["models"] = {}
    out = run(repo_root, tmp_path, config, "--workflow-profile", f"{repo_root}/profiles/slurm-local", timeout=600)
    assert out.returncode != 0
    assert "count_vocabulary" in out.stdout + out.stderr
