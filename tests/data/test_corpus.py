import gzip
import json
import os

import pytest

from bowsflow.config import resolved_bows, validate_config
from bowsflow.data.corpus import CorpusError, CorpusStats, checksum_files, input_files, iter_batches, iter_documents
from bowsflow.data.vocabulary import VocabularyError, corpus_vocabulary


def options(**over):
    cfg = validate_config({"corpora": {"c": {"source": "wiki-vital"}}, "bows": over})
    return resolved_bows(cfg, "c")


def test_text_one_document_per_file_and_per_block(tmp_path):
    (tmp_path / "a.txt").write_text("alpha beta\n\ngamma\n")
    with gzip.open(tmp_path / "b.txt.gz", "wt") as f:
        f.write("delta\n  \nepsilon")
    spec = {"source": "text", "path": str(tmp_path / "*.txt*"), "split_docs": "file"}
    assert list(iter_documents(spec)) == ["alpha beta\n\ngamma", "delta\n  \nepsilon"]
    spec["split_docs"] = "blank_line"
    assert list(iter_documents(spec)) == ["alpha beta", "gamma", "delta", "epsilon"]


def reference_blank_line_documents(path, stats):
    """The definition, line by line: a document is a run of non-blank lines (str.strip() is not empty),
    each decoded on its own (its invalid UTF-8 counted at that line)."""
    from bowsflow.data.corpus import _decode

    block = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            stats.n_bytes += len(raw)
            line = _decode(raw, f"{path}:{lineno}", stats)
            if line.strip():
                block.append(line)
            elif block:
                yield "".join(block)
                block = []
    if block:
        yield "".join(block)


def test_blank_line_blocks_equal_the_line_by_line_definition(tmp_path, monkeypatch):
    """Read in blocks (of 1 byte to 1 MiB: lines and documents cut across blocks), the documents, byte
    count and invalid UTF-8 locations equal the line-by-line reading on random bytes: CR, form feed,
    no-break space, U+2028, truncated and invalid sequences, a last line without its end."""
    import random

    import bowsflow.data.corpus as corpus

    rng = random.Random(0)
    alphabet = [
        b"a",
        b"b",
        b" ",
        b"\n",
        b"\n",
        b"\r",
        b"\t",
        b"\xc3\xa9",
        b"\xff",
        b"\xe2\x80\xa8",
        b"\x0c",
        b"\xc2\xa0",
        b"\xe2",
    ]
    path = tmp_path / "x.txt"
    for _ in range(1500):
        path.write_bytes(b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))))
        monkeypatch.setattr(corpus, "READ_BLOCK", rng.choice([1, 2, 3, 5, 8, 1 << 20]))
        expected_stats, stats = CorpusStats(), CorpusStats()
        expected = list(reference_blank_line_documents(path, expected_stats))
        assert list(corpus._blank_line_documents(path, stats)) == expected
        assert stats == expected_stats


@pytest.mark.parametrize(
    ("split", "read_block"), [("blank_line", 8 << 20), ("blank_line", 7), ("blank_line", 64), ("file", 8 << 20)]
)
def test_text_batches_hold_the_documents_in_order(tmp_path, monkeypatch, split, read_block):
    # small blocks: documents that span blocks and files
    import bowsflow.data.corpus as corpus
    from bowsflow.data.corpus import iter_text_batches

    monkeypatch.setattr(corpus, "READ_BLOCK", read_block)
    (tmp_path / "a.txt").write_text("alpha beta\n\ngamma\r\nkappa lambda mu\n \n\u00a0\ncafé δ\n" * 40)
    (tmp_path / "b.txt").write_text("\n\ndelta\n\u2028\nepsilon")
    spec = {"source": "text", "path": str(tmp_path / "*.txt"), "split_docs": split}
    stats, expected_stats = CorpusStats(), CorpusStats()
    batches = list(iter_text_batches(spec, "c", stats, max_bytes=50))
    expected = list(iter_documents(spec, "c", expected_stats))
    assert [d for b in batches for d in b] == expected and len(batches) > 1
    # cut once the documents' characters reach max_bytes
    assert [len(b) for b in batches] == [len(b) for b in iter_batches(iter(expected), 50)]
    assert stats == expected_stats


def test_missing_path_and_empty_glob_name_the_key(tmp_path):
    spec = {"source": "text", "path": str(tmp_path / "nothing" / "*.txt")}
    with pytest.raises(CorpusError, match=r"corpora\.mine\.path: no file matches"):
        input_files(spec, "mine")
    with pytest.raises(CorpusError, match="no file matches"):
        list(iter_documents({"source": "text", "path": str(tmp_path / "missing.txt")}, "mine"))


