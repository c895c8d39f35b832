"""Fault injection: damaged stores are caught and named, resumes trust only what matches, bad inputs
name their file and row, leftovers of killed jobs are cleaned. Fast cases run everywhere; the kill -9
cases are marked slow. (The README's troubleshooting table lists these faults and what a user sees.)"""

import errno
import gzip
import json
import logging
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import zarr

from bowsflow.activations.extraction import ExtractOptions, extract_activations, open_activations
from bowsflow.data.corpus import CorpusError, iter_documents
from bowsflow.data.vocabulary import VocabularyError, read_vocabulary, vocabulary_record, write_vocabulary
from bowsflow.lenses.interaction.analysis import InteractionOptions, analyze_interaction
from bowsflow.lenses.polytope.analysis import write_codes
from bowsflow.models.checkpoints import CheckpointError, load_model
from bowsflow.store.atomic import atomic_path
from bowsflow.store.integrity import StoreIntegrityError, verify_store
from helpers import make_checkpoint, make_store, store_digest


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A BOWS store, a relu_mlp's activation store over it and its polytope codes (a lens store)."""
    d = tmp_path_factory.mktemp("stores")
    bows = make_store(d / "bows.zarr", n=600, chunk=128)
    make_checkpoint(d / "m.safetensors", "relu_mlp")
    extract_activations(d / "m.safetensors", bows, d / "acts.zarr", ExtractOptions(device="cpu"))
    model, _ = load_model(d / "m.safetensors")
    write_codes(xr.open_zarr(d / "acts.zarr"), model, d / "codes.zarr", 1)
    return d


