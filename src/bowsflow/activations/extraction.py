"""Activation extraction: run a trained model over every sample of its BOWS store into a Zarr store.

``results/activations/{model}.zarr`` has one variable per layer, named after the architecture's
equations (its architecture's ``layer_dims``), with the BOWS store's ``sample`` axis — same order, same chunks — and its
``split`` and ``doc_id`` carried along. Work goes chunk by chunk, in three overlapping stages: reader
threads decompress the next two BOWS chunks, the model runs on this one in batches (on the model's
device; on a GPU the results are copied without blocking into page-locked host buffers), and writer
threads compress and store the ones before it; memory holds a few chunks, whatever the number of
samples. The store is written under ``<path>.partial`` with a ``progress.json`` of finished chunks: a
killed extraction, re-run, skips them and gives the same bytes as an uninterrupted run; the finished
store is renamed into place.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bowsflow import __version__
from bowsflow.data.batches import SparseBatch
from bowsflow.data.vocabulary import vocabulary_sha256
from bowsflow.models.checkpoints import CheckpointError, load_model
from bowsflow.models.registry import all_layers
from bowsflow.schema import schema_options, speed_only
from bowsflow.store.atomic import publish, sync_tree
from bowsflow.store.checked import open_dataset, open_group
from bowsflow.store.integrity import (
    INTEGRITY,
    checksummed,
    checksummed_encoding,
    chunk_path,
    writing_every_chunk,
)
from bowsflow.store.provenance import attrs_checksum, canonical_json, config_hash, sha256_file
from bowsflow.store.zarr_io import consolidate

log = logging.getLogger(__name__)


class ExtractionError(ValueError):
    """The checkpoint and the BOWS store do not go together, or the options are wrong."""


@schema_options("extract")
class ExtractOptions:
    """``extract`` of the config (defaults: the schema's)."""

    layers: tuple[str, ...] | str  # "all" or layer names
    dtype: str  # float32 | float16
    compressor: str  # lz4 (blosc, byte shuffle) | zstd | none
    compression_level: int
    batch_size: int
    device: str
    writer_threads: int

    # options that change only how fast the store is written, never what it holds (the schema marks
    # them): no part of the store's identity
    speed_only = speed_only("extract")


def layers_for(model_class, requested) -> tuple[str, ...]:
    """The stored layers of an architecture (its ``layer_dims``, in forward order) that ``requested``
    names (``all``: every one)."""
    available = tuple(model_class.layer_dims)
    if requested in ("all", None):
        return available
    known = all_layers()
    unknown = [name for name in requested if name not in known]
    if unknown:
        raise ExtractionError(f"extract.layers: unknown layer(s) {unknown}; layers are {sorted(known)}")
    return tuple(name for name in available if name in requested)


def _compressors(options: ExtractOptions):
    import zarr.codecs as codecs

    if options.compressor == "none":
        return checksummed(())
    if options.compressor == "zstd":
        return checksummed([codecs.ZstdCodec(level=options.compression_level)])
    if options.compressor == "lz4":
        return checksummed([codecs.BloscCodec(cname="lz4", clevel=options.compression_level, shuffle="shuffle")])
    raise ExtractionError(f"extract.compressor: expected zstd, lz4 or none, got {options.compressor!r}")


def _device(name: str) -> torch.device:
    from bowsflow.runtime.devices import resolve_device

    return resolve_device(name)


@torch.no_grad()
def chunk_activations(
    model, bows: np.ndarray, layers, batch_size: int, device: torch.device, dtype, host_buffers: dict | None = None
) -> "ChunkActivations":
    """Activations of the named layers for a block of BOWS rows: name → [n, width] host tensors.

    On a GPU the device-to-host copies go, without blocking, into page-locked buffers (``host_buffers``,
    name → [≥ n, width], reused by the caller; allocated here when not given): the call returns as soon
    as the work is queued, and :meth:`ChunkActivations.array` waits for it (in the writer thread), so
    the host prepares the next chunk while the device computes and copies this one.
    """
    n = bows.shape[0]
    cuda = device.type == "cuda"
    out: dict[str, torch.Tensor] = {}
    parts: dict[str, list] = {name: [] for name in layers}
    for lo in range(0, n, batch_size):
        idx, off, _, _ = SparseBatch.from_dense(bows[lo : lo + batch_size]).torch(device)
        acts = model.layers_from_latent(model.encode(idx, off))
        for name in layers:
            values = acts[name].to(dtype)
            if not cuda:
                parts[name].append(values)
                continue
            if name not in out:
                if host_buffers is not None and name in host_buffers and host_buffers[name].shape[0] >= n:
                    out[name] = host_buffers[name][:n]
                else:
                    out[name] = torch.empty((n, values.shape[1]), dtype=dtype, pin_memory=True)
                    if host_buffers is not None:
                        host_buffers[name] = out[name]
            out[name][lo : lo + values.shape[0]].copy_(values, non_blocking=True)
    if not cuda:  # one batch per chunk (the usual case) needs no copy at all
        return ChunkActivations({name: p[0] if len(p) == 1 else torch.cat(p) for name, p in parts.items()})
    ready = torch.cuda.Event()
    ready.record()
    return ChunkActivations(out, ready)


@dataclass
class ChunkActivations:
    """A chunk's activations on the host, possibly still being copied from the device (``ready``)."""

    tensors: dict[str, torch.Tensor]
    ready: object = None  # torch.cuda.Event, or None when the values are already there

    def array(self, name: str) -> np.ndarray:
        if self.ready is not None:
            self.ready.synchronize()
        return self.tensors[name].numpy()


def _read_chunk(bows_group, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.asarray(bows_group["bows"][lo:hi]),
        np.asarray(bows_group["split"][lo:hi]),
        np.asarray(bows_group["doc_id"][lo:hi]),
    )


def extract_activations(
    checkpoint: str | Path,
    bows_store: str | Path,
    out: str | Path,
    options: ExtractOptions = ExtractOptions(),
    stop_after_chunks: int | None = None,
    progress: bool = False,
) -> dict:
    """Write the activation store of a checkpoint over a BOWS store (resumable; see module doc).

    ``stop_after_chunks`` simulates a killed job (tests): it returns after that many new chunks,
    leaving the partial store to resume from.
    """
    try:
        with writing_every_chunk():
            return _extract_activations(checkpoint, bows_store, out, options, stop_after_chunks, progress)
    except OSError as err:
        if err.errno == errno.ENOSPC:  # name what was being written (the writer threads' errors name no file)
            partial = Path(out).with_name(Path(out).name + ".partial")
            raise OSError(
                errno.ENOSPC, f"no space left on the device while writing {partial} (free space and re-run: it resumes)"
            ) from err
        raise


def _extract_activations(checkpoint, bows_store, out, options, stop_after_chunks, progress) -> dict:
    import zarr

    t_start = time.perf_counter()
    checkpoint, bows_store, out = Path(checkpoint), Path(bows_store), Path(out)
    if not checkpoint.is_file():
        raise CheckpointError(f"{checkpoint}: no such checkpoint")
    model, meta = load_model(checkpoint)
    bows_group = open_group(bows_store)
    words = [str(w) for w in np.asarray(bows_group["word"][:])]
    if len(words) != model.vocab_size:
        raise ExtractionError(
            f"{bows_store}: vocabulary of {len(words)} words, but {checkpoint} was trained on V = {model.vocab_size}"
        )
    if meta.get("vocab_sha256") and meta["vocab_sha256"] != vocabulary_sha256(words):
        raise ExtractionError(f"{bows_store}: its vocabulary differs from the one {checkpoint} was trained on")
    arch = meta["arch"]
    layers = layers_for(type(model), options.layers)
    if not layers:
        raise ExtractionError(
            f"extract.layers: none of the requested layers exists in {arch} ({tuple(model.layer_dims)})"
        )
    device = _device(options.device)
    model = model.to(device).eval()
    torch_dtype = {"float32": torch.float32, "float16": torch.float16}[options.dtype]

    bows = bows_group["bows"]
    # The BOWS store's chunk boundaries; a store smaller than one chunk gets one chunk of its size
    # (zarr encodes whole chunks, so a mostly empty one would cost its full size in compression).
    n = int(bows.shape[0])
    chunk = min(int(bows.chunks[0]), n)
    n_chunks = -(-n // chunk)
    # what the stored values depend on: the batch size and the device change the float rounding
    content_options = {
        "layers": list(layers),
        "dtype": options.dtype,
        "compressor": options.compressor,
        "compression_level": options.compression_level,
        "batch_size": options.batch_size,
        "device": device.type,
    }
    provenance = {
        "config_hash": config_hash(content_options),
        "config": canonical_json(content_options),
        "input_checksums": canonical_json(
            {"checkpoint": sha256_file(checkpoint), "bows": attrs_checksum(dict(bows_group.attrs))}
        ),
        "checkpoint_path": str(checkpoint),
        "bows_store_path": str(bows_store),
        "model": meta.get("model", checkpoint.parent.name),
        "arch": arch,
        "layers": list(layers),
        "layer_shapes": json.dumps({name: [n, model.layer_width(name)] for name in layers}),
        "dtype": options.dtype,
        "compressor": options.compressor,
        "bowsflow_version": __version__,
        "integrity": INTEGRITY,
    }
    # a partial store resumes only when these match: the options the values depend on, and the inputs
    identity = {k: provenance[k] for k in ("config_hash", "config", "input_checksums", "integrity", "bowsflow_version")}
    partial = out.with_name(out.name + ".partial")
    progress_file = partial / "progress.json"
    done: set[int] = set()
    state = _read_progress(progress_file, partial) if progress_file.is_file() else None
    if state is not None:
        if state.get("identity") == identity:
            for stray in partial.rglob("*.partial"):  # zarr's own temporary chunk files, cut off by the kill
                stray.unlink()
            try:
                with warnings.catch_warnings():  # progress.json sits in the group: zarr notes it is no array
                    warnings.simplefilter("ignore")
                    group = zarr.open_group(str(partial), mode="r")
                    _check_partial_arrays(group, [*layers, "doc_id", "split"])
                    done = _trusted_chunks(group, set(state["done"]), chunk, partial)
            except Exception as err:  # noqa: BLE001  (its metadata or a whole array is damaged: trust none of it)
                log.warning("discarding %s: %s; extracting anew", partial, err)
                shutil.rmtree(partial)
                done = set()
            else:
                log.info("resuming %s: %d of %d chunks already written", partial, len(done), n_chunks)
        else:
            old = state.get("identity") or {}
            changed = _changed_options(old, identity)
            log.warning(
                "discarding %s: it was written under other settings or inputs (%s differ); extracting anew",
                partial,
                ", ".join(changed),
            )
            shutil.rmtree(partial)
    if not done:
        if partial.exists():
            shutil.rmtree(partial)
        _create_store(partial, model, layers, n, chunk, options, words, provenance)
    group = zarr.open_group(str(partial), mode="r+")

    from tqdm import tqdm

    bar = tqdm(total=n_chunks, initial=len(done), desc="extract", unit="chunk", disable=not progress)
    pending: deque = deque()  # (chunk, futures) written by the writer threads, oldest first

    syncing: deque = deque()  # (chunk, fsync futures): written, on their way to the disk

    def finish_oldest() -> None:
        """The oldest chunk's writes are done: its fsyncs go on while the writers take the next ones."""
        k_written, futures = pending.popleft()
        syncing.append((k_written, [f.result() for f in futures]))

    def synced_oldest() -> None:
        k_done, syncs = syncing.popleft()
        for s in syncs:
            s.result()
        done.add(k_done)
        _save_progress(progress_file, identity, done)  # only chunks whose every array is on disk
        bar.update(1)

    todo = [k for k in range(n_chunks) if k not in done]
    if stop_after_chunks is not None:
        todo = todo[:stop_after_chunks]
    # Where the main thread's time goes (logged; a slow stage shows up as the main thread waiting on it).
    seconds = {
        "setup": time.perf_counter() - t_start,
        "waiting_for_reader": 0.0,
        "computing": 0.0,
        "waiting_for_writers": 0.0,
    }
    # Three stages overlap: reader threads decompress chunks k+1 and k+2 of the BOWS store, the model
    # runs on chunk k (queued on the GPU when there is one), and writer threads compress and store the
    # chunks before it. Each writer can hold one chunk: memory stays a fixed number of chunks, and as
    # many chunks compress at once as there are writers (zarr encodes a chunk on one thread). On a GPU
    # the chunks' page-locked host buffers form a ring of one more than that: chunk i reuses chunk
    # i - ring's buffers, whose writes have finished (fixed pinned memory, and no page-locking cost
    # after the first round).
    in_flight = max(2, options.writer_threads)
    ring: list[dict] = [{} for _ in range(in_flight + 1)] if device.type == "cuda" else []
    reads_ahead = 2  # BOWS chunks being read while one computes (each a bool chunk: small beside the activations)
    with (
        ThreadPoolExecutor(max_workers=reads_ahead) as reader,
        ThreadPoolExecutor(max_workers=max(1, options.writer_threads)) as writers,
        ThreadPoolExecutor(max_workers=2) as syncer,
    ):
        bounds = [(k, k * chunk, min((k + 1) * chunk, n)) for k in todo]
        reads = deque(reader.submit(_read_chunk, bows_group, lo, hi) for _, lo, hi in bounds[:reads_ahead])
        for i, (k, lo, hi) in enumerate(bounds):
            t = time.perf_counter()
            rows, split, doc_id = reads.popleft().result()
            seconds["waiting_for_reader"] += time.perf_counter() - t
            if i + reads_ahead < len(bounds):
                reads.append(reader.submit(_read_chunk, bows_group, *bounds[i + reads_ahead][1:]))
            t = time.perf_counter()
            acts = chunk_activations(
                model, rows, layers, options.batch_size, device, torch_dtype, ring[i % len(ring)] if ring else None
            )
            seconds["computing"] += time.perf_counter() - t
            extra = {"split": split, "doc_id": doc_id}
            futures = [writers.submit(_write_layer, group, acts, name, lo, hi, syncer) for name in layers]
            futures += [writers.submit(_write, group, name, lo, hi, values, syncer) for name, values in extra.items()]
            pending.append((k, futures))
            t = time.perf_counter()
            while len(pending) > in_flight:
                finish_oldest()
            # record the chunks the disk already holds; wait only when it lags MAX_SYNCING chunks behind
            # (written chunks hold no memory)
            while syncing and (len(syncing) > MAX_SYNCING or all(s.done() for s in syncing[0][1])):
                synced_oldest()
            seconds["waiting_for_writers"] += time.perf_counter() - t
        t = time.perf_counter()
        while pending:
            finish_oldest()
        while syncing:
            synced_oldest()
        seconds["waiting_for_writers"] += time.perf_counter() - t
    bar.close()
    log.info(
        "extraction of %d chunks on %s: %s", len(todo), device, ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items())
    )
    if len(done) < n_chunks:  # stopped early (tests simulate a killed job this way)
        return {"n_chunks": n_chunks, "done": len(done), "stopped": True}
    t = time.perf_counter()
    progress_file.unlink(missing_ok=True)
    consolidate(partial)
    verify_before_publishing(partial)
    publish(partial, out)
    seconds["finishing"] = time.perf_counter() - t
    return {
        "n_chunks": n_chunks,
        "done": len(done),
        "stopped": False,
        "n_samples": n,
        "layers": list(layers),
        "seconds": seconds,
    }


# chunks written but not yet known to be on disk: their fsyncs run behind the writers
MAX_SYNCING = 8


def _write(group, name: str, lo: int, hi: int, values: np.ndarray, syncer) -> Future:
    """Store rows lo:hi of one array; returns the future of its chunk file's fsync (on ``syncer``)."""
    array = group[name]
    array[lo:hi] = values  # one whole chunk: zarr encodes and writes it once
    path = chunk_path(array, (lo // array.chunks[0],) + (0,) * (array.ndim - 1))
    # fsynced as it is written, apart from the writers: the disk's writeback overlaps the computation
    # of the next chunks (instead of one long fsync of the whole store before it is published), and
    # progress.json lists only chunks that are on disk
    return syncer.submit(sync_tree, path)


def _write_layer(group, acts: ChunkActivations, name: str, lo: int, hi: int, syncer) -> Future:
    return _write(group, name, lo, hi, acts.array(name), syncer)


def _read_progress(path: Path, partial: Path) -> dict | None:
    """The partial store's progress record, or None (the partial discarded, with a log line) when it does
    not read: cut short or altered, nothing in it can be trusted."""
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict) or not all(isinstance(k, int) for k in state["done"]):
            raise ValueError("not a progress record")
        state["identity"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("discarding %s: its progress.json does not read (%s); extracting anew", partial, err)
        shutil.rmtree(partial, ignore_errors=True)
        return None
    return state


def verify_before_publishing(partial: Path) -> None:
    """Check a finished partial store before it becomes the output: every array's metadata and the
    consolidated copy agree, no chunk file of any array is missing, and the arrays that are not along
    ``sample`` (the word coordinate, written when the store was created) decode with their checksums.
    The sample chunks were decoded at a resume or written by this run; what fails is named."""
    from bowsflow.store.checked import check_store, open_group

    check_store(partial)
    group = open_group(partial)
    for name, array in group.arrays():
        if (array.metadata.dimension_names or (None,))[0] != "sample":
            np.asarray(array[...])


def _save_progress(path: Path, identity: dict, done: set[int]) -> None:
    tmp = path.with_name("progress.json.tmp")
    tmp.write_text(json.dumps({"identity": identity, "done": sorted(done)}))
    os.replace(tmp, path)


def _changed_options(old: dict, new: dict) -> list[str]:
    """What differs between two identities: the content options one by one, then the rest."""
    changed = sorted(k for k in set(old) | set(new) if k not in ("config", "config_hash") and old.get(k) != new.get(k))
    try:
        before, after = json.loads(old.get("config", "{}")), json.loads(new["config"])
    except ValueError:
        return ["config", *changed]
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)) + changed


def _check_partial_arrays(group, expected: list[str]) -> None:
    """Raise when a partial store lacks an array it was created with (its metadata gone or unreadable) or
    an array written when it was created (not along ``sample``: the word coordinate) does not decode."""
    have = set(group.array_keys())
    missing = sorted(set(expected) - have)
    if missing:
        raise ValueError(f"its metadata lacks the arrays {missing}")
    for name, array in group.arrays():
        if (array.metadata.dimension_names or (None,))[0] != "sample":
            for index in np.ndindex(*array.cdata_shape):
                if not chunk_path(array, index).is_file():
                    raise ValueError(f"chunk {index} of array {name!r} is missing")
            np.asarray(array[...])


def _trusted_chunks(group, done: set[int], chunk: int, partial: Path) -> set[int]:
    """The chunks listed as done whose every array's chunk is on disk and decodes (checksum included);
    the others are extracted again, with a log line."""
    bad: set[int] = set()
    for name, array in group.arrays():
        if (array.metadata.dimension_names or (None,))[0] != "sample":
            continue  # the word coordinate: written whole when the store is created
        for k in sorted(done - bad):
            index = (k,) + (0,) * (array.ndim - 1)
            try:
                if not chunk_path(array, index).is_file():
                    raise FileNotFoundError("its file is missing")
                np.asarray(array.blocks[index])
            except Exception as err:  # noqa: BLE001  (missing or damaged: extract it again)
                log.warning("chunk %d of %s (%s) is listed as done but %s: extracting it again", k, partial, name, err)
                bad.add(k)
    return done - bad


def _create_store(
    path: Path, model, layers, n: int, chunk: int, options: ExtractOptions, words: list[str], attrs: dict
) -> None:
    """Write the store's metadata (arrays of the final shape, no data) with xarray."""
    import dask.array as da
    import xarray as xr

    data_vars, encoding = {}, {}
    compressors = _compressors(options)
    for name in layers:
        dim = model.layer_dims[name]
        shape = (n, model.layer_width(name))
        data_vars[name] = (("sample", dim), da.zeros(shape, chunks=(chunk, shape[1]), dtype=options.dtype))
        encoding[name] = {"chunks": (chunk, shape[1]), "compressors": compressors}
    data_vars["doc_id"] = (("sample",), da.zeros((n,), chunks=chunk, dtype=np.int64))
    encoding["doc_id"] = {"chunks": (chunk,), "compressors": checksummed()}
    coords = {}
    if "word" in {model.layer_dims[name] for name in layers}:
        coords["word"] = ("word", np.asarray(words, dtype=object))
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    ds.to_zarr(
        str(path),
        mode="w",
        compute=False,
        encoding=checksummed_encoding(ds, encoding),
        zarr_format=3,
        consolidated=False,
    )
    # split: variable-length strings, created directly (a lazy string array would be computed whole)
    import zarr

    zarr.open_group(str(path), mode="r+").create_array(
        "split",
        shape=(n,),
        chunks=(chunk,),
        dtype=str,
        dimension_names=["sample"],
        fill_value="",
        compressors=checksummed(),
    )


def open_activations(model: str, results: str | Path = "results"):
    """Lazy xarray Dataset of ``results/activations/{model}.zarr``; warns when the checkpoint it was
    extracted from has changed since."""

    path = Path(results) / "activations" / f"{model}.zarr"
    if not path.exists():
        raise FileNotFoundError(f"no activation store for model {model!r} at {path} (run: snakemake --cores 2 {path})")
    ds = open_dataset(path)
    checkpoint = Path(results) / "models" / model / "model.safetensors"
    # stores written before input_checksums held the checkpoint's sha256 as checkpoint_sha256
    extracted_from = json.loads(ds.attrs.get("input_checksums", "{}")).get(
        "checkpoint", ds.attrs.get("checkpoint_sha256")
    )
    if checkpoint.is_file() and sha256_file(checkpoint) != extracted_from:
        warnings.warn(
            f"{path} was extracted from an earlier version of {checkpoint}: re-run the workflow to refresh it",
            stacklevel=2,
        )
    return ds
