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
            specs[name] = BASE | {"arch": arch, "seed": seed, "d_hidden": 4 if arch == "bilinear" else 6}
            d = tmp_path / "models" / name
            d.mkdir(parents=True)
            n_params = params[0] if arch == "bilinear" else params[1]
            (d / "metrics.json").write_text(json.dumps({"val_loss": loss, "n_parameters": n_params}))
    return RunData(tmp_path, specs, {"c": {"source": "text"}})


def rows_of(run, claim, **options):
    rows = evaluate_claims(run, ClaimOptions(include=(claim,), **options))
    return rows


def test_a_clearly_better_bilinear_is_supported_with_its_welch_interval(tmp_path):
    run = fake_run(tmp_path, {"bilinear": [0.10, 0.11, 0.12], "relu_mlp": [0.20, 0.21, 0.22]})
    (row,) = rows_of(run, "bilinear.matches_relu")
    assert row["verdict"] == "supported"
    assert row["effect"] == pytest.approx(0.10)
    assert row["n"] == 3 and row["interval_low"] < 0.10 < row["interval_high"]
    assert row["null"] == pytest.approx(-0.01 * 0.21)  # the 1% non-inferiority margin


def test_one_seed_per_arm_is_underpowered(tmp_path):
    run = fake_run(tmp_path, {"bilinear": [0.10], "relu_mlp": [0.20]})
    (row,) = rows_of(run, "bilinear.matches_relu")
    assert row["verdict"] == "underpowered" and "n = 1" in row["reason"]


def test_unmatched_parameter_counts_or_a_missing_arch_are_not_testable_with_the_reason(tmp_path):
    run = fake_run(tmp_path, {"bilinear": [0.1, 0.1, 0.1], "relu_mlp": [0.2, 0.2, 0.2]}, params=(1000, 2000))
    (row,) = rows_of(run, "bilinear.matches_relu")
    assert row["verdict"] == "not testable" and "matched parameter counts" in row["reason"]
    (row,) = rows_of(run, "bows.linear_superposition.weight_decay")
    assert row["verdict"] == "not testable" and "weight_decay" in row["reason"]


def test_a_claim_naming_a_model_the_config_lacks_is_skipped_not_a_crash(tmp_path):
    run = fake_run(tmp_path, {"bilinear": [0.1], "relu_mlp": [0.2]})
    (row,) = rows_of(run, "bilinear.matches_relu", models={"bilinear.matches_relu": ["bilinear-s0", "nope"]})
    assert row["verdict"] == "skipped" and "nope" in row["reason"] and "claims.models" in row["reason"]


def test_an_unknown_claim_id_names_the_config_key(tmp_path):
    run = fake_run(tmp_path, {"relu_mlp": [0.2]})
    with pytest.raises(ValueError, match="claims.include"):
        evaluate_claims(run, ClaimOptions(include=("no.such",)))


def _polytope(tmp_path, name, across, within):
    d = tmp_path / "analysis" / name
    d.mkdir(parents=True, exist_ok=True)
    kinds = {
        "across_documents": {"crossings_per_unit_length": list(across)},
        "within_document": {"crossings_per_unit_length": list(within)},
    }
    (d / "polytope.json").write_text(json.dumps({"paths": {"hidden_pre": kinds}, "monosemanticity": {"skipped": "x"}}))


def test_boundary_density_pools_paths_over_seeds_and_bootstraps_the_difference(tmp_path):
    run = fake_run(tmp_path, {"relu_mlp": [0.2, 0.2]})
    rng = np.random.default_rng(0)
    for name in ("relu_mlp-s0", "relu_mlp-s1"):
        _polytope(tmp_path, name, rng.normal(3.0, 1.0, 40), rng.normal(1.0, 1.0, 40))
    (row,) = rows_of(run, "polytope.boundaries_track_documents")
    assert row["n"] == 80 and row["verdict"] == "supported"
    assert row["interval_low"] < row["effect"] < row["interval_high"]
    assert 1.5 < row["effect"] < 2.5
    again = rows_of(run, "polytope.boundaries_track_documents")[0]
    assert (again["interval_low"], again["interval_high"]) == (row["interval_low"], row["interval_high"])


def test_the_tables_carry_every_column_and_round_trip(tmp_path):
    run = fake_run(tmp_path, {"bilinear": [0.10, 0.11, 0.12], "relu_mlp": [0.20, 0.21, 0.22]})
    rows = evaluate_claims(run, ClaimOptions(include=("bilinear.matches_relu", "bows.linear_superposition.bottleneck")))
    write_claims_tsv(rows, tmp_path / "claims.tsv")
    write_claims_json(rows, ClaimOptions(), tmp_path / "claims.json")
    claims_figure(rows, tmp_path / "claims.png")
    with open(tmp_path / "claims.tsv") as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    assert list(table[0]) == COLUMNS
    assert [r["verdict"] for r in table] == ["supported", "not testable"]
    body = json.loads((tmp_path / "claims.json").read_text())
    assert body["claims"][0]["details"]["bilinear"]["n_parameters"] == [1000, 1000, 1000]
    assert (tmp_path / "claims.png").read_bytes()[:4] == b"\x89PNG"


def test_a_claim_naming_a_layer_no_model_has_is_skipped_and_a_named_layer_narrows_it(tmp_path):
    run = fake_run(tmp_path, {"relu_mlp": [0.2]})
    _polytope(tmp_path, "relu_mlp-s0", np.arange(40.0), np.zeros(40))
    (row,) = rows_of(
        run, "polytope.boundaries_track_documents", layers={"polytope.boundaries_track_documents": ["hidden"]}
    )
    assert row["verdict"] == "skipped" and "claims.layers" in row["reason"] and "hidden_pre" in row["reason"]
    (row,) = rows_of(
        run, "polytope.boundaries_track_documents", layers={"polytope.boundaries_track_documents": ["hidden_pre"]}
    )
    assert row["compared"].startswith("layer hidden_pre") and row["verdict"] == "supported"