def damaged(src, tmp_path, array, chunk, how):
    """A copy of the store ``src`` with one chunk file of ``array`` deleted, cut to half, or one byte flipped."""
    import shutil

    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    f = dst / array / "c" / chunk
    data = f.read_bytes()
    if how == "delete":
        f.unlink()
    elif how == "truncate":
        f.write_bytes(data[: len(data) // 2])
    elif how == "none":
        pass
    else:
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0x10
        f.write_bytes(bytes(flipped))
    return dst


KINDS = ["delete", "truncate", "flip"]
STORES = [("bows.zarr", "bows", "2/0"), ("acts.zarr", "hidden_pre", "1/0"), ("codes.zarr", "codes_out_pre", "3/0")]


@pytest.mark.parametrize("how", KINDS)
@pytest.mark.parametrize("store, array, chunk", STORES, ids=["bows", "activations", "lens"])
def test_verify_names_the_store_the_array_and_the_chunk(stores, tmp_path, store, array, chunk, how):
    path = damaged(stores / store, tmp_path, array, chunk, how)
    with pytest.raises(StoreIntegrityError) as err:
        verify_store(path)
    assert str(path) in str(err.value) and f"array '{array}'" in str(err.value)
    assert f"chunk ({chunk.replace('/', ', ')})" in str(err.value)
    assert verify_store(stores / store) > 0  # the undamaged original passes


@pytest.mark.parametrize("how", KINDS)
def test_a_damaged_bows_store_stops_extraction_naming_it(stores, tmp_path, how):
    bows = damaged(stores / "bows.zarr", tmp_path, "bows", "2/0", how)
    with pytest.raises(StoreIntegrityError, match=f"{bows}: array 'bows', chunk \\(2, 0\\)"):
        extract_activations(stores / "m.safetensors", bows, tmp_path / "a.zarr", ExtractOptions(device="cpu"))
    assert not (tmp_path / "a.zarr").exists()


@pytest.mark.parametrize("how", KINDS)
def test_a_damaged_activation_store_stops_an_analysis_naming_it(stores, tmp_path, how):
    acts = damaged(stores / "acts.zarr", tmp_path, "latent", "1/0", how)
    with pytest.raises(StoreIntegrityError, match=f"{acts}: array 'latent', chunk \\(1, 0\\)"):
        analyze_interaction(
            activations=acts,
            checkpoint=stores / "m.safetensors",
            codes=stores / "codes.zarr",
            store=tmp_path / "i.zarr",
            options=InteractionOptions(jacobian_samples=50, edge_samples=50),
        )
    assert not (tmp_path / "i.zarr").exists()


def test_opening_a_store_with_a_missing_chunk_is_an_error(stores, tmp_path):
    results = tmp_path / "results"
    (results / "activations").mkdir(parents=True)
    damaged(stores / "acts.zarr", results / "activations", "out_pre", "0/0", "delete")
    (results / "activations" / "acts.zarr").rename(results / "activations" / "m.zarr")
    with pytest.raises(StoreIntegrityError, match="array 'out_pre', chunk \\(0, 0\\) is missing"):
        open_activations("m", results)


def test_a_resume_under_another_batch_size_starts_anew_and_says_why(stores, tmp_path, caplog):
    checkpoint, bows = stores / "m.safetensors", stores / "bows.zarr"
    clean = tmp_path / "clean.zarr"
    extract_activations(checkpoint, bows, clean, ExtractOptions(device="cpu", batch_size=7))
    out = tmp_path / "a.zarr"
    extract_activations(checkpoint, bows, out, ExtractOptions(device="cpu"), stop_after_chunks=2)
    with caplog.at_level(logging.WARNING):
        extract_activations(checkpoint, bows, out, ExtractOptions(device="cpu", batch_size=7))
    assert "discarding" in caplog.text and "batch_size" in caplog.text
    assert store_digest(out) == store_digest(clean)


def test_a_writer_thread_change_resumes(stores, tmp_path, caplog):
    """Speed only: the partial store is kept (writer_threads is not part of its identity)."""
    checkpoint, bows, out = stores / "m.safetensors", stores / "bows.zarr", tmp_path / "a.zarr"
    extract_activations(checkpoint, bows, out, ExtractOptions(device="cpu", writer_threads=1), stop_after_chunks=2)
    with caplog.at_level(logging.INFO):
        extract_activations(checkpoint, bows, out, ExtractOptions(device="cpu", writer_threads=3))
    assert "resuming" in caplog.text and "discarding" not in caplog.text
    assert store_digest(out) == store_digest(stores / "acts.zarr")


def test_a_chunk_listed_as_done_but_missing_is_extracted_again(stores, tmp_path, caplog):
    checkpoint, bows, out = stores / "m.safetensors", stores / "bows.zarr", tmp_path / "a.zarr"
    extract_activations(checkpoint, bows, out, ExtractOptions(device="cpu"), stop_after_chunks=3)
    (tmp_path / "a.zarr.partial" / "latent" / "c" / "1" / "0").unlink()
    with caplog.at_level(logging.WARNING):
        extract_activations(checkpoint, bows, out, ExtractOptions(device="cpu"))
    assert "chunk 1 of" in caplog.text and "extracting it again" in caplog.text
    assert store_digest(out) == store_digest(stores / "acts.zarr")
    assert not np.isnan(xr.open_zarr(out)["latent"].values).any()


@pytest.mark.parametrize(
    "damage, said",
    [
        ("word chunk", "chunk (0,) of array 'word' is missing"),
        ("progress cut", "its progress.json does not read"),
        ("array metadata", "its metadata lacks the arrays ['latent']"),
    ],
)
def test_a_damaged_partial_extraction_is_discarded_and_extracted_anew(stores, tmp_path, caplog, damage, said):
    """What a resume cannot trust — a chunk of an array written when the partial was created, a cut
    progress record, an array's metadata — discards the partial with a log line; the rerun gives the bytes
    of an uninterrupted run (a damaged store was published before, or every rerun failed)."""
    checkpoint, bows, out = stores / "m.safetensors", stores / "bows.zarr", tmp_path / "a.zarr"
    extract_activations(checkpoint, bows, out, ExtractOptions(device="cpu"), stop_after_chunks=2)
    partial = tmp_path / "a.zarr.partial"
    if damage == "word chunk":
        (partial / "word" / "c" / "0").unlink()
    elif damage == "progress cut":
        text = (partial / "progress.json").read_text()
        (partial / "progress.json").write_text(text[: len(text) // 2])
    else:
        (partial / "latent" / "zarr.json").unlink()
    with caplog.at_level(logging.WARNING):
        extract_activations(checkpoint, bows, out, ExtractOptions(device="cpu"))
    assert f"discarding {partial}" in caplog.text and said in caplog.text
    assert store_digest(out) == store_digest(stores / "acts.zarr")
    verify_store(out)


def test_a_full_disk_during_extraction_names_the_partial_store(stores, tmp_path, monkeypatch):
    import bowsflow.activations.extraction as extraction

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(extraction, "sync_tree", full)  # the writers' fsync of a chunk file
    out = tmp_path / "a.zarr"
    with pytest.raises(OSError, match=f"no space left on the device while writing {out}.partial") as err:
        extract_activations(stores / "m.safetensors", stores / "bows.zarr", out, ExtractOptions(device="cpu"))
    assert err.value.errno == errno.ENOSPC and not out.exists()


def test_every_array_carries_one_checksum_codec(stores):
    group = zarr.open_group(str(stores / "acts.zarr"), mode="r")
    for name, array in group.arrays():
        names = [type(c).__name__ for c in array.metadata.codecs]
        assert names.count("Crc32cCodec") == 1 and names[-1] == "Crc32cCodec", (name, names)


# ---------------------------------------------------------------------------------------------
# the three rules that once computed from damaged stores, and the public openers


def test_word_correlations_of_a_store_with_a_deleted_chunk_stop_naming_it(tmp_path):
    from bowsflow.data.correlations import write_correlations

    bows = make_store(tmp_path / "bows.zarr", n=600, chunk=128)
    (bows / "bows" / "c" / "2" / "0").unlink()
    with pytest.raises(StoreIntegrityError, match=f"{bows}: array 'bows', chunk \\(2, 0\\) is missing"):
        write_correlations(bows, tmp_path / "corr.zarr")
    assert not (tmp_path / "corr.zarr").exists()


@pytest.mark.parametrize("how", KINDS)
def test_polytope_codes_of_a_damaged_activation_store_stop_naming_it(stores, tmp_path, how):
    from bowsflow.store.checked import open_dataset

    acts = damaged(stores / "acts.zarr", tmp_path, "out_pre", "1/0", how)
    model, _ = load_model(stores / "m.safetensors")
    with pytest.raises(StoreIntegrityError, match=f"{acts}: array 'out_pre', chunk \\(1, 0\\)"):
        write_codes(open_dataset(acts), model, tmp_path / "codes.zarr", 1)
    assert not (tmp_path / "codes.zarr").exists()


@pytest.mark.parametrize("how", KINDS)
def test_the_claims_stop_at_a_damaged_bows_store_naming_it(stores, tmp_path, how):
    from bowsflow.claims.bows import StoreWindows, interference_contexts

    bows = damaged(stores / "bows.zarr", tmp_path, "bows", "2/0", how)
    with pytest.raises(StoreIntegrityError, match=f"{bows}: array 'bows', chunk \\(2, 0\\)"):
        interference_contexts(StoreWindows(bows), 5, 3, 0)


@pytest.mark.parametrize("how", ["truncate", "flip"])
@pytest.mark.parametrize("opener", ["open_bows", "open_activations"])
def test_the_public_openers_name_a_chunk_that_does_not_decode(stores, tmp_path, opener, how):
    import bowsflow

    results = tmp_path / "results"
    if opener == "open_bows":
        (results / "bows" / "c").mkdir(parents=True)
        path = damaged(stores / "bows.zarr", results / "bows" / "c", "bows", "1/0", how)
        ds, array = bowsflow.open_bows("c", results), "bows"
    else:
        (results / "activations").mkdir(parents=True)
        path = damaged(stores / "acts.zarr", results / "activations", "latent", "1/0", how).rename(
            results / "activations" / "m.zarr"
        )
        ds, array = bowsflow.open_activations("m", results), "latent"
    with pytest.raises(StoreIntegrityError, match=f"{path}: array '{array}', chunk \\(1, 0\\)"):
        ds[array].values


@pytest.mark.parametrize("how", ["not json", "changed"])
def test_a_damaged_array_metadata_file_is_named(stores, tmp_path, how):
    from bowsflow.store.checked import open_group

    store = damaged(stores / "acts.zarr", tmp_path, "latent", "0/0", "none")
    meta = store / "latent" / "zarr.json"
    text = meta.read_text()
    if how == "not json":
        meta.write_text(text[:-20])  # cut short
        said = f"metadata file {meta} does not read as JSON"
    else:
        meta.write_text(text.replace('"fill_value": "NaN"', '"fill_value": 1.0'))
        said = f"the metadata of array 'latent' \\({meta}\\) differs from the copy consolidated"
    for check in (verify_store, open_group):
        with pytest.raises(StoreIntegrityError, match=said):
            check(store)


# ---------------------------------------------------------------------------------------------
# bad inputs


def test_a_null_or_non_string_text_names_the_file_and_row(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text('{"text": "a b"}\n{"text": null}\n')
    with pytest.raises(CorpusError, match=f"{f}, line 2: the text field 'text' is null"):
        list(iter_documents({"source": "jsonl", "path": str(f)}, "c"))
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    p = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), p)
    with pytest.raises(CorpusError, match=f"{p}, row 0: the text field 'text' is a int"):
        list(iter_documents({"source": "parquet", "path": str(p)}, "c"))
    pq.write_table(pa.table({"text": ["a", None]}), p)
    with pytest.raises(CorpusError, match=f"{p}, row 1: the text field 'text' is null"):
        list(iter_documents({"source": "parquet", "path": str(p)}, "c"))


def test_bad_records_can_be_skipped_and_counted_the_same_for_every_source(tmp_path):
    from bowsflow.data.corpus import CorpusStats

    f = tmp_path / "c.jsonl"
    f.write_text('{"text": "a b"}\n{"text": null}\n{"other": 1}\n{"text": 7}\n{"text": "c"}\n')
    stats = CorpusStats()
    docs = list(iter_documents({"source": "jsonl", "path": str(f), "bad_records": "skip"}, "c", stats))
    assert docs == ["a b", "c"] and stats.records_skipped == 3
    assert stats.records_skipped_locations == [
        f"{f}, line 2: the text field 'text' is null, not a string",
        f"{f}, line 3: the text field 'text' is missing, not a string",
        f"{f}, line 4: the text field 'text' is a int (7), not a string",
    ]
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    p = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["a", None, "b"]}), p)
    stats = CorpusStats()
    assert list(iter_documents({"source": "parquet", "path": str(p), "bad_records": "skip"}, "c", stats)) == ["a", "b"]
    assert stats.records_skipped == 1 and stats.records_skipped_locations == [
        f"{p}, row 1: the text field 'text' is null, not a string"
    ]


