"""The scorecard on small fake runs: verdicts, skipped and untestable claims, and the written tables."""

import csv
import json

import numpy as np
import pytest

from bowsflow.claims.registry import ClaimOptions
from bowsflow.claims.run import RunData
from bowsflow.claims.scorecard import COLUMNS, evaluate_claims, write_claims_json, write_claims_tsv
from bowsflow.report.plots import claims_figure

BASE = {"corpus": "c", "d_latent": 8, "lr": 0.003, "epochs": 5, "weight_decay": 0.0, "seed": 0}


def fake_run(tmp_path, losses: dict, params=(1000, 1010)) -> RunData:
    """Models ``{arch}-s{seed}`` with the given validation losses (metrics.json only)."""
    specs = {}
    for arch, values in losses.items():
        for seed, loss in enumerate(values):
            name = f"{arch}-s{seed}"
            # hidden blocks of 3·8·12 = 288 and 2·8·17 + 17 = 289 parameters: matched
            specs[name] = BASE | {"arch": arch, "seed": seed, "d_hidden": 12 if arch == "bilinear" else 17}
            d = tmp_path / "models" / name
            d.mkdir(parents=True)
            n_params = params[0] if arch == "bilinear" else params[1]
            (d / "metrics.json").write_text(json.dumps({"val_loss": loss, "n_parameters": n_params}))
    return RunData(tmp_path, specs, {"c": {"source": "text"}})


def rows_of(run, claim, **options):
    """The claim's rows, without the overall row (tested apart)."""
    rows = evaluate_claims(run, ClaimOptions(include=(claim,), **options))
    return [r for r in rows if r["compared"] != "overall"]


def test_a_clearly_better_bilinear_is_supported_with_its_welch_interval(tmp_path):
    run = fake_run(tmp_path, {"bilinear": [0.10, 0.11, 0.12], "relu_mlp": [0.20, 0.21, 0.22]})
    (row,) = rows_of(run, "bilinear.better_than_relu")
    assert row["verdict"] == "supported" and row["controls"] == "passed"
    assert row["effect"] == pytest.approx(0.10)
    assert row["n"] == 3 and row["interval_low"] < 0.10 < row["interval_high"]
    assert row["null"] == 0.0  # better, not "as good within a margin"
    # Welch's t by hand: both arms sd 0.01, se = √(2·0.01²/3), 4 degrees of freedom
    from scipy import stats

    se = np.sqrt(2 * 0.01**2 / 3)
    assert row["interval_high"] - 0.10 == pytest.approx(stats.t.ppf(0.975, 4) * se, rel=1e-9)
    assert row["p_value"] == pytest.approx(stats.t.sf(0.10 / se, 4), rel=1e-9)


def test_equal_losses_are_not_supported_and_identical_seeds_are_underpowered(tmp_path):
    run = fake_run(tmp_path, {"bilinear": [0.10, 0.11, 0.12], "relu_mlp": [0.105, 0.11, 0.115]})
    (row,) = rows_of(run, "bilinear.better_than_relu")
    assert row["verdict"] == "not supported"
    run = fake_run(tmp_path / "same", {"bilinear": [0.1, 0.1, 0.1], "relu_mlp": [0.2, 0.2, 0.2]})
    (row,) = rows_of(run, "bilinear.better_than_relu")
    assert row["verdict"] == "underpowered" and "no interval" in row["reason"]


def test_one_seed_per_arm_is_underpowered(tmp_path):
    run = fake_run(tmp_path, {"bilinear": [0.10], "relu_mlp": [0.20]})
    (row,) = rows_of(run, "bilinear.better_than_relu")
    assert row["verdict"] == "underpowered" and "n = 1" in row["reason"]


def test_unmatched_hidden_blocks_or_a_missing_arch_are_not_testable_with_the_reason(tmp_path):
    run = fake_run(tmp_path, {"bilinear": [0.1, 0.1, 0.1], "relu_mlp": [0.2, 0.2, 0.2]})
    for name in run.specs:
        if name.startswith("relu"):
            run.specs[name]["d_hidden"] = 24  # a hidden block of 408 against 288
    (row,) = rows_of(run, "bilinear.better_than_relu")
    assert row["verdict"] == "not testable" and "matched parameter counts" in row["reason"]
    (row,) = rows_of(run, "bows.linear_superposition.weight_decay")
    assert row["verdict"] == "not testable" and "weight_decay" in row["reason"]


def test_a_claim_naming_a_model_the_config_lacks_is_skipped_not_a_crash(tmp_path):
    run = fake_run(tmp_path, {"bilinear": [0.1], "relu_mlp": [0.2]})
    (row,) = rows_of(run, "bilinear.better_than_relu", models={"bilinear.better_than_relu": ["bilinear-s0", "nope"]})
    assert row["verdict"] == "skipped" and "nope" in row["reason"] and "claims.models" in row["reason"]


def test_an_unknown_claim_id_names_the_config_key(tmp_path):
    run = fake_run(tmp_path, {"relu_mlp": [0.2]})
    with pytest.raises(ValueError, match="claims.include"):
        evaluate_claims(run, ClaimOptions(include=("no.such",)))


