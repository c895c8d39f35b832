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
VERDICTS = (SUPPORTED, NOT_SUPPORTED, UNDERPOWERED, NOT_TESTABLE, NOT_TESTABLE_ON_CORPUS, SKIPPED)
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
    options' confidence (None where the claim rests on ``p_value`` or on an exact count); ``null`` is
    what the effect would be without the claimed structure; ``ceiling`` is the largest effect the data
    allow (None where no such bound applies); ``n`` counts the claim's ``n_counts``."""

    compared: str
    effect: float
    null: float
    n: int
    interval: tuple[float, float] | None = None
    ceiling: float | None = None
    p_value: float | None = None
    details: dict = field(default_factory=dict)
    not_testable: str | None = None  # why the data cannot show the claim (the verdict then says so)


class NotTestable(Exception):
    """The config (``on_corpus=False``) or the corpus (``on_corpus=True``) cannot test the claim."""

    def __init__(self, reason: str, on_corpus: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.on_corpus = on_corpus


class Skipped(Exception):
    """The claim was told to use a model or layer the run does not have."""


CLAIMS: dict[str, Claim] = {}
# the modules that declare claims, one per paper, in the order the scorecard lists them
CLAIM_MODULES = ("bows", "polytope", "degeneracy", "bilinear")


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


def registered_claims() -> dict[str, Claim]:
    """Every claim shipped with bowsflow (importing the modules that declare them)."""
    import importlib

    for module in CLAIM_MODULES:  # importing a module registers its claims, in this order
        importlib.import_module(f"bowsflow.claims.{module}")
    return dict(CLAIMS)


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def verdict(c: Claim, ev: Evidence, alpha: float = 0.05) -> tuple[str, str]:
    """(verdict, reason) of one comparison. Below ``min_n``: underpowered. ``greater`` / ``less``: with a
    p-value, supported when p < alpha and the effect lies on the claimed side of the null; otherwise
    supported when the whole interval does. ``equal``: supported when the effect equals the null
    (an exact count against its planted value)."""
    if ev.not_testable:
        return NOT_TESTABLE_ON_CORPUS, ev.not_testable
    if ev.n < c.min_n:
        return UNDERPOWERED, f"n = {ev.n} {c.n_counts}, below the {c.min_n} this claim needs"
    if c.direction == "equal":
        ok = _finite(ev.effect) and ev.effect == ev.null
        return (SUPPORTED if ok else NOT_SUPPORTED), f"measured {ev.effect:g}, expected {ev.null:g}"
    sign = 1 if c.direction == "greater" else -1
    side = "above" if sign > 0 else "below"
    if ev.p_value is not None:
        ok = _finite(ev.effect) and ev.p_value < alpha and sign * (ev.effect - ev.null) > 0
        return (SUPPORTED if ok else NOT_SUPPORTED), f"p = {ev.p_value:.3g} (alpha {alpha:g}), effect {side} null: {ok}"
    if ev.interval is None or not all(_finite(x) for x in ev.interval):
        return UNDERPOWERED, "no interval could be formed"
    lo, hi = ev.interval
    ok = (lo > ev.null) if sign > 0 else (hi < ev.null)
    return (
        SUPPORTED if ok else NOT_SUPPORTED
    ), f"interval [{lo:.4g}, {hi:.4g}] {'' if ok else 'not '}wholly {side} the null {ev.null:.4g}"