def test_truncated_compressed_and_parquet_files_are_named(tmp_path):
    g = tmp_path / "c.txt.gz"
    words = np.random.default_rng(0).integers(0, 10**6, 20000).astype(str)
    data = gzip.compress(" ".join(words).encode())
    g.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorpusError, match=f"{g}: cannot be read to the end"):
        list(iter_documents({"source": "text", "path": str(g), "split_docs": "blank_line"}, "c"))
    with pytest.raises(CorpusError, match=f"{g}: cannot be read to the end"):
        list(iter_documents({"source": "text", "path": str(g), "split_docs": "file"}, "c"))
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    p = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["a b"] * 100}), p)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(CorpusError, match=f"{p}: not a readable parquet file"):
        list(iter_documents({"source": "parquet", "path": str(p)}, "c"))


def test_a_symlink_loop_and_overlapping_globs_read_each_file_once(tmp_path, caplog):
    from bowsflow.data.corpus import input_files

    for i in range(3):
        (tmp_path / f"d{i}.txt").write_text(f"document {i}")
    (tmp_path / "loop").symlink_to(tmp_path)  # loop -> .
    spec = {"source": "text", "path": [str(tmp_path / "**" / "*.txt"), str(tmp_path / "d0.txt")]}
    with caplog.at_level(logging.INFO):
        files = input_files(spec, "c")
    assert [f.name for f in files] == ["d0.txt", "d1.txt", "d2.txt"]
    assert "each file is read once" in caplog.text
    assert sum(1 for _ in iter_documents(spec, "c")) == 3