def _polytope(tmp_path, name, crossings, layer="hidden_pre"):
    d = tmp_path / "analysis" / name
    d.mkdir(parents=True, exist_ok=True)
    transitions = {"positions": [-1, 0, 1], layer: {"crossings": np.asarray(crossings).tolist()}}
    (d / "polytope.json").write_text(json.dumps({"transitions": transitions, "monosemanticity": {"skipped": "x"}}))


def test_boundary_density_at_the_transition_is_bootstrapped_over_chains_with_its_profile(tmp_path):
    run = fake_run(tmp_path, {"relu_mlp": [0.2]})
    rng = np.random.default_rng(0)
    # chains of three equal-length segments: the transition (middle) crosses 2 more boundaries on average
    crossings = rng.poisson([1.0, 3.0, 1.0], size=(60, 3))
    _polytope(tmp_path, "relu_mlp-s0", crossings)
    (row,) = rows_of(run, "polytope.boundaries_track_documents")
    d = crossings[:, 1] - crossings[:, [0, 2]].mean(axis=1)
    assert row["n"] == 60 and row["effect"] == pytest.approx(d.mean()) and row["verdict"] == "supported"
    assert row["interval_low"] < row["effect"] < row["interval_high"]
    assert row["details"]["profile"]["0"] == pytest.approx(crossings[:, 1].mean())
    again = rows_of(run, "polytope.boundaries_track_documents")[0]
    assert (again["interval_low"], again["interval_high"]) == (row["interval_low"], row["interval_high"])


def test_several_rows_get_one_overall_verdict_after_holm(tmp_path):
    run = fake_run(tmp_path, {"relu_mlp": [0.2], "bilinear": [0.2]})
    rng = np.random.default_rng(1)
    _polytope(tmp_path, "relu_mlp-s0", rng.poisson([1.0, 3.0, 1.0], size=(60, 3)))  # a clear effect
    _polytope(tmp_path, "bilinear-s0", rng.poisson([1.0, 1.0, 1.0], size=(60, 3)))  # none
    rows = evaluate_claims(run, ClaimOptions(include=("polytope.boundaries_track_documents",)))
    assert [r["compared"] for r in rows][-1] == "overall"
    overall = rows[-1]
    assert overall["verdict"] == "partly supported" and overall["reason"].startswith("1 of 2 rows hold after Holm")
    p = sorted(r["p_value"] for r in rows[:-1])
    assert [x["p_holm"] for x in sorted(overall["details"]["rows"], key=lambda x: x["p_value"])] == pytest.approx(
        [min(1, 2 * p[0]), min(1, max(2 * p[0], p[1]))]
    )


def test_a_claim_whose_controls_fail_is_unvalidated_never_supported(tmp_path):
    from bowsflow.claims.registry import ControlOutcome

    run = fake_run(tmp_path, {"bilinear": [0.10, 0.11, 0.12], "relu_mlp": [0.20, 0.21, 0.22]})
    failed = ControlOutcome(False, ("negative control supported (supported)",), ())
    (row,) = evaluate_claims(
        run, ClaimOptions(include=("bilinear.better_than_relu",)), controls={"bilinear.better_than_relu": failed}
    )
    assert row["verdict"] == "unvalidated" and row["controls"] == "negative control supported (supported)"


def test_the_tables_carry_every_column_and_round_trip(tmp_path):
    run = fake_run(tmp_path, {"bilinear": [0.10, 0.11, 0.12], "relu_mlp": [0.20, 0.21, 0.22]})
    rows = evaluate_claims(
        run, ClaimOptions(include=("bilinear.better_than_relu", "bows.linear_superposition.bottleneck"))
    )
    write_claims_tsv(rows, tmp_path / "claims.tsv")
    write_claims_json(rows, ClaimOptions(), tmp_path / "claims.json")
    claims_figure(rows, tmp_path / "claims.png")
    with open(tmp_path / "claims.tsv") as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    assert list(table[0]) == COLUMNS
    assert [r["verdict"] for r in table] == ["supported", "not testable"]
    body = json.loads((tmp_path / "claims.json").read_text())
    assert body["claims"][0]["details"]["n_parameters"]["bilinear"] == [1000, 1000, 1000]
    assert table[0]["controls"] == "passed"
    assert {c["kind"] for c in body["claims"][0]["details"]["controls"]} == {"positive", "negative"}
    assert (tmp_path / "claims.png").read_bytes()[:4] == b"\x89PNG"


def test_a_claim_naming_a_layer_no_model_has_is_skipped_and_a_named_layer_narrows_it(tmp_path):
    run = fake_run(tmp_path, {"relu_mlp": [0.2]})
    _polytope(tmp_path, "relu_mlp-s0", np.tile([0, 5, 0], (40, 1)) + np.arange(40)[:, None] % 2)
    (row,) = rows_of(
        run, "polytope.boundaries_track_documents", layers={"polytope.boundaries_track_documents": ["hidden"]}
    )
    assert row["verdict"] == "skipped" and "claims.layers" in row["reason"] and "hidden_pre" in row["reason"]
    (row,) = rows_of(
        run, "polytope.boundaries_track_documents", layers={"polytope.boundaries_track_documents": ["hidden_pre"]}
    )
    assert row["compared"].startswith("layer hidden_pre") and row["verdict"] == "supported"
