"""Every claim evaluated on a run: one row per comparison, with its verdict; written as
``claims.tsv`` (one line a row) and ``claims.json`` (the rows with their details)."""

from __future__ import annotations

import json
import logging
import math

from bowsflow.claims.registry import (
    NOT_TESTABLE,
    NOT_TESTABLE_ON_CORPUS,
    SKIPPED,
    Claim,
    ClaimOptions,
    Evidence,
    NotTestable,
    Skipped,
    registered_claims,
    verdict,
)
from bowsflow.claims.run import RunData

log = logging.getLogger(__name__)

COLUMNS = [
    "claim",
    "paper",
    "statement",
    "compared",
    "metric",
    "effect",
    "interval_low",
    "interval_high",
    "null",
    "ceiling",
    "p_value",
    "n",
    "n_counts",
    "min_n",
    "verdict",
    "reason",
]


def allowed_models(c: Claim, run: RunData, options: ClaimOptions) -> list[str]:
    """The models a claim may use: those ``claims.models`` names for it (each must exist), else all."""
    named = (options.models or {}).get(c.id)
    if named is None:
        return run.model_names
    missing = [m for m in named if m not in run.specs]
    if missing:
        raise Skipped(f"config key claims.models.{c.id} names models the config lacks: {', '.join(missing)}")
    return list(named)


def _row(c: Claim, ev: Evidence | None, verdict_: str, reason: str) -> dict:
    row = {
        "claim": c.id,
        "paper": c.paper,
        "statement": c.statement,
        "compared": ev.compared if ev else c.compares,
        "metric": c.metric,
        "effect": ev.effect if ev else None,
        "interval_low": ev.interval[0] if ev and ev.interval else None,
        "interval_high": ev.interval[1] if ev and ev.interval else None,
        "null": ev.null if ev else None,
        "ceiling": ev.ceiling if ev else None,
        "p_value": ev.p_value if ev else None,
        "n": ev.n if ev else 0,
        "n_counts": c.n_counts,
        "min_n": c.min_n,
        "verdict": verdict_,
        "reason": reason,
    }
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def evaluate_claims(run: RunData, options: ClaimOptions = ClaimOptions()) -> list[dict]:
    """Every included claim's comparisons with their verdicts, one row each, in registry order (the
    figure and the tables are drawn from these rows)."""
    claims = registered_claims()
    include = list(options.include) if options.include is not None else list(claims)
    unknown = [i for i in include if i not in claims]
    if unknown:
        raise ValueError(f"config key claims.include: unknown claim(s) {unknown}; known: {sorted(claims)}")
    rows = []
    for cid in include:
        c = claims[cid]
        log.info("claim %s", cid)
        try:
            evidence = c.function(run, options, allowed_models(c, run, options))
        except Skipped as err:
            rows.append(_row(c, None, SKIPPED, str(err)))
            continue
        except NotTestable as err:
            rows.append(_row(c, None, NOT_TESTABLE_ON_CORPUS if err.on_corpus else NOT_TESTABLE, err.reason))
            continue
        for ev in evidence:
            v, reason = verdict(c, ev, options.alpha)
            row = _row(c, ev, v, reason) | {"details": _jsonable(ev.details)}
            rows.append(row)
            log.info("  %s: %s (%s)", ev.compared, v, reason)
    return rows


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist"):
        return _jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_claims_tsv(rows: list[dict], path) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS, delimiter="\t", lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if row.get(k) is None else _fmt(row[k])) for k in COLUMNS})


def _fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else v


def write_claims_json(rows: list[dict], options: ClaimOptions, path) -> None:
    body = {
        "options": _jsonable(options.__dict__),
        "verdicts": "supported | not supported | underpowered | not testable | not testable on this corpus | skipped",
        "claims": rows,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(body, f, indent=1, sort_keys=False)
