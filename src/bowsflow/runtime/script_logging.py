"""Logging for workflow scripts: everything (our log records, warnings, tqdm on stderr) goes to the
rule's ``log:`` file, so a failed job leaves its story where Snakemake points."""

from __future__ import annotations

import logging
import sys


def log_to_file(path: str, level: int = logging.INFO) -> None:
    """Send logging, warnings and stderr to ``path`` (appending)."""
    stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the job
    sys.stderr = stream
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(stream)],
        force=True,
    )
    logging.captureWarnings(True)
