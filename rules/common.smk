# Helpers shared by the rules: which corpora and models exist, the input functions (get_*), resource
# functions and the target lists. Reads and writes nothing.
import re

from bowsflow import config as bowsflow_config
from bowsflow.data.corpus import CorpusError, input_files
from bowsflow.models.registry import n_parameters
from bowsflow.schema import speed_only

CORPORA = sorted(config["corpora"])
SYNTHETIC_CORPORA = [
    c for c in CORPORA if config["corpora"][c]["source"] == "synthetic"
]
TEXT_CORPORA = [c for c in CORPORA if c not in SYNTHETIC_CORPORA]


def name_pattern(names):
    """Wildcard constraint matching exactly these names (nothing when the list is empty)."""
    return "|".join(names) if names else "(?!x)x"


def get_corpus_files(wildcards):
    """The files a text corpus reads: a change to any of them re-runs its stages."""
    spec = bowsflow_config.corpus_spec(config, wildcards.corpus)
    try:
        return [str(p) for p in input_files(spec, wildcards.corpus)]
    except CorpusError as err:
        raise WorkflowError(str(err)) from None


def bows_targets():
    return expand("results/bows/{corpus}/bows.zarr", corpus=CORPORA)


def bows_store_mem_mb(wildcards):
    """A chunk of bool rows, its encoded copy and a few batches in flight, plus the interpreter."""
    options = bowsflow_config.resolved_bows(config, wildcards.corpus)
    return 1000 + 3 * options["chunk_samples"] * options["vocab_size"] // 2**20


# Every model of the config (explicit ones and sweep points), training defaults filled in.
MODELS = bowsflow_config.model_specs(config)
# the lenses analyse these; replicates (other seeds of a model, replicate_seeds) are for the claims
LENS_MODELS = bowsflow_config.lens_models(MODELS)


# One constraint per wildcard, for every rule: a {model} or {corpus} is one the config names
# (rules narrow {corpus} further where text and synthetic corpora take different rules).
wildcard_constraints:
    model=name_pattern([re.escape(m) for m in MODELS]),
    corpus=name_pattern([re.escape(c) for c in CORPORA]),


def get_model_store(wildcards):
    return f"results/bows/{MODELS[wildcards.model]['corpus']}/bows.zarr"


def model_threads(wildcards):
    return MODELS[wildcards.model]["threads"]


def model_gpus(wildcards):
    """A GPU for the profile to place the job on, when the model asks for CUDA."""
    return 1 if MODELS[wildcards.model]["device"] == "cuda" else 0


def model_mem_mb(wildcards):
    """A store chunk, the model and its optimizer state, a batch of V-wide activations."""
    spec = MODELS[wildcards.model]
    options = bowsflow_config.resolved_bows(config, spec["corpus"])
    params = n_parameters(
        spec["arch"], options["vocab_size"], spec["d_latent"], spec.get("d_hidden", 0)
    )
    V = options["vocab_size"]
    batch = 8 * spec["batch_size"] * V * 4
    chunk = options["chunk_samples"] * V
    return 1500 + (16 * params + batch + chunk) // 2**20


def interaction_mem_mb(wildcards):
    """The model's own needs, plus a block of Jacobians and torch's forward-mode copies of it."""
    block = config["analysis"]["interaction"]["jacobian_block_mb"]
    return model_mem_mb(wildcards) + int(3 * block)


def model_targets():
    return expand("results/models/{model}/model.safetensors", model=sorted(MODELS))


def comparison_targets():
    return ["results/models/comparison.tsv"] if MODELS else []


# What the activation stores hold depends on these extract options; the speed-only ones go to the
# rule as resources, so changing them re-runs nothing.
EXTRACT_CONTENT_OPTIONS = {
    k: v for k, v in config["extract"].items() if k not in speed_only("extract")
}


def extract_gpus(wildcards):
    return 1 if config["extract"]["device"] == "cuda" else 0


def activation_targets():
    return expand("results/activations/{model}.zarr", model=LENS_MODELS)


def polytope_targets():
    return expand("results/analysis/{model}/polytope.json", model=LENS_MODELS)


def get_model_correlations(wildcards):
    return f"results/bows/{MODELS[wildcards.model]['corpus']}/correlations.zarr"


def correlations_mem_mb(wildcards):
    """A few V x V float64 matrices (correlation, cosine, their ranks) plus a chunk of samples."""
    corpus = (
        wildcards.corpus
        if "corpus" in wildcards.keys()
        else MODELS[wildcards.model]["corpus"]
    )
    options = bowsflow_config.resolved_bows(config, corpus)
    V = options["vocab_size"]
    return 1500 + (6 * 8 * V * V + 4 * options["chunk_samples"] * V) // 2**20


def geometry_targets():
    if not MODELS:
        return []
    return expand("results/analysis/{model}/geometry.json", model=LENS_MODELS) + [
        "results/analysis/geometry_summary.tsv"
    ]


def bilinear_targets():
    return expand(
        "results/analysis/{model}/bilinear.json",
        model=[m for m in LENS_MODELS if MODELS[m]["arch"] == "bilinear"],
    )


def interaction_targets():
    return expand("results/analysis/{model}/interaction.json", model=LENS_MODELS)


def llc_targets():
    """Every model the lenses analyse and their other seeds (the claims compare LLCs over seeds)."""
    return expand(
        "results/analysis/{model}/llc.json",
        model=[m for m in sorted(MODELS) if MODELS[m].get("lenses", True)],
    )


def summary_targets():
    return ["results/summary.tsv"] if MODELS else []


def model_corpora():
    """The corpora that some model trains on."""
    return sorted({spec["corpus"] for spec in MODELS.values()})


def claims_targets():
    return ["results/claims.tsv", "results/claims.json"] if MODELS else []
