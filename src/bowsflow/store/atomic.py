"""Write outputs to a temporary sibling path and rename on success.

An interrupted job leaves only ``<name>.tmp-<pid>`` behind, never a store or file at the real path that
a rerun could trust. Before the rename publishes an output, its files and folders are fsynced (so a
crash right after cannot leave a published store with chunks still in the page cache), and the parent
folder after it. A rerun removes the temporary siblings of its outputs that dead processes left.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(path: Path) -> None:
    """fsync every file and folder under ``path`` (a file: itself)."""
    if path.is_file():
        _fsync(path)
        return
    for folder, _, files in os.walk(path):
        for name in files:
            _fsync(Path(folder) / name)
        _fsync(Path(folder), directory=True)


def publish(tmp: Path, final: Path) -> None:
    """Make ``tmp`` (written in full) the output at ``final``: fsync it, replace ``final``, fsync the folder."""
    sync_tree(tmp)
    _remove(final)  # Snakemake may have created an empty directory() output
    os.replace(tmp, final)
    _fsync(final.parent, directory=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_temporaries(final: Path) -> list[Path]:
    """Remove ``<final>.tmp-<pid>`` siblings whose process is gone (a killed job's); live ones stay."""
    removed = []
    for tmp in final.parent.glob(f"{final.name}.tmp-*"):
        pid = tmp.name.rsplit(".tmp-", 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            _remove(tmp)
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success publish it at ``final``, else delete it."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
    except OSError as err:
        _remove(tmp)
        if err.errno == errno.ENOSPC:
            raise OSError(err.errno, f"no space left on the device while writing {final}") from err
        raise
    except BaseException:
        _remove(tmp)
        raise
    publish(tmp, final)
