"""Claims as data: each paper's headline claim is one declarative :class:`Claim`, registered with its
metric function by :func:`claim`.

A metric function takes the run (:class:`bowsflow.claims.run.RunData`) and the options
(:class:`ClaimOptions`) and returns one :class:`Evidence` per comparison it makes (a list), or raises
:class:`NotTestable` (the config or the data cannot test it) or :class:`Skipped` (the config names a
model or layer it does not have). :func:`verdict` turns evidence into a verdict by one rule for every
claim, so a claim's author decides what is measured, never how it is judged.

Adding a claim: write the function in the module of its paper (``bows.py``, ``polytope.py``,
``degeneracy.py``, ``bilinear.py``) and decorate it with ``@claim(...)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from bowsflow.schema import schema_options

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
UNDERPOWERED = "underpowered"
NOT_TESTABLE = "not testable"
NOT_TESTABLE_ON_CORPUS = "not testable on this corpus"
SKIPPED = "skipped"
UNVALIDATED = "unvalidated"  # the row would be supported, but the claim's controls did not pass
PARTLY_SUPPORTED = "partly supported"  # an overall row: some of the claim's rows hold after Holm's correction
VERDICTS = (
    SUPPORTED,
    PARTLY_SUPPORTED,
    NOT_SUPPORTED,
    UNDERPOWERED,
    NOT_TESTABLE,
    NOT_TESTABLE_ON_CORPUS,
    SKIPPED,
    UNVALIDATED,
)
DIRECTIONS = ("greater", "less", "equal")


@schema_options("claims")
class ClaimOptions:
    """``claims`` of the config (defaults: the schema's)."""

    include: tuple | None  # None: every registered claim
    models: dict | None  # claim id -> the model names it may use (None: it chooses from the config)
    layers: dict | None  # claim id -> the layers it may use (claims over layers; None: all)
    confidence: float
    alpha: float
    n_resamples: int
    n_permutations: int
    min_contexts: int
    n_targets: int
    n_words: int
    seed: int


@dataclass(frozen=True)
class Claim:
    """One paper's claim as a test: ``metric`` (a name) measured by ``function``, expected to be
    ``direction`` of the null (``greater``, ``less``; ``equal``: exactly the expected value), judged
    ``underpowered`` below ``min_n`` (of ``n_counts``: contexts, words, seeds, …)."""

    id: str
    paper: str
    statement: str
    compares: str
    metric: str
    direction: str
    min_n: int
    n_counts: str
    function: Callable = field(repr=False, compare=False)


@dataclass
class Evidence:
    """What one comparison of a claim measured. ``interval`` is the effect's two-sided interval at the
    options' confidence (None where the claim rests on ``p_value`` alone or on an exact value); ``null`` is
    what the effect would be without the claimed structure; ``ceiling`` is the largest effect the measure
    allows (None where no such bound applies); ``n`` counts the claim's ``n_counts``. ``p_value`` is the
    one-sided p-value of the effect against the null (from the same resamples, t distribution or
    permutations as the interval): it decides the verdict where there is no interval, and it enters the
    claim's Holm correction over its rows. ``tolerance``: an ``equal`` claim holds when |effect − null| is
    at most this (0: an exact count)."""

    compared: str
    effect: float
    null: float
    n: int
    interval: tuple[float, float] | None = None
    ceiling: float | None = None
    p_value: float | None = None
    details: dict = field(default_factory=dict)
    not_testable: str | None = None  # why the data cannot show the claim (the verdict then says so)
    tolerance: float = 0.0


class NotTestable(Exception):
    """The config (``on_corpus=False``) or the corpus (``on_corpus=True``) cannot test the claim."""

    def __init__(self, reason: str, on_corpus: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.on_corpus = on_corpus


class Skipped(Exception):
    """The claim was told to use a model or layer the run does not have."""


@dataclass(frozen=True)
class Control:
    """A case built small where the claim holds by construction (``positive``: every row it gives must be
    ``supported``) or fails by construction (``negative``: no row may be ``supported``), run through the
    claim's own metric and :func:`verdict`. ``case`` says in one line what is built."""

    claim: str
    kind: str  # positive | negative
    case: str
    function: Callable = field(repr=False, compare=False)  # (ClaimOptions) -> list[Evidence]


@dataclass(frozen=True)
class ControlOutcome:
    """What a claim's controls gave: ``passed`` when the positive rows are all supported and no negative
    row is; ``failures`` names each control that did not do what it must (with its verdicts)."""

    passed: bool
    failures: tuple[str, ...]
    rows: tuple[dict, ...]  # kind, case, compared, effect, null, verdict, reason

    @property
    def summary(self) -> str:
        return "passed" if self.passed else "; ".join(self.failures)


CLAIMS: dict[str, Claim] = {}
CONTROLS: dict[str, dict[str, Control]] = {}  # claim id -> kind -> control
CONTROL_KINDS = ("positive", "negative")
# the modules that declare claims, one per paper, in the order the scorecard lists them
CLAIM_MODULES = ("bows", "polytope", "degeneracy", "bilinear", "llc")


def claim(
    id: str, *, paper: str, statement: str, compares: str, metric: str, direction: str, min_n: int, n_counts: str
):
    """Register the decorated metric function as the claim ``id`` (ids are unique)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"claim {id}: direction must be one of {DIRECTIONS}, got {direction!r}")

    def register(function: Callable) -> Callable:
        if id in CLAIMS:
            raise ValueError(
                f"claim {id!r} is registered twice ({CLAIMS[id].function.__module__} and {function.__module__})"
            )
        CLAIMS[id] = Claim(id, paper, statement, compares, metric, direction, min_n, n_counts, function)
        return function

    return register


def control(claim_id: str, kind: str, case: str):
    """Register the decorated function ``(options) -> list[Evidence]`` as the claim's ``kind`` control."""
    if kind not in CONTROL_KINDS:
        raise ValueError(f"control of {claim_id}: kind must be one of {CONTROL_KINDS}, got {kind!r}")

    def register(function: Callable) -> Callable:
        slot = CONTROLS.setdefault(claim_id, {})
        if kind in slot:
            raise ValueError(f"the {kind} control of {claim_id!r} is registered twice")
        slot[kind] = Control(claim_id, kind, case, function)
        return function

    return register


# a control is a small case with a large effect: this many resamples and permutations decide it (a p-value
# floor of 5e-4), whatever a run asks of its own claims
CONTROL_DRAWS = 1999


def control_options(options):
    """The options a claim's controls run with: the run's, their resamples and permutations capped."""
    import dataclasses

    return dataclasses.replace(
        options,
        n_resamples=min(options.n_resamples, CONTROL_DRAWS),
        n_permutations=min(options.n_permutations, CONTROL_DRAWS),
    )


def run_controls(c: Claim, options) -> ControlOutcome:
    """Run a claim's two controls through its metric and the verdict rule. A claim without both controls,
    or whose control raises, does not pass (the failure names which and why)."""
    controls = CONTROLS.get(c.id, {})
    options = control_options(options)
    failures, rows = [], []
    for kind in CONTROL_KINDS:
        ctl = controls.get(kind)
        if ctl is None:
            failures.append(f"no {kind} control")
            continue
        try:
            evidence = ctl.function(options)
        except Exception as err:  # a broken control is a failed control, named, not a crashed scorecard
            failures.append(f"{kind} control raised {type(err).__name__}: {err}")
            continue
        verdicts = []
        for ev in evidence:
            v, reason = verdict(c, ev, options.alpha)
            verdicts.append(v)
            rows.append(
                {
                    "kind": kind,
                    "case": ctl.case,
                    "compared": ev.compared,
                    "effect": ev.effect,
                    "null": ev.null,
                    "interval": list(ev.interval) if ev.interval else None,
                    "p_value": ev.p_value,
                    "verdict": v,
                    "reason": reason,
                }
            )
        if not verdicts:
            failures.append(f"{kind} control gave no rows")
        elif kind == "positive" and any(v != SUPPORTED for v in verdicts):
            failures.append(f"positive control not supported ({', '.join(verdicts)})")
        elif kind == "negative" and SUPPORTED in verdicts:
            failures.append(f"negative control supported ({', '.join(verdicts)})")
    return ControlOutcome(not failures, tuple(failures), tuple(rows))


def registered_claims() -> dict[str, Claim]:
    """Every claim shipped with bowsflow (importing the modules that declare them)."""
    import importlib

    for module in CLAIM_MODULES:  # importing a module registers its claims, in this order
        importlib.import_module(f"bowsflow.claims.{module}")
    return dict(CLAIMS)


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def verdict(c: Claim, ev: Evidence, alpha: float = 0.05) -> tuple[str, str]:
    """(verdict, reason) of one comparison. Below ``min_n``: underpowered. ``greater`` / ``less``:
    supported when the whole interval lies on the claimed side of the null; without an interval, when
    p < alpha and the effect lies on the claimed side. An interval that could not be formed (too few
    replicates, or no spread at all between them) is underpowered. ``equal``: supported when
    |effect − null| is at most the evidence's tolerance (0: an exact count against its planted value)."""
    if ev.not_testable:
        return NOT_TESTABLE_ON_CORPUS, ev.not_testable
    if ev.n < c.min_n:
        return UNDERPOWERED, f"n = {ev.n} {c.n_counts}, below the {c.min_n} this claim needs"
    if c.direction == "equal":
        ok = _finite(ev.effect) and abs(ev.effect - ev.null) <= ev.tolerance
        within = f" (tolerance {ev.tolerance:g})" if ev.tolerance else ""
        return (SUPPORTED if ok else NOT_SUPPORTED), f"measured {ev.effect:g}, expected {ev.null:g}{within}"
    sign = 1 if c.direction == "greater" else -1
    side = "above" if sign > 0 else "below"
    if ev.interval is None:
        if ev.p_value is None or not _finite(ev.p_value):
            return UNDERPOWERED, "neither an interval nor a p-value could be formed"
        significant = ev.p_value < alpha
        on_side = _finite(ev.effect) and sign * (ev.effect - ev.null) > 0
        reason = (
            f"p = {ev.p_value:.3g} {'<' if significant else '≥'} alpha {alpha:g}; effect {ev.effect:.4g} "
            f"{'' if on_side else 'not '}{side} the null {ev.null:.4g}"
        )
        return (SUPPORTED if significant and on_side else NOT_SUPPORTED), reason
    if not all(_finite(x) for x in ev.interval):
        return UNDERPOWERED, "no interval could be formed"
    lo, hi = ev.interval
    ok = (lo > ev.null) if sign > 0 else (hi < ev.null)
    return (
        SUPPORTED if ok else NOT_SUPPORTED
    ), f"interval [{lo:.4g}, {hi:.4g}] {'' if ok else 'not '}wholly {side} the null {ev.null:.4g}"
