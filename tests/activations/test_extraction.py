import hashlib
import json
import shutil
import warnings

import numpy as np
import pytest
import torch
import xarray as xr
import zarr

from bowsflow.activations.extraction import ExtractionError, ExtractOptions, extract_activations, open_activations
from bowsflow.data.batches import SparseBatch
from bowsflow.models import build_model
from bowsflow.models.checkpoints import CheckpointError, save_checkpoint
from helpers import WORDS, make_checkpoint, make_store, store_digest


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("bows") / "bows.zarr")


@pytest.mark.parametrize("arch", ["tied_ae", "relu_mlp", "bilinear"])
def test_values_equal_a_direct_forward_pass(store, tmp_path, arch):
    model = make_checkpoint(tmp_path / "m.safetensors", arch)
    extract_activations(
        tmp_path / "m.safetensors", store, tmp_path / "a.zarr", ExtractOptions(device="cpu", batch_size=100)
    )
    ds = xr.open_zarr(tmp_path / "a.zarr")
    bows = xr.open_zarr(store)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(bows.sample.size, 40, replace=False))
    x = bows.bows.values[rows]
    idx, off, _, _ = SparseBatch.from_dense(x).torch()
    with torch.no_grad():
        expected = model.layers_from_latent(model.encode(idx, off))
    names = {
        "tied_ae": ["latent", "out_pre"],
        "relu_mlp": ["latent", "hidden_pre", "resid", "out_pre"],
        "bilinear": ["latent", "hidden_left", "hidden_right", "hidden", "resid", "out_pre"],
    }[arch]
    assert sorted(set(ds.variables) - {"sample", "word", "split", "doc_id"}) == sorted(names)
    for name in names:
        np.testing.assert_allclose(ds[name].values[rows], expected[name].numpy(), rtol=1e-6, atol=1e-6)
    # a dense numpy check of one layer, independent of the model code path
    if arch == "tied_ae":
        W, b = model.W.detach().numpy(), model.b.detach().numpy()
        np.testing.assert_allclose(ds.out_pre.values[rows], x @ W.T @ W + b, rtol=1e-5, atol=1e-5)
    # aligned with the BOWS store: same length, chunks, split and doc_id
    assert ds.out_pre.data.chunks[0] == bows.bows.data.chunks[0]
    np.testing.assert_array_equal(ds.doc_id.values, bows.doc_id.values)
    assert [str(s) for s in ds.split.values] == [str(s) for s in bows.split.values]
    assert [str(w) for w in ds.word.values] == WORDS
    assert ds.attrs["arch"] == arch and len(json.loads(ds.attrs["input_checksums"])["checkpoint"]) == 64


def test_resume_after_a_kill_gives_identical_bytes(store, tmp_path):
    make_checkpoint(tmp_path / "m.safetensors", "bilinear")
    full = tmp_path / "full.zarr"
    extract_activations(tmp_path / "m.safetensors", store, full, ExtractOptions(device="cpu"))
    part = tmp_path / "resumed.zarr"
    state = extract_activations(
        tmp_path / "m.safetensors", store, part, ExtractOptions(device="cpu"), stop_after_chunks=3
    )
    assert state == {"n_chunks": 6, "done": 3, "stopped": True}
    assert not part.exists() and (tmp_path / "resumed.zarr.partial" / "progress.json").exists()
    written = []
    import bowsflow.activations.extraction as extraction

    real = extraction.chunk_activations

    def counting(model, bows, *args):
        written.append(bows.shape[0])
        return real(model, bows, *args)

    extraction.chunk_activations = counting
    try:
        extract_activations(tmp_path / "m.safetensors", store, part, ExtractOptions(device="cpu"))
    finally:
        extraction.chunk_activations = real
    assert len(written) == 3  # only the missing chunks were computed
    assert store_digest(part) == store_digest(full) and len(store_digest(full)) > 6
    assert not (tmp_path / "resumed.zarr.partial").exists()


def test_layer_selection_dtype_and_compressor(store, tmp_path):
    make_checkpoint(tmp_path / "m.safetensors", "relu_mlp")
    opts = ExtractOptions(layers=("latent", "hidden_pre"), dtype="float16", compressor="lz4", device="cpu")
    extract_activations(tmp_path / "m.safetensors", store, tmp_path / "a.zarr", opts)
    ds = xr.open_zarr(tmp_path / "a.zarr")
    assert {"latent", "hidden_pre"} <= set(ds.variables) and "out_pre" not in ds.variables
    assert ds.hidden_pre.dtype == np.float16
    with pytest.raises(ExtractionError, match="unknown layer"):
        extract_activations(
            tmp_path / "m.safetensors", store, tmp_path / "b.zarr", ExtractOptions(layers=("attention",))
        )


