"""Integrity of the stores bowsflow writes: every chunk checksummed, every chunk present, and damage
named — the store, the array and the chunk — instead of fill values or NaN passed on.

Writing: every array gets a CRC-32C codec after its compressor (:func:`checksummed`; Zarr v3's
``crc32c`` codec, checked by zarr whenever a chunk is decoded) and every chunk is written, also one
that equals the fill value (:func:`writing_every_chunk`), so that a chunk file that is missing is
damage, not an empty chunk. Such stores carry ``integrity = "crc32c, every chunk written"``.

Reading: :func:`check_chunks_present` lists a store's chunk files against its chunk grid (cheap: no
data read); :func:`verify_store` also decodes every chunk (a truncated or altered one fails its
checksum) and compares an index form with its dense array (:mod:`bowsflow.store.index_form`).
Stores are read through :mod:`bowsflow.store.checked`, whose codec pipeline names a chunk that does not
decode. ``python -m bowsflow.store.integrity STORE…``
verifies stores from the shell.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from bowsflow.store.errors import StoreIntegrityError
from bowsflow.store.index_form import check_index_form

INTEGRITY = "crc32c, every chunk written"

__all__ = ["INTEGRITY", "StoreIntegrityError", "check_chunks_present", "check_metadata", "verify_store"]


def checksum_codec():
    import zarr.codecs

    return zarr.codecs.Crc32cCodec()


def default_compressors() -> tuple:
    """What bowsflow compresses with where nothing else is asked for (zstd, as zarr's default)."""
    import zarr.codecs

    return (zarr.codecs.ZstdCodec(level=0),)


def checksummed(compressors=None) -> tuple:
    """``compressors`` (default: :func:`default_compressors`; None or () for none) with the CRC-32C
    codec last, so the checksum covers the bytes as stored."""
    import zarr.codecs

    if compressors is None:
        compressors = default_compressors()
    # one checksum, last, however often this is applied (a second would cost a checksum and a copy per chunk)
    kept = tuple(c for c in compressors if not isinstance(c, zarr.codecs.Crc32cCodec))
    return (*kept, checksum_codec())


def checksummed_encoding(ds, encoding: dict | None = None) -> dict:
    """An xarray ``to_zarr`` encoding with every variable (data and coordinates) checksummed; the
    compressors a variable's own encoding names are kept."""
    encoding = {name: dict(spec) for name, spec in (encoding or {}).items()}
    for name in ds.variables:
        spec = encoding.setdefault(name, {})
        spec["compressors"] = checksummed(spec.get("compressors"))
    return encoding


@contextlib.contextmanager
def writing_every_chunk() -> Iterator[None]:
    """Zarr writes chunks equal to the fill value too (by default it skips them, which would make a
    missing chunk file indistinguishable from an empty chunk)."""
    import zarr

    with zarr.config.set({"array.write_empty_chunks": True}):
        yield


def chunk_path(array, index: tuple[int, ...]) -> Path:
    """The file of chunk ``index`` of an array on a local store."""
    key = array.metadata.encode_chunk_key(tuple(index))
    return Path(array.store.root) / array.path / key


def _arrays(group, prefix: str = ""):
    for name, member in group.members():
        import zarr

        if isinstance(member, zarr.Group):
            yield from _arrays(member, f"{prefix}{name}/")
        else:
            yield f"{prefix}{name}", member


def _chunk_grid(array) -> list[tuple[int, ...]]:
    grid = [math.ceil(s / c) if c else 0 for s, c in zip(array.shape, array.chunks)]  # an empty axis: no chunk
    return list(itertools.product(*(range(n) for n in grid)))


def _checked(group) -> bool:
    return group.attrs.get("integrity") == INTEGRITY


def _read_json(file: Path, store: Path) -> dict:
    import json

    try:
        return json.loads(file.read_bytes())
    except (OSError, ValueError) as err:
        raise StoreIntegrityError(
            f"{store}: metadata file {file} does not read as JSON ({err}); the store is damaged: delete it and "
            "re-run the workflow to rebuild it"
        ) from err


def check_metadata(path: str | Path) -> int:
    """Every ``zarr.json`` of a store reads as JSON, and each array's equals the copy consolidated into the
    group's (when there is one): a damaged or changed metadata file is named, not met later as a bare JSON
    error or, worse, read without complaint. Returns the number of metadata files checked."""
    path = Path(path)
    root = _read_json(path / "zarr.json", path)
    consolidated = (root.get("consolidated_metadata") or {}).get("metadata") or {}
    n = 1
    for file in sorted(path.rglob("zarr.json")):
        if file == path / "zarr.json":
            continue
        name = file.parent.relative_to(path).as_posix()
        meta = _read_json(file, path)
        n += 1
        if name in consolidated and consolidated[name] != meta:
            raise StoreIntegrityError(
                f"{path}: the metadata of array {name!r} ({file}) differs from the copy consolidated in "
                f"{path / 'zarr.json'}; the store is damaged or was changed: delete it and re-run the workflow"
            )
    missing = sorted(set(consolidated) - {f.parent.relative_to(path).as_posix() for f in path.rglob("zarr.json")})
    if missing:
        raise StoreIntegrityError(f"{path}: the metadata of {missing} is missing (listed in {path / 'zarr.json'})")
    return n


def check_chunks_present(path: str | Path) -> None:
    """Raise :class:`StoreIntegrityError` when a chunk file of a store written with every chunk is
    missing (stores written before bowsflow wrote every chunk are not checked: their missing chunks
    may be empty ones). Lists files only."""
    import zarr

    path = Path(path)
    if not path.is_dir():
        raise StoreIntegrityError(f"{path}: no such store")
    group = zarr.open_group(str(path), mode="r")
    if not _checked(group):
        return
    for name, array in _arrays(group):
        for index in _chunk_grid(array):
            if not chunk_path(array, index).is_file():
                raise StoreIntegrityError(_message(path, name, array, index, "is missing"))


def _message(path: Path, name: str, array, index, what: str) -> str:
    return (
        f"{path}: array {name!r}, chunk {tuple(index)} {what} (file {chunk_path(array, index)}); "
        f"the store is damaged: delete it and re-run the workflow to rebuild it"
    )


def verify_store(path: str | Path) -> int:
    """Check every chunk of a store: present, and decoding with a matching checksum. Returns the number
    of chunks checked; raises :class:`StoreIntegrityError` naming the first damaged one."""
    import numpy as np
    import zarr

    path = Path(path)
    check_metadata(path)
    check_chunks_present(path)
    group = zarr.open_group(str(path), mode="r")
    n = 0
    for name, array in _arrays(group):
        for index in _chunk_grid(array):
            try:
                np.asarray(array.blocks[index] if index else array[...])
            except Exception as err:  # noqa: BLE001  (any decoding failure is damage)
                raise StoreIntegrityError(_message(path, name, array, index, f"does not decode ({err})")) from err
            n += 1
    check_index_form(path)  # a store with an index form: it must equal the dense array it stands for
    return n


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m bowsflow.store.integrity STORE…``: verify each store; exit 1 when one is damaged."""
    status = 0
    for store in list(argv if argv is not None else sys.argv[1:]):
        try:
            n = verify_store(store)
            print(f"{store}: ok ({n} chunks)")
        except StoreIntegrityError as err:
            print(err)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