def test_a_corpus_changed_while_counted_is_named_and_the_store_is_built_from_what_was_counted(tmp_path, monkeypatch):
    from bowsflow.config import resolved_bows, validate_config
    from bowsflow.data import tokens as token_module
    from bowsflow.data.bows_store import build_text_store
    from bowsflow.data.corpus import CorpusError, file_records, input_files
    from bowsflow.data.tokens import TokenStore
    from bowsflow.data.vocabulary import corpus_vocabulary

    for i in range(2):
        (tmp_path / f"d{i}.txt").write_text(f"alpha beta gamma {i}\n")
    spec = {"source": "text", "path": str(tmp_path / "*.txt"), "split_docs": "file"}
    cfg = validate_config({"corpora": {"c": spec}, "bows": {"vocab_size": 3, "stopwords": "none"}})
    options = resolved_bows(cfg, "c")
    real = token_module.tokenize_batches

    def tokenize_then_edit(*args, **kwargs):  # the file changes while the corpus is read
        yield from real(*args, **kwargs)
        (tmp_path / "d1.txt").write_text("delta delta delta\n")

    tokens = tmp_path / "tokens.zarr"
    monkeypatch.setattr(token_module, "tokenize_batches", tokenize_then_edit)
    with pytest.raises(CorpusError, match=f"{tmp_path / 'd1.txt'}: changed since counting began"):
        corpus_vocabulary(spec, "c", options, tokens_path=tokens)
    assert not tokens.exists()  # nothing published that a rerun would trust
    monkeypatch.setattr(token_module, "tokenize_batches", real)
    vocab, stats = corpus_vocabulary(spec, "c", options, tokens_path=tokens)
    files = input_files(spec, "c")
    assert stats.files == file_records(files)
    assert TokenStore.open(tokens).attrs["corpus_files"] == stats.files  # what the tokens were read from
    # the store is built from the tokens that were counted, not from the files as they are now
    (tmp_path / "d0.txt").write_text("other text\n")
    build_text_store(tokens, "c", options, vocab, tmp_path / "bows.zarr", {})
    words = TokenStore.open(tokens).words
    assert "other" not in words and {"alpha", "delta"} <= set(words)


