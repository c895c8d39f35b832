"""Builders the tests share: small BOWS stores, checkpoints and configs with known contents."""

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import torch
import yaml
import zarr

from bowsflow.config import resolved_bows, validate_config
from bowsflow.data.bows_store import build_synthetic_store
from bowsflow.data.vocabulary import vocabulary_sha256
from bowsflow.models import build_model
from bowsflow.models.checkpoints import save_checkpoint

TEST_CONFIG = Path(__file__).resolve().parents[1] / ".test" / "config.yaml"


def tiny_config(tmp_path, window=None, vocab_size=20):
    """The tiny workflow of ``.test/config.yaml``, its corpus copied under ``tmp_path/data``."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for f in sorted((TEST_CONFIG.parent / "data").glob("*.txt")):
        shutil.copy(f, data / f.name)
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["corpora"]["mine"]["path"] = "data/*.txt"
    config["bows"]["vocab_size"] = vocab_size
    if window is not None:
        config["bows"]["window"] = window
    return config


def slurm_available() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return False
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mixed"))


def synthetic_store(path, n_samples=2000, chunk=300, structure="circle", n_features=12, **extra):
    """A synthetic BOWS store (the BOWS paper's toy data) of ``n_samples`` rows in chunks of ``chunk``."""
    spec = {
        "source": "synthetic",
        "structure": structure,
        "n_features": n_features,
        "n_samples": n_samples,
        "k": 10,
        "bias": 0,
        "noise": 0,
        "p": 0.2,
        "seed": 0,
    } | extra
    cfg = validate_config({"corpora": {"c": spec}, "bows": {"chunk_samples": chunk}})
    build_synthetic_store(spec, resolved_bows(cfg, "c"), path, {"config_hash": "x", "input_checksums": "{}"})
    return path


WORDS = [f"f{i}" for i in range(12)]

# The adjacent layer pairs of the two architectures with a middle block (the edge tests run on each)
MIDDLE_LAYER_PAIRS = [
    ("relu_mlp", "latent", "hidden_pre"),
    ("relu_mlp", "hidden_pre", "resid"),
    ("bilinear", "latent", "hidden"),
    ("bilinear", "hidden", "resid"),
]


def make_store(path, n=1500, chunk=256, seed=0, n_features=12):
    """A 12-word circle store, as the extraction and lens tests use it."""
    return synthetic_store(path, n_samples=n, chunk=chunk, n_features=n_features, seed=seed)


def make_checkpoint(path, arch, V=12, m=3, d=5, seed=0, words=WORDS):
    torch.manual_seed(seed)
    model = build_model(arch, V, m, d)
    with torch.no_grad():
        model.b.uniform_(-0.5, 0.5)
    meta = {
        "arch": arch,
        "vocab_size": V,
        "d_latent": m,
        "d_hidden": d,
        "output": "relu",
        "model": "toy",
        "vocab_sha256": vocabulary_sha256(words),
    }
    save_checkpoint(model, path, meta)
    return model


def store_digest(path):
    """sha256 of every array chunk file (not the attrs' timestamps), by relative path."""
    out = {}
    for f in sorted(path.rglob("*")):
        if f.is_file() and "/c/" in f.as_posix():
            out[f.relative_to(path).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def run_snakemake(repo_root, workdir, config, *args, timeout=600):
    """Snakemake on this checkout's Snakefile in ``workdir`` with ``config`` (written to its
    config.yaml); the targets and options in ``args`` come before --configfile (which takes several
    values). A hang fails the test at ``timeout`` instead of stalling CI."""
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
        *args,
        "--configfile",
        str(cfg),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def without_index_form(store, path):
    """A copy of ``store`` that lacks the index form (as stores written before it): the dense path."""
    shutil.copytree(store, path)
    group = zarr.open_group(str(path), mode="r+")
    attrs = dict(group.attrs)
    del attrs["index_form"]
    group.attrs.put(attrs)
    return path
