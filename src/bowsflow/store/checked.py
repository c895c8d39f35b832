"""The one way in to a store bowsflow reads: checked on opening, and every read's damage named.

:func:`open_group` (zarr) and :func:`open_dataset` (lazy xarray) open a store after :func:`check_store`
(every array's metadata readable and equal to the consolidated copy; for a store written with every
chunk, no chunk file missing), and the arrays they open read their chunks through
:class:`NamingCodecPipeline`, zarr's own codec pipeline with one addition: when a chunk fails to decode
(a checksum that does not match, a truncated frame) or, in a store written with every chunk, is missing,
the error names the store, the array and the chunk (:class:`~bowsflow.store.integrity.StoreIntegrityError`)
instead of zarr's bare ``ValueError`` or a chunk of fill values. The check is zarr's; nothing is read twice
but the chunks of a batch that failed, once each, to find which one it was.

Every workflow script and every library function that reads a store opens it here (a test holds them to it).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from zarr.core.codec_pipeline import BatchedCodecPipeline

from bowsflow.store.integrity import INTEGRITY, StoreIntegrityError, check_chunks_present, check_metadata

_FIX = "the store is damaged: delete it and re-run the workflow to rebuild it"


def _where(byte_getter) -> str:
    """ "store: array 'name', chunk (i, j)" of a chunk's StorePath (a local store: its root and key)."""
    root = getattr(byte_getter.store, "root", byte_getter.store)
    path = str(byte_getter.path)
    name, _, key = path.partition("/c/")
    index = tuple(int(i) for i in key.split("/")) if key else ()
    return f"{root}: array {name!r}, chunk {index} (file {Path(str(root)) / path})"


class _MustExist:
    """A chunk's byte getter for a store written with every chunk: a chunk that is not there is damage,
    not fill values."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def get(self, prototype, byte_range=None):
        value = await self.inner.get(prototype, byte_range)
        if value is None:
            raise StoreIntegrityError(f"{_where(self.inner)} is missing; {_FIX}")
        return value


class NamingCodecPipeline(BatchedCodecPipeline):
    """zarr's batched codec pipeline; a chunk that fails to decode is named (see the module doc)."""

    every_chunk_written = False

    async def read_batch(self, batch_info, out, drop_axes=()):
        batch_info = list(batch_info)
        if self.every_chunk_written:
            batch_info = [(_MustExist(getter), *rest) for getter, *rest in batch_info]
        try:
            await super().read_batch(batch_info, out, drop_axes)
        except StoreIntegrityError:
            raise
        except Exception as err:
            if len(batch_info) == 1:
                raise StoreIntegrityError(f"{_where(batch_info[0][0])} does not decode ({err}); {_FIX}") from err
            for info in batch_info:  # which chunk of the batch it was
                try:
                    await super().read_batch([info], out, drop_axes)
                except Exception as one:
                    raise StoreIntegrityError(f"{_where(info[0])} does not decode ({one}); {_FIX}") from one
            raise


class EveryChunkCodecPipeline(NamingCodecPipeline):
    """For stores written with every chunk: a missing chunk is damage too."""

    every_chunk_written = True


def _register() -> None:
    from zarr.registry import register_pipeline

    register_pipeline(NamingCodecPipeline)
    register_pipeline(EveryChunkCodecPipeline)


_register()


def _pipeline_path(path: Path) -> str:
    """The pipeline for a store: every chunk required where the store says it wrote every chunk."""
    try:
        attrs = json.loads((path / "zarr.json").read_text()).get("attributes", {})
    except (OSError, ValueError):
        attrs = {}
    cls = EveryChunkCodecPipeline if attrs.get("integrity") == INTEGRITY else NamingCodecPipeline
    return f"{cls.__module__}.{cls.__qualname__}"


def check_store(path: str | Path) -> Path:
    """Raise :class:`StoreIntegrityError` naming what is wrong before anything is read: no such store,
    unreadable or changed metadata (:func:`~bowsflow.store.integrity.check_metadata`), a missing chunk
    file in a store written with every chunk. Lists files only. Returns the path."""
    path = Path(path)
    if not (path / "zarr.json").is_file():
        raise FileNotFoundError(f"{path}: no Zarr store there (no zarr.json)")
    check_metadata(path)
    check_chunks_present(path)
    return path


@contextlib.contextmanager
def _naming_pipeline(path: Path):
    import zarr

    with zarr.config.set({"codec_pipeline.path": _pipeline_path(path)}):
        yield


def open_group(path: str | Path):
    """A checked store as a read-only zarr group whose arrays name any damaged chunk they read."""
    import zarr

    path = check_store(path)
    with _naming_pipeline(path):
        group = zarr.open_group(str(path), mode="r")
        # arrays get their codec pipeline when they are opened: open them all here, inside the setting
        return _OpenedGroup(group, {name: group[name] for name in group.array_keys()})


def open_dataset(path: str | Path, **kwargs):
    """A checked store as a lazy xarray Dataset whose chunks name themselves when they do not decode."""
    import xarray as xr

    path = check_store(path)
    with _naming_pipeline(path):
        return xr.open_zarr(str(path), **kwargs)


class _OpenedGroup:
    """A read-only zarr group whose arrays were opened with the naming pipeline (``group[name]``,
    ``.attrs``, ``.arrays()``, ``.array_keys()`` and anything else of the group)."""

    def __init__(self, group, arrays: dict):
        self._group, self._arrays = group, arrays

    def __getitem__(self, name):
        return self._arrays[name] if name in self._arrays else self._group[name]

    def __contains__(self, name) -> bool:
        return name in self._arrays or name in self._group

    def arrays(self):
        return iter(self._arrays.items())

    def array_keys(self):
        return iter(self._arrays)

    def __getattr__(self, name):
        return getattr(self._group, name)
