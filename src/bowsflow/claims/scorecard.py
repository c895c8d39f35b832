"""Every claim evaluated on a run: one row per comparison, with its verdict; written as
``claims.tsv`` (one line a row) and ``claims.json`` (the rows with their details).

A claim's two controls (:func:`bowsflow.claims.registry.run_controls`) run beside it: a row whose claim's
controls did not pass is ``unvalidated``, never ``supported``, and the ``controls`` column says which
control failed. A claim tested on several rows (layers, models) gets one more row, ``overall``: Holm's
correction over the rows' one-sided p-values, each row tested at the level its own verdict uses (α for a
permutation test, (1 − confidence)/2 for an interval); ``supported`` when every row holds after the
correction, ``partly supported`` when some do, ``not supported`` when none does."""

from __future__ import annotations

import json
import logging
import math

import numpy as np

from bowsflow.claims.registry import (
    NOT_SUPPORTED,
    NOT_TESTABLE,
    NOT_TESTABLE_ON_CORPUS,
    PARTLY_SUPPORTED,
    SKIPPED,
    SUPPORTED,
    UNDERPOWERED,
    UNVALIDATED,
    VERDICTS,
    Claim,
    ClaimOptions,
    ControlOutcome,
    Evidence,
    NotTestable,
    Skipped,
    registered_claims,
    run_controls,
    verdict,
)
from bowsflow.claims.run import RunData
from bowsflow.claims.stats import holm

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
    "controls",
]
OVERALL = "overall"


def allowed_models(c: Claim, run: RunData, options: ClaimOptions) -> list[str]:
    """The models a claim may use: those ``claims.models`` names for it (each must exist), else all."""
    named = (options.models or {}).get(c.id)
    if named is None:
        return run.model_names
    missing = [m for m in named if m not in run.specs]
    if missing:
        raise Skipped(f"config key claims.models.{c.id} names models the config lacks: {', '.join(missing)}")
    return list(named)


def _row(c: Claim, ev: Evidence | None, verdict_: str, reason: str, controls: str = "") -> dict:
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
        "controls": controls,
    }
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def evaluate_claims(
    run: RunData, options: ClaimOptions = ClaimOptions(), controls: dict[str, ControlOutcome] | None = None
) -> list[dict]:
    """Every included claim's comparisons with their verdicts, one row each, in registry order, and an
    overall row where a claim has several (the figure and the tables are drawn from these rows).
    ``controls`` (claim id → outcome) are run here where not given."""
    claims = registered_claims()
    include = list(options.include) if options.include is not None else list(claims)
    unknown = [i for i in include if i not in claims]
    if unknown:
        raise ValueError(f"config key claims.include: unknown claim(s) {unknown}; known: {sorted(claims)}")
    controls = dict(controls or {})
    rows = []
    for cid in include:
        c = claims[cid]
        log.info("claim %s", cid)
        if cid not in controls:
            controls[cid] = run_controls(c, options)
        outcome = controls[cid]
        log.info("  controls: %s", outcome.summary)
        try:
            evidence = c.function(run, options, allowed_models(c, run, options))
        except Skipped as err:
            rows.append(_row(c, None, SKIPPED, str(err), outcome.summary))
            continue
        except NotTestable as err:
            kind = NOT_TESTABLE_ON_CORPUS if err.on_corpus else NOT_TESTABLE
            rows.append(_row(c, None, kind, err.reason, outcome.summary))
            continue
        mine = []
        for ev in evidence:
            v, reason = verdict(c, ev, options.alpha)
            if v == SUPPORTED and not outcome.passed:
                v, reason = UNVALIDATED, f"{reason}; but the controls did not pass ({outcome.summary})"
            row = _row(c, ev, v, reason, outcome.summary) | {"details": _jsonable(ev.details)}
            mine.append((ev, row))
            log.info("  %s: %s (%s)", ev.compared, v, reason)
        rows += [row for _, row in mine]
        if len(mine) >= 2:
            rows.append(overall_row(c, mine, options, outcome))
        if mine:
            rows[-1].setdefault("details", {})["controls"] = _jsonable(list(outcome.rows))
    return rows


def row_level(ev: Evidence, options: ClaimOptions) -> float:
    """The one-sided level a row's own verdict tests at: α for a p-value alone, (1 − confidence)/2 for a
    two-sided interval (its bound on the null's side)."""
    return options.alpha if ev.interval is None else (1 - options.confidence) / 2


def overall_row(c: Claim, mine: list[tuple[Evidence, dict]], options: ClaimOptions, outcome: ControlOutcome) -> dict:
    """One verdict for a claim tested on several rows (see the module doc). Rows that cannot be judged
    (untestable, underpowered, no p-value) stay out of the family and are counted apart; an ``equal``
    claim holds overall when every row does (no p-values: exact values)."""
    judged = [(ev, row) for ev, row in mine if row["verdict"] in (SUPPORTED, NOT_SUPPORTED, UNVALIDATED)]
    left_out = len(mine) - len(judged)
    details = {"n_rows": len(mine), "n_rows_left_out": left_out}
    if c.direction == "equal":
        held = sum(row["verdict"] in (SUPPORTED, UNVALIDATED) for _, row in judged)
        details["method"] = "every row must hold (exact values)"
    else:
        judged = [(ev, row) for ev, row in judged if ev.p_value is not None and math.isfinite(ev.p_value)]
        p = np.array([ev.p_value for ev, _ in judged])
        adjusted = holm(p)
        sign = 1 if c.direction == "greater" else -1
        passes = [
            bool(q < row_level(ev, options) and sign * (ev.effect - ev.null) > 0)
            for (ev, _), q in zip(judged, adjusted)
        ]
        held = sum(passes)
        details |= {
            "method": "Holm over the rows' one-sided p-values, each at its row's level",
            "rows": [
                {"compared": ev.compared, "p_value": ev.p_value, "p_holm": float(q), "holds": ok}
                for (ev, _), q, ok in zip(judged, adjusted, passes)
            ],
        }
    kinds = {row["verdict"] for _, row in mine}
    reasons = {row["reason"] for _, row in mine}
    if not judged and len(kinds) == 1 and kinds <= {NOT_TESTABLE_ON_CORPUS, UNDERPOWERED}:
        # every row says the same: the data cannot show it, or too little of it
        v = kinds.pop()
        reason = f"every row: {reasons.pop()}" if len(reasons) == 1 else f"every row is {v}"
        row = _row(c, None, v, reason, outcome.summary)
        row.update(compared=OVERALL, n=0, n_counts="rows judged", details=_jsonable(details))
        return row
    if not judged:
        v = UNDERPOWERED
    elif held == len(judged):
        v = SUPPORTED if outcome.passed else UNVALIDATED
    elif held:
        v = PARTLY_SUPPORTED if outcome.passed else UNVALIDATED
    else:
        v = NOT_SUPPORTED
    reason = f"{held} of {len(judged)} rows hold" + (" after Holm's correction" if c.direction != "equal" else "")
    if left_out:
        reason += f" ({left_out} rows could not be judged)"
    if v == UNVALIDATED:
        reason += f"; but the controls did not pass ({outcome.summary})"
    row = _row(c, None, v, reason, outcome.summary)
    row.update(compared=OVERALL, n=len(judged), n_counts="rows judged", details=_jsonable(details))
    return row


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
        "verdicts": " | ".join(VERDICTS),
        "claims": rows,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(body, f, indent=1, sort_keys=False)
