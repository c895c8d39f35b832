"""Every claim's test can fail: its positive control (the claim holds by construction) comes out
``supported`` and its negative control (the claim fails by construction) does not, through the claim's own
metric and the one verdict rule; and a claim whose metric cannot fail is caught by its own controls."""

import numpy as np
import pytest

from bowsflow.claims.registry import (
    CLAIMS,
    CONTROLS,
    SUPPORTED,
    ClaimOptions,
    Evidence,
    claim,
    control,
    control_options,
    registered_claims,
    run_controls,
    verdict,
)

# the LLC claims' controls sample SGLD chains (about 10 s each): in the full suite only
SLOW_CONTROLS = ("llc.",)


@pytest.mark.parametrize(
    "claim_id",
    [
        pytest.param(c, marks=pytest.mark.slow) if c.startswith(SLOW_CONTROLS) else c
        for c in sorted(registered_claims())
    ],
)
def test_every_claim_has_both_controls_and_they_come_out_as_they_must(claim_id):
    c = registered_claims()[claim_id]
    assert set(CONTROLS[claim_id]) == {"positive", "negative"}, "a claim needs a positive and a negative control"
    options = control_options(ClaimOptions())
    for kind in ("positive", "negative"):
        evidence = CONTROLS[claim_id][kind].function(options)
        assert evidence, f"{kind} control gave no rows"
        verdicts = [verdict(c, ev, options.alpha)[0] for ev in evidence]
        if kind == "positive":
            assert all(v == SUPPORTED for v in verdicts), verdicts
        else:
            assert SUPPORTED not in verdicts, verdicts
    assert run_controls(c, options).passed


def test_the_controls_are_seeded():
    c = registered_claims()["bows.geometry_follows_coactivation"]
    a, b = run_controls(c, ClaimOptions()), run_controls(c, ClaimOptions())
    assert a.rows == b.rows


def test_a_metric_that_cannot_fail_is_caught_by_its_negative_control():
    """A claim whose metric says "supported" whatever its input (an interval always above 0) passes its
    positive control and fails its negative one: the scorecard then calls its rows unvalidated."""
    try:

        @claim(
            "test.blind",
            paper="p",
            statement="s.",
            compares="c",
            metric="m",
            direction="greater",
            min_n=1,
            n_counts="n",
        )
        def blind(run, options, names):
            return [Evidence("all", 1.0, 0.0, 10, (0.5, 1.5))]

        def measure(signal: float) -> list[Evidence]:
            return [Evidence(f"signal {signal}", 1.0, 0.0, 10, (0.5, 1.5))]  # ignores its input

        control("test.blind", "positive", "signal")(lambda options: measure(1.0))
        control("test.blind", "negative", "no signal")(lambda options: measure(0.0))
        outcome = run_controls(CLAIMS["test.blind"], ClaimOptions())
        assert not outcome.passed
        assert outcome.failures == ("negative control supported (supported)",)
    finally:
        CLAIMS.pop("test.blind", None)
        CONTROLS.pop("test.blind", None)


def test_the_shuffled_corpus_keeps_frequencies_and_loses_co_occurrence():
    from bowsflow.claims.controls import correlation, planted_corpus

    planted, shuffled = planted_corpus(0), planted_corpus(0, shuffled=True)
    np.testing.assert_array_equal(planted.X.sum(axis=0), shuffled.X.sum(axis=0))
    ids = planted.categories["topic0"]
    within = correlation(planted.X)[np.ix_(ids, ids)][np.triu_indices(ids.size, 1)]
    gone = correlation(shuffled.X)[np.ix_(ids, ids)][np.triu_indices(ids.size, 1)]
    # the topic words' correlation is about (0.25·0.35² − p²) / p(1 − p) ≈ 0.22; shuffled, its sampling
    # noise (sd 1/√6000 ≈ 0.013)
    assert within.mean() > 0.15 and abs(gone.mean()) < 0.02


def test_the_pca_model_reproduces_the_best_rank_m_covariance():
    from bowsflow.claims.controls import covariance, pca_model, planted_corpus

    X = planted_corpus(0).X
    W = pca_model(X, 8)
    C = covariance(X)
    vals = np.sort(np.linalg.eigvalsh(C))[::-1]
    # Eckart–Young: the residual's spectral norm is the (m + 1)-th eigenvalue
    assert np.linalg.norm(C - W.T @ W, 2) == pytest.approx(vals[8], rel=1e-8)
