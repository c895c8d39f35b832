"""One rule judges every claim; claims are entries in a registry."""

import math

import pytest

from bowsflow.claims.registry import (
    CLAIMS,
    NOT_SUPPORTED,
    NOT_TESTABLE_ON_CORPUS,
    SUPPORTED,
    UNDERPOWERED,
    Claim,
    Evidence,
    claim,
    registered_claims,
    verdict,
)


def _claim(direction="greater", min_n=10):
    return Claim("x.y", "paper", "statement", "what", "metric", direction, min_n, "things", lambda *a: [])


def test_too_few_samples_say_underpowered_whatever_the_effect():
    ev = Evidence("a vs b", effect=5.0, null=0.0, n=9, interval=(4.0, 6.0))
    assert verdict(_claim(min_n=10), ev)[0] == UNDERPOWERED
    assert verdict(_claim(min_n=9), ev)[0] == SUPPORTED


@pytest.mark.parametrize(
    "direction, interval, expected",
    [
        ("greater", (0.1, 0.3), SUPPORTED),
        ("greater", (-0.1, 0.3), NOT_SUPPORTED),
        ("greater", (-0.3, -0.1), NOT_SUPPORTED),
        ("less", (-0.3, -0.1), SUPPORTED),
        ("less", (-0.3, 0.1), NOT_SUPPORTED),
    ],
)
def test_an_interval_must_lie_wholly_on_the_claimed_side_of_the_null(direction, interval, expected):
    ev = Evidence("a", effect=sum(interval) / 2, null=0.0, n=100, interval=interval)
    assert verdict(_claim(direction), ev)[0] == expected


def test_a_p_value_decides_where_there_is_one():
    ev = Evidence("a", effect=0.4, null=0.1, n=50, p_value=0.01)
    assert verdict(_claim(), ev, alpha=0.05)[0] == SUPPORTED
    assert verdict(_claim(), ev, alpha=0.005)[0] == NOT_SUPPORTED
    below_null = Evidence("a", effect=0.0, null=0.1, n=50, p_value=0.01)
    assert verdict(_claim(), below_null)[0] == NOT_SUPPORTED


def test_an_exact_claim_needs_the_exact_value_or_its_stated_tolerance():
    assert verdict(_claim("equal", 1), Evidence("a", effect=4.0, null=4.0, n=5))[0] == SUPPORTED
    assert verdict(_claim("equal", 1), Evidence("a", effect=3.0, null=4.0, n=5))[0] == NOT_SUPPORTED
    assert verdict(_claim("equal", 1), Evidence("a", effect=4e-11, null=0.0, n=5, tolerance=1e-10))[0] == SUPPORTED
    assert verdict(_claim("equal", 1), Evidence("a", effect=2e-10, null=0.0, n=5, tolerance=1e-10))[0] == NOT_SUPPORTED


def test_an_interval_decides_before_a_p_value():
    # the interval straddles the null: a small one-sided p does not make it supported
    ev = Evidence("a", effect=0.4, null=0.0, n=50, interval=(-0.1, 0.9), p_value=0.04)
    assert verdict(_claim(), ev)[0] == NOT_SUPPORTED


def test_data_that_cannot_show_the_claim_say_so_first():
    ev = Evidence("a", effect=1.0, null=0.0, n=1, interval=(0.5, 2.0), not_testable="no cycle in the data")
    assert verdict(_claim(), ev) == (NOT_TESTABLE_ON_CORPUS, "no cycle in the data")


def test_no_interval_is_underpowered_not_supported():
    ev = Evidence("a", effect=1.0, null=0.0, n=100, interval=(math.nan, math.nan))
    assert verdict(_claim(), ev)[0] == UNDERPOWERED


def test_adding_a_claim_is_one_entry_and_one_function():
    before = dict(registered_claims())
    try:

        @claim(
            "test.toy", paper="p", statement="s", compares="c", metric="m", direction="greater", min_n=1, n_counts="n"
        )
        def toy(run, options, names):
            return [Evidence("all", 1.0, 0.0, 3, (0.5, 1.5))]

        assert registered_claims()["test.toy"].function is toy
        with pytest.raises(ValueError, match="registered twice"):
            claim(
                "test.toy",
                paper="p",
                statement="s",
                compares="c",
                metric="m",
                direction="greater",
                min_n=1,
                n_counts="n",
            )(toy)
        with pytest.raises(ValueError, match="direction"):
            claim("test.bad", paper="p", statement="s", compares="c", metric="m", direction="up", min_n=1, n_counts="n")
    finally:
        CLAIMS.pop("test.toy", None)
    assert registered_claims() == before


def test_a_claim_without_controls_does_not_pass_them_and_says_which_is_missing():
    from bowsflow.claims.registry import ClaimOptions, run_controls

    outcome = run_controls(_claim(), ClaimOptions())
    assert not outcome.passed and "no positive control" in outcome.summary and "no negative control" in outcome.summary


def test_a_control_that_raises_is_a_failed_control_named_with_its_error():
    from bowsflow.claims.registry import CONTROLS, ClaimOptions, control, run_controls

    try:
        control("x.y", "positive", "boom")(lambda options: 1 / 0)
        control("x.y", "negative", "fine")(lambda options: [Evidence("n", 0.0, 0.0, 100, (-1.0, 1.0))])
        outcome = run_controls(_claim(), ClaimOptions())
        assert not outcome.passed and outcome.failures == (
            "positive control raised ZeroDivisionError: division by zero",
        )
        with pytest.raises(ValueError, match="registered twice"):
            control("x.y", "negative", "again")(lambda options: [])
    finally:
        CONTROLS.pop("x.y", None)


def test_the_shipped_claims_cover_every_paper():
    ids = set(registered_claims())
    for prefix in ("bows.", "polytope.", "degeneracy.", "bilinear."):
        assert any(i.startswith(prefix) for i in ids), prefix
    assert {
        "bows.linear_superposition.weight_decay",
        "bows.linear_superposition.bottleneck",
        "bows.constructive_interference",
        "bows.constructive_interference.weight_decay",
        "bows.geometry_follows_coactivation",
        "bows.cycles",
        "bows.semantic_clusters",
        "polytope.boundaries_track_documents",
        "polytope.codes_more_monosemantic",
        "degeneracy.interaction_basis_sparser",
        "degeneracy.planted_counts",
        "degeneracy.basis_invariant",
        "degeneracy.modular",
        "bows.relu_filters_interference",
        "bilinear.better_than_relu",
        "bilinear.few_eigencomponents",
        "bilinear.exact_identity",
    } <= ids
    for c in registered_claims().values():
        assert c.statement.endswith(".") and c.metric and c.min_n >= 1