def test_empty_corpus_is_a_clear_error(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "punct.txt").write_text("... --- !!!")
    for name in ("empty.txt", "punct.txt"):
        spec = {"source": "text", "path": str(tmp_path / name), "split_docs": "blank_line"}
        with pytest.raises(VocabularyError, match=r"corpora\.c: the corpus is empty"):
            corpus_vocabulary(spec, "c", options())


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"good words \xff\xfe here caf\xc3\xa9 \xc3 end")
    stats = CorpusStats()
    docs = list(iter_documents({"source": "text", "path": str(tmp_path / "bad.txt")}, "c", stats))
    assert docs == ["good words \ufffd\ufffd here café \ufffd end"]
    assert stats.invalid_utf8_replaced == 3
    assert stats.invalid_utf8_locations == [str(tmp_path / "bad.txt")]
    # streamed line by line (blank_line documents), the location names the line
    (tmp_path / "bad.txt").write_bytes(b"fine line\n\nsecond \xff block\n")
    stats = CorpusStats()
    spec = {"source": "text", "path": str(tmp_path / "bad.txt"), "split_docs": "blank_line"}
    assert list(iter_documents(spec, "c", stats)) == ["fine line", "second \ufffd block"]
    assert stats.invalid_utf8_replaced == 1 and stats.invalid_utf8_locations == [f"{tmp_path / 'bad.txt'}:3"]


def test_binary_file_is_rejected_with_its_name(tmp_path):
    (tmp_path / "img.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    for split in ("file", "blank_line"):
        spec = {"source": "text", "path": str(tmp_path / "img.txt"), "split_docs": split}
        with pytest.raises(CorpusError, match=r"img\.txt: looks like a binary file"):
            list(iter_documents(spec))


@pytest.mark.slow
def test_single_50mb_line(tmp_path):
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    line = " ".join(words[i % 5] for i in range(50_000_000 // 6))
    (tmp_path / "long.txt").write_text(line)
    assert (tmp_path / "long.txt").stat().st_size >= 49_000_000
    spec = {"source": "text", "path": str(tmp_path / "long.txt")}
    vocab, stats = corpus_vocabulary(spec, "c", options(vocab_size=5))
    assert sorted(vocab.words) == sorted(words)
    assert sum(vocab.counts) == 50_000_000 // 6
    assert vocab.doc_freqs == [1] * 5 and stats.n_documents == 1


def test_jsonl_text_field_and_bad_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"body": "one two"}) + "\n\n" + json.dumps({"body": "three"}) + "\n")
    spec = {"source": "jsonl", "path": str(path), "text_field": "body"}
    assert list(iter_documents(spec)) == ["one two", "three"]
    with pytest.raises(CorpusError, match=r"line 1: the text field 'text' is missing"):
        list(iter_documents({"source": "jsonl", "path": str(path)}, "c"))
    path.write_text('{"body": "ok"}\n{oops\n')
    with pytest.raises(CorpusError, match=r"d\.jsonl, line 2: not valid JSON"):
        list(iter_documents(spec))


def _write_parquet(path, texts, column="text"):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({column: texts, "other": list(range(len(texts)))}), path)


def test_parquet_source(tmp_path):
    _write_parquet(tmp_path / "d.parquet", ["first doc", "second doc"])
    spec = {"source": "parquet", "path": str(tmp_path / "*.parquet"), "text_field": "text"}
    assert list(iter_documents(spec)) == ["first doc", "second doc"]
    with pytest.raises(CorpusError, match="no column 'body'"):
        list(iter_documents(spec | {"text_field": "body"}))


def test_huggingface_source_offline_with_local_parquet(tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    rows = [" = Alpha = ", "alpha text", "more alpha", " = Beta = ", "beta text", " = = Sub = = ", "sub text"]
    _write_parquet(tmp_path / "train.parquet", rows)
    spec = {"source": "huggingface", "name": "parquet", "data_files": str(tmp_path / "train.parquet"), "split": "train"}
    assert list(iter_documents(spec)) == rows
    docs = list(iter_documents(spec | {"rows_as": "lines"}))
    assert docs == [" = Alpha = \nalpha text\nmore alpha", " = Beta = \nbeta text\n = = Sub = = \nsub text"]


def test_wiki_vital_reads_the_bundled_summaries():
    docs = iter_documents({"source": "wiki-vital"})
    first = [next(docs) for _ in range(3)]
    assert all(isinstance(d, str) and len(d) > 50 for d in first)
    path = input_files({"source": "wiki-vital"})[0]
    assert path.name == "summaries_en-us.json" and os.path.getsize(path) > 4_000_000


def test_checksum_changes_with_content(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("one")
    before = checksum_files([p])
    p.write_text("two")
    assert checksum_files([p]) != before


def test_the_records_checksum_follows_content_and_names_not_modification_times(tmp_path):
    from bowsflow.data.corpus import file_records, records_checksum

    p = tmp_path / "a.txt"
    p.write_text("one")
    before = records_checksum(file_records([p]))
    os.utime(p, ns=(1, 1))  # touched: the same text
    assert records_checksum(file_records([p])) == before
    p.write_text("two")
    assert records_checksum(file_records([p])) != before
    q = tmp_path / "b.txt"
    q.write_text("two")
    assert records_checksum(file_records([q])) != records_checksum(file_records([p]))  # the name counts
