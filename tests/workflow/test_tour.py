"""The tour notebook runs, top to bottom, on the results of a tiny workflow (so it cannot rot), and is
kept in git without outputs."""

import os

import nbformat
import pytest

from helpers import run_snakemake, tiny_config

NOTEBOOK = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "notebooks", "tour.ipynb"
)


def test_the_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    # each code cell follows a markdown cell that says what it shows
    for before, cell in zip(nb.cells, nb.cells[1:]):
        if cell.cell_type == "code":
            assert before.cell_type == "markdown" and before.source.strip()


@pytest.mark.workflow
@pytest.mark.slow
def test_the_tour_runs_on_a_tiny_workflows_results(repo_root, tmp_path):
    from nbclient import NotebookClient

    config = tiny_config(tmp_path)
    config["models"] = {
        "mine-tied": {"corpus": "mine", "arch": "tied_ae", "d_latent": 3},
        "mine-bilinear": {"corpus": "mine", "arch": "bilinear", "d_latent": 3, "d_hidden": 4},
    }
    # what the tour reads, not the whole workflow (the workflow tests run that)
    targets = [
        "results/activations/mine-tied.zarr",
        "results/bows/mine/correlations.zarr",
        "results/models/mine-bilinear/model.safetensors",
    ]
    run = run_snakemake(repo_root, tmp_path, config, "--cores", "2", *targets)
    assert run.returncode == 0, run.stdout + run.stderr
    nb = nbformat.read(NOTEBOOK, as_version=4)
    os.environ["BOWSFLOW_RESULTS"] = str(tmp_path / "results")
    try:
        NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        del os.environ["BOWSFLOW_RESULTS"]
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "corpus mine" in text and "model mine-tied (tied_ae)" in text
    assert "January: in " in text and "dashboard: http" in text
    assert "mine-bilinear: W_e[:, January]ᵀ B_February W_e[:, February] = " in text
