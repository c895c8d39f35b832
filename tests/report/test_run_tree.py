"""open_run: the whole run as one lazy DataTree with consistent dimension names; bad input named."""

import json
import shutil
import warnings

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import bowsflow
from bowsflow.activations.extraction import ExtractOptions, extract_activations
from bowsflow.data.tokens import write_token_store
from bowsflow.lenses.polytope.analysis import write_codes
from bowsflow.models.checkpoints import load_model
from bowsflow.report.run_tree import RunError
from helpers import WORDS, make_checkpoint, make_store


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A results tree laid out as the workflow lays it out: corpus c, model toy (relu_mlp)."""
    root = tmp_path_factory.mktemp("run") / "results"
    (root / "bows" / "c").mkdir(parents=True)
    (root / "models" / "toy").mkdir(parents=True)
    (root / "activations").mkdir()
    (root / "analysis" / "toy").mkdir(parents=True)
    store = make_store(root / "bows" / "c" / "bows.zarr", n=300, chunk=128)
    write_token_store([["alpha beta", "gamma alpha"]], root / "bows" / "c" / "tokens.zarr", False, False, {})
    (root / "bows" / "c" / "vocab.tsv").write_text(
        "id\tword\tcount\tdoc_freq\n" + "".join(f"{i}\t{w}\t1\t1\n" for i, w in enumerate(WORDS))
    )
    make_checkpoint(root / "models" / "toy" / "model.safetensors", "relu_mlp")
    (root / "models" / "toy" / "config.json").write_text(json.dumps({"corpus": "c"}))
    extract_activations(
        root / "models" / "toy" / "model.safetensors",
        store,
        root / "activations" / "toy.zarr",
        ExtractOptions(device="cpu"),
    )
    model, _ = load_model(root / "models" / "toy" / "model.safetensors")
    write_codes(xr.open_zarr(root / "activations" / "toy.zarr"), model, root / "analysis" / "toy" / "polytope.zarr", 1)
    (root / "summary.tsv").write_text("model\tval_loss\ntoy\t0.25\n")
    return root


def test_one_lazy_node_per_store_with_provenance(results):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete tree opens without a warning
        tree = bowsflow.open_run(results)
    assert set(tree.children) == {"tokens", "bows", "activations", "analysis", "models", "tables"}
    assert set(tree["analysis/toy"].children) == {"polytope"}
    tokens = tree["tokens/c"].to_dataset()
    assert tokens["word_id"].size == 4 and [str(w) for w in tokens["word"].values] == ["alpha", "beta", "gamma"]
    acts = tree["activations/toy"].to_dataset()
    assert isinstance(acts["latent"].data, da.Array)  # nothing read yet
    assert json.loads(acts.attrs["input_checksums"])["checkpoint"]
    assert tree["bows/c"].attrs["config_hash"] == "x"
    assert float(tree["tables/summary"]["val_loss"].values[0]) == 0.25


def test_the_models_parameters_with_named_dimensions(results):
    params = bowsflow.open_run(results)["models/toy"].to_dataset()
    assert params["W_e"].dims == ("latent", "word") and params["W_in"].dims == ("hidden", "latent")
    assert params["W_out"].dims == ("latent", "hidden") and params["b"].dims == ("word",)
    assert isinstance(params["W_e"].data, da.Array)
    model, _ = load_model(results / "models" / "toy" / "model.safetensors")
    for name, value in model.named_parameters():
        np.testing.assert_array_equal(params[name].values, value.detach().numpy())
    assert [str(w) for w in params.word.values] == WORDS


def test_arithmetic_across_the_bows_activation_and_polytope_stores(results):
    tree = bowsflow.open_run(results)
    bows, acts = tree["bows/c"].to_dataset(), tree["activations/toy"].to_dataset()
    codes = bowsflow.open_analysis("toy", "polytope", results)
    bows, acts, codes = xr.align(bows, acts, codes, join="exact")  # no renaming needed
    has_f0 = bows.bows.sel(word="f0")
    mean = acts["latent"].where(has_f0).mean("sample").values
    ref = acts["latent"].values[bows.bows.values[:, 0]].mean(axis=0)
    np.testing.assert_allclose(mean, ref, rtol=1e-6)
    # the output code of each sample agrees with the sign of its stored pre-activations
    on = np.unpackbits(codes["codes_out_pre"].values, axis=1, count=12).astype(bool)
    np.testing.assert_array_equal(on, (acts["out_pre"] > 0).values)
    # a word's decoder weights and its BOWS column line up by the shared word coordinate
    params = tree["models/toy"].to_dataset()
    assert float((params["b"] * bows.bows.isel(sample=0)).sum()) == pytest.approx(
        float(params["b"].values[bows.bows.values[0]].sum()), rel=1e-6
    )


def test_half_written_and_foreign_stores_are_named(results, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(results, root)
    shutil.copytree(root / "activations" / "toy.zarr", root / "activations" / "late.zarr.partial")
    shutil.copytree(root / "activations" / "toy.zarr", root / "activations" / "old.zarr")
    import zarr

    zarr.open_group(str(root / "activations" / "old.zarr"), mode="r+").attrs["bowsflow_version"] = "0.0.1"
    (root / "analysis" / "toy" / "interaction.zarr").mkdir()  # an empty folder: no store
    shutil.copytree(root / "activations" / "toy.zarr", root / "activations" / "broken.zarr")
    (root / "activations" / "broken.zarr" / "latent" / "c" / "1" / "0").unlink()  # damaged: named, skipped
    with pytest.warns(UserWarning) as caught:
        tree = bowsflow.open_run(root)
    text = "\n".join(str(w.message) for w in caught)
    assert "late.zarr.partial: half-written" in text
    assert "old.zarr was written by bowsflow 0.0.1" in text
    assert "interaction.zarr: does not open" in text
    assert "damaged, skipped" in text and "broken.zarr: array 'latent', chunk (1, 0) is missing" in text
    assert set(tree["activations"].children) == {"toy", "old"}


def test_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunError, match="not a bowsflow results tree"):
        bowsflow.open_run(tmp_path)
    with pytest.raises(RunError, match="no such folder"):
        bowsflow.open_run(tmp_path / "nope")
    with pytest.raises(ValueError, match="lens: expected one of"):
        bowsflow.open_analysis("toy", "umap", tmp_path)


def test_opening_a_run_imports_no_torch(results):
    """open_run reads stores' metadata and checkpoints through safetensors' numpy reader, and each
    checkpoint's dimensions from its own metadata: no torch import (2.7 s the first time)."""
    import subprocess
    import sys

    code = (
        "import sys, bowsflow; tree = bowsflow.open_run(sys.argv[1]); "
        "assert tree['models/toy'].to_dataset()['W_e'].dims == ('latent', 'word'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(results)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