def test_bad_inputs_leave_nothing(store, tmp_path):
    out = tmp_path / "a.zarr"
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        extract_activations(tmp_path / "missing.safetensors", store, out)
    # a checkpoint whose tensors do not match its config
    model = build_model("tied_ae", 12, 3)
    save_checkpoint(model, tmp_path / "bad.safetensors", {"arch": "tied_ae", "vocab_size": 12, "d_latent": 4})
    with pytest.raises(CheckpointError, match="do not match tied_ae"):
        extract_activations(tmp_path / "bad.safetensors", store, out)
    # a BOWS store with another vocabulary: another size, or the same size with other words
    make_checkpoint(tmp_path / "v.safetensors", "tied_ae", V=12)
    other = make_store(tmp_path / "other.zarr", n=300, n_features=10)
    with pytest.raises(ExtractionError, match="vocabulary of 10 words, but .* V = 12"):
        extract_activations(tmp_path / "v.safetensors", other, out)
    make_checkpoint(tmp_path / "w.safetensors", "tied_ae", words=[f"g{i}" for i in range(12)])
    with pytest.raises(ExtractionError, match="vocabulary differs"):
        extract_activations(tmp_path / "w.safetensors", store, out)
    assert not out.exists() and not (tmp_path / "a.zarr.partial").exists()


def test_open_activations_warns_when_the_checkpoint_changed(store, tmp_path):
    results = tmp_path / "results"
    (results / "models" / "toy").mkdir(parents=True)
    ck = results / "models" / "toy" / "model.safetensors"
    make_checkpoint(ck, "tied_ae")
    extract_activations(ck, store, results / "activations" / "toy.zarr", ExtractOptions(device="cpu"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = open_activations("toy", results)
    assert ds.latent.dims == ("sample", "latent")
    make_checkpoint(ck, "tied_ae", seed=1)
    with pytest.warns(UserWarning, match="earlier version"):
        open_activations("toy", results)
    shutil.rmtree(results / "activations")
    with pytest.raises(FileNotFoundError, match="no activation store for model 'toy'"):
        open_activations("toy", results)


@pytest.mark.slow
def test_peak_memory_is_bounded_by_the_chunk(tmp_path):
    """Peak RSS of an extraction over 4x the samples stays within 10% (run in fresh processes)."""
    import json
    import subprocess
    import sys

    script = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[3])
from helpers import make_checkpoint, make_store
from bowsflow.activations.extraction import ExtractOptions, extract_activations
from pathlib import Path
d = Path(sys.argv[1]); n = int(sys.argv[2])
store = make_store(d / "bows.zarr", n=n, chunk=4096, n_features=12)
make_checkpoint(d / "m.safetensors", "bilinear")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
extract_activations(d / "m.safetensors", store, d / "a.zarr", ExtractOptions(device="cpu"))
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
    rss = []
    for n in (40_000, 160_000):
        d = tmp_path / str(n)
        d.mkdir()
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                script,
                str(d),
                str(n),
                str(__import__("pathlib").Path(__import__("helpers").__file__).parent),
            ],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        rss.append(json.loads(out.stdout.strip().splitlines()[-1])["rss_mb"])
    assert rss[1] < 1.10 * rss[0], rss


def test_input_checksums_of_a_file_and_a_store(tmp_path):

    from bowsflow.store.provenance import attrs_checksum, config_hash, input_checksums

    f = tmp_path / "w.bin"
    f.write_bytes(b"abc")
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w")
    group.attrs.update({"config_hash": "x", "n": 3, "created_utc": "2026-01-01T00:00:00+00:00"})
    sums = input_checksums(weights=f, store=tmp_path / "s.zarr")
    assert sums["weights"] == hashlib.sha256(b"abc").hexdigest()
    assert sums["store"] == config_hash({"config_hash": "x", "n": 3})  # when it was written is not its identity
    group.attrs["created_utc"] = "2027-01-01T00:00:00+00:00"
    assert input_checksums(store=tmp_path / "s.zarr")["store"] == sums["store"]
    group.attrs["n"] = 4
    assert attrs_checksum(dict(group.attrs)) != sums["store"]