@pytest.mark.parametrize(
    "key, value",
    [
        ("training.lr", ".nan"),
        ("bows.val_fraction", ".nan"),
        ("analysis.polytope.alphas", "[1.0, .inf]"),
        ("claims.confidence", ".inf"),
    ],
)
def test_a_non_finite_number_in_the_config_is_named(tmp_path, key, value):
    import yaml

    from bowsflow.config import ConfigError, load_config

    config = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "config.yaml")))
    node = config
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = yaml.safe_load(value)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=f"config key {key.split('.alphas')[0]}.*not a finite number"):
        load_config(path)


def test_a_key_given_twice_in_a_config_file_is_named_with_its_lines(tmp_path):
    from bowsflow.config import ConfigError, read_config_file

    path = tmp_path / "c.yaml"
    path.write_text("models:\n  a: {corpus: c}\ntraining:\n  lr: 0.1\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match=f"{path}: key 'lr' is given twice in one mapping, at lines 4 and 5"):
        read_config_file(path)


def test_a_half_checkpoint_names_its_path(tmp_path):
    make_checkpoint(tmp_path / "m.safetensors", "tied_ae")
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "m.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'm.safetensors'}: not a readable safetensors"):
        load_model(tmp_path / "m.safetensors")


def test_a_truncated_vocabulary_is_caught(tmp_path):
    from bowsflow.data.vocabulary import Vocabulary

    vocab = Vocabulary([f"w{i}" for i in range(200)], [1] * 200, [1] * 200)
    write_vocabulary(vocab, tmp_path / "vocab.tsv")
    (tmp_path / "corpus_stats.json").write_text(json.dumps(vocabulary_record(vocab)))
    assert len(read_vocabulary(tmp_path / "vocab.tsv")) == 200
    lines = (tmp_path / "vocab.tsv").read_text().splitlines(keepends=True)
    (tmp_path / "vocab.tsv").write_text("".join(lines[:101]))  # cut at a line boundary: 100 words
    with pytest.raises(VocabularyError, match="100 words, but .* records 200"):
        read_vocabulary(tmp_path / "vocab.tsv")


