"""The files a training run leaves (``results/models/{model}/``): metrics.tsv, metrics.json,
config.json, and the rows of the cross-model ``comparison.tsv``."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

METRICS_COLUMNS = ["step", "epoch", "train_loss", "val_loss", "lr", "samples_per_s"]
COMPARISON_COLUMNS = [
    "model",
    "corpus",
    "arch",
    "d_latent",
    "d_hidden",
    "n_parameters",
    "budget",
    "weight_decay",
    "val_loss",
    "recall",
    "false_positive_rate",
    "r2_median",
]


def write_metrics_tsv(history: list[dict], path: str | Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(METRICS_COLUMNS)
        for row in history:
            w.writerow(["" if isinstance(row[c], float) and math.isnan(row[c]) else row[c] for c in METRICS_COLUMNS])


def write_json(obj: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n", encoding="utf-8")


def comparison_rows(entries: list[tuple[str, dict, dict]], tolerance: float = 0.02) -> list[dict]:
    """One row per model from (name, config.json, metrics.json). ``budget`` groups models of the same
    corpus whose parameter counts lie within ``tolerance`` of the group's smallest: compare val_loss
    inside a group (equal parameter budgets)."""
    rows = []
    for name, cfg, metrics in entries:
        rows.append(
            {
                "model": name,
                "corpus": cfg["corpus"],
                "arch": cfg["arch"],
                "d_latent": cfg["d_latent"],
                "d_hidden": cfg.get("d_hidden") or 0,
                "n_parameters": metrics["n_parameters"],
                "weight_decay": cfg["weight_decay"],
                "val_loss": metrics["val_loss"],
                "recall": metrics["recall"],
                "false_positive_rate": metrics["false_positive_rate"],
                "r2_median": metrics["r2_median"],
            }
        )
    rows.sort(key=lambda r: (r["corpus"], r["n_parameters"], r["model"]))
    group, anchor, corpus = 0, None, None
    for r in rows:
        if corpus != r["corpus"] or anchor is None or r["n_parameters"] > anchor * (1 + tolerance):
            group += 1
            anchor, corpus = r["n_parameters"], r["corpus"]
        r["budget"] = f"B{group}"
    return rows


def write_comparison(rows: list[dict], path: str | Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COMPARISON_COLUMNS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