def test_a_full_disk_names_the_path_being_written(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(OSError, match=f"no space left on the device while writing {target}") as err:
        with atomic_path(target):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert err.value.errno == errno.ENOSPC and not list(tmp_path.iterdir())


def test_a_rerun_removes_a_killed_jobs_leftovers_but_not_a_live_ones(tmp_path):
    target = tmp_path / "s.zarr"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale, live = tmp_path / f"s.zarr.tmp-{dead.pid}", tmp_path / f"s.zarr.tmp-{os.getppid()}"
    stale.mkdir()
    live.mkdir()
    with atomic_path(target) as tmp:
        tmp.write_text("x")
    assert not stale.exists() and live.exists() and target.read_text() == "x"


# ---------------------------------------------------------------------------------------------
# kill -9 mid-stage, then rerun: the same bytes as a run never interrupted

KILLED_EXTRACTION = r"""
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
import bowsflow.activations.extraction as extraction
real = extraction._save_progress
def save_then_wait(path, identity, done):
    real(path, identity, done)
    if done:  # the condition, not a count: progress.json on disk lists a finished chunk; kill us now
        print("ready", flush=True)
        import time; time.sleep(60)
extraction._save_progress = save_then_wait
extraction.extract_activations(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), extraction.ExtractOptions(device="cpu"))
"""


def run_and_kill(script, *args):
    proc = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_kill_9_during_extraction_then_rerun_gives_the_same_bytes(stores, tmp_path):
    import helpers

    out = tmp_path / "a.zarr"
    run_and_kill(
        KILLED_EXTRACTION, stores / "m.safetensors", stores / "bows.zarr", out, os.path.dirname(helpers.__file__)
    )
    assert not out.exists() and (tmp_path / "a.zarr.partial" / "progress.json").exists()
    # a kill in the middle of zarr's own write of a chunk leaves its temporary file: the resume removes it
    (tmp_path / "a.zarr.partial" / "latent" / "c" / "0" / "0.0123abcd.partial").write_bytes(b"cut off")
    extract_activations(stores / "m.safetensors", stores / "bows.zarr", out, ExtractOptions(device="cpu"))
    assert store_digest(out) == store_digest(stores / "acts.zarr")
    verify_store(out)


KILLED_TRAINING = r"""
import sys
from pathlib import Path
import bowsflow.models.training as training
real = training.cosine_lr
def slow(step, *args):
    if step == 20:
        print("ready", flush=True)
        import time; time.sleep(60)
    return real(step, *args)
training.cosine_lr = slow
cfg = training.TrainConfig(arch="relu_mlp", d_latent=3, d_hidden=5, steps=40, batch_size=32, threads=1, device="cpu")
result = training.train(Path(sys.argv[1]), cfg, workdir=Path(sys.argv[2]))
"""


@pytest.mark.slow
def test_kill_9_during_training_then_rerun_gives_the_same_checkpoint(stores, tmp_path):
    from bowsflow.models.checkpoints import save_checkpoint
    from bowsflow.models.training import TrainConfig, train

    run_and_kill(KILLED_TRAINING, stores / "bows.zarr", tmp_path)
    cfg = TrainConfig(arch="relu_mlp", d_latent=3, d_hidden=5, steps=40, batch_size=32, threads=1, device="cpu")
    paths = []
    for name in ("first", "second"):
        result = train(stores / "bows.zarr", cfg, workdir=tmp_path)
        save_checkpoint(result.model, tmp_path / f"{name}.safetensors", result.meta)
        paths.append(tmp_path / f"{name}.safetensors")
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


KILLED_BOWS = r"""
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import bowsflow.data.bows_store as bows_store
real = bows_store.rechunk_rows
def slow(blocks, n):
    for i, block in enumerate(real(blocks, n)):
        if i == 2:
            print("ready", flush=True)
            import time; time.sleep(60)
        yield block
bows_store.rechunk_rows = slow
from helpers import make_store
make_store(Path(sys.argv[1]), n=600, chunk=128)
"""


@pytest.mark.slow
def test_kill_9_while_building_a_bows_store_leaves_nothing_a_rerun_trusts(stores, tmp_path):
    import helpers

    out = tmp_path / "bows.zarr"
    run_and_kill(KILLED_BOWS, out, os.path.dirname(helpers.__file__))
    assert not out.exists() and [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # only a temporary
    make_store(out, n=600, chunk=128)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # the rerun removed the leftover
    a, b = zarr.open_group(str(out)), zarr.open_group(str(stores / "bows.zarr"))
    for name in ("bows", "split", "doc_id"):
        np.testing.assert_array_equal(np.asarray(a[name][:]), np.asarray(b[name][:]))
    verify_store(out)


KILLED_ANALYSIS = r"""
import sys
from pathlib import Path
import bowsflow.lenses.interaction.analysis as analysis
real = analysis.edge_strengths
def slow(*args, **kwargs):  # after the layers' bases, before the store is written
    print("ready", flush=True)
    import time; time.sleep(60)
analysis.edge_strengths = slow
d = Path(sys.argv[1])
analysis.analyze_interaction(activations=d / "acts.zarr", checkpoint=d / "m.safetensors", codes=d / "codes.zarr", store=Path(sys.argv[2]), options=analysis.InteractionOptions(jacobian_samples=200, edge_samples=200))
"""


@pytest.mark.slow
def test_kill_9_during_an_analysis_then_rerun_gives_the_same_store(stores, tmp_path):
    out = tmp_path / "interaction.zarr"
    run_and_kill(KILLED_ANALYSIS, stores, out)
    assert not out.exists()
    options = InteractionOptions(jacobian_samples=200, edge_samples=200)
    analyze_interaction(
        activations=stores / "acts.zarr",
        checkpoint=stores / "m.safetensors",
        codes=stores / "codes.zarr",
        store=out,
        options=options,
    )
    clean = tmp_path / "clean.zarr"
    analyze_interaction(
        activations=stores / "acts.zarr",
        checkpoint=stores / "m.safetensors",
        codes=stores / "codes.zarr",
        store=clean,
        options=options,
    )
    a, b = xr.open_zarr(out), xr.open_zarr(clean)
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values)
    verify_store(out)
