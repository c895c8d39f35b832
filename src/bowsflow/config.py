"""The experiment's config as the workflow reads it: validation (the schema, then the checks a schema
cannot express, each naming its key), every model of the config with its defaults, and the parts of
the config that determine each output (a rule's params: a change there re-runs it).

The schema (:mod:`bowsflow.schema`) is the one source of defaults; the Snakefile validates with
:func:`validate_config`, as the library does.
"""

from __future__ import annotations

import copy
import functools
import itertools
import re
from pathlib import Path

import yaml

from bowsflow.schema import (
    ConfigError,
    coerce_yaml_numbers,
    error_message,
    schema_document,
    validate_against_schema,
)

__all__ = ["ConfigError", "coerce_yaml_numbers", "load_config", "model_specs", "validate_config"]


def validate_config(config: dict, schema: str | Path | None = None) -> dict:
    """Validate ``config`` in place against the schema, filling defaults; raise ConfigError naming the key.
    Numbers written as ``1e-9`` (strings to YAML 1.1) are read as numbers first (:func:`coerce_yaml_numbers`)."""
    validate_against_schema(config, schema)
    check_config(config)
    return config


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error (PyYAML keeps the last one
    silently: a second ``models:`` section would drop the first)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(
                    f"{self.name}: key {key!r} is given twice in one mapping, at lines {seen[key]} and "
                    f"{key_node.start_mark.line + 1} (YAML would keep only the last)"
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_config_file(path: str | Path) -> dict:
    """A YAML config file's content, read strictly: a duplicated key is a :class:`ConfigError` naming the
    file, the key and both lines (Snakemake's own loading would keep the last silently)."""
    with open(path, encoding="utf-8") as f:
        try:
            return yaml.load(f, Loader=_UniqueKeyLoader) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from None


def load_config(path: str | Path) -> dict:
    """Read a YAML config file and validate it (defaults filled)."""
    config = read_config_file(path)
    try:
        return validate_config(config)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def check_config(config: dict) -> None:
    """Checks beyond the schema, each naming the key at fault."""
    specs = model_specs(config)  # names, corpora, architectures and sweeps
    _check_extract_layers(config.get("extract", {}).get("layers", "all"), specs)
    interaction = config.get("analysis", {}).get("interaction", {})
    if interaction.get("integration", "gradient") == "gradient":
        for key, value in (("basis_formula", "(1-alpha)^2"), ("edge_formula", "functional")):
            if interaction.get(key) == value:
                raise ConfigError(
                    f"config key analysis.interaction.{key}: {value} needs an integration rule (integration: "
                    "trapezoidal or gauss_legendre); at the gradient's single point α = 1 it is zero"
                )
    if interaction.get("constant") == "isolate" and not interaction.get("centred"):
        raise ConfigError(
            "config key analysis.interaction.constant: isolate needs centred: true (the constant direction is "
            "an eigenvector of the Gram only when the activations are centred)"
        )
    for name in config.get("corpora", {}):
        opts = resolved_bows(config, name)
        if len(opts["always_include"]) > opts["vocab_size"]:
            raise ConfigError(
                f"config key corpora.{name}: {len(opts['always_include'])} always_include words "
                f"do not fit in vocab_size = {opts['vocab_size']}"
            )


def _check_extract_layers(layers, specs: dict) -> None:
    """extract.layers names layers some architecture stores, and at least one of each model's."""
    if layers in ("all", None):
        return
    from bowsflow.models.registry import all_layers, declarations

    unknown = sorted(set(layers) - set(all_layers()))
    if unknown:
        raise ConfigError(f"config key extract.layers: unknown layer(s) {unknown}; layers are {sorted(all_layers())}")
    for name, spec in specs.items():
        stored = tuple(declarations(spec["arch"])["layer_dims"])
        if not set(layers) & set(stored):
            raise ConfigError(
                f"config key extract.layers: none of {list(layers)} is a layer of model {name} ({spec['arch']}: {list(stored)})"
            )


# Longest file name a model's name goes into: results/activations/{model}.zarr.partial, and the
# temporary siblings that atomic writes add (".tmp-" and a process id); most file systems allow 255 bytes.
MODEL_NAME_BYTES = 255 - len(".zarr.partial") - len(".tmp-4194304")


def resolved_bows(config: dict, corpus: str) -> dict:
    """The bows options of one corpus: the top-level defaults with the corpus' own overrides."""
    base = copy.deepcopy(config.get("bows", {}))
    override = config["corpora"][corpus].get("bows", {}) or {}
    base.update(copy.deepcopy(override))
    return base


def corpus_spec(config: dict, corpus: str) -> dict:
    """The source spec of a corpus (without its bows overrides)."""
    if corpus not in config.get("corpora", {}):
        raise ConfigError(f"config key corpora.{corpus}: no such corpus (have: {sorted(config.get('corpora', {}))})")
    spec = {k: v for k, v in config["corpora"][corpus].items() if k != "bows"}
    if spec.get("bad_records") == "error":  # the default, as before the option existed: nothing re-counts
        del spec["bad_records"]
    return spec


def vocabulary_part(config: dict, corpus: str) -> dict:
    """The config that determines a corpus' vocabulary (its params in the workflow: a change re-counts)."""
    opts = resolved_bows(config, corpus)
    spec = corpus_spec(config, corpus)
    if spec["source"] == "synthetic":
        return {"corpus": spec}
    # counts are over the whole corpus: the window enters only as whether the token store keeps each
    # token's line (changing its size or stride does not re-count)
    keys = ("vocab_size", "lowercase", "stopwords", "always_include", "keep_numbers", "on_small_vocab", "batch_bytes")
    part = {"corpus": spec, **{k: opts[k] for k in keys}}
    return part | {"token_lines": True} if opts["window"]["unit"] == "lines" else part


def store_part(config: dict, corpus: str) -> dict:
    """The config that determines a corpus' BOWS store (vocabulary part plus window and split)."""
    opts = resolved_bows(config, corpus)
    part = vocabulary_part(config, corpus)
    part |= {k: opts[k] for k in ("val_fraction", "split_by", "seed", "chunk_samples")}
    if part["corpus"]["source"] != "synthetic":  # synthetic samples are not windows of text
        part |= {"window": opts["window"], "batch_bytes": opts["batch_bytes"]}
    return part


# Short, readable tags for sweep names: weight_decay=1.0 -> "wd1", d_latent=64 -> "m64".
SWEEP_TAGS = {
    "weight_decay": "wd",
    "d_latent": "m",
    "d_hidden": "d",
    "seed": "s",
    "lr": "lr",
    "batch_size": "bs",
    "epochs": "ep",
    "steps": "st",
    "arch": "",
    "loss": "",
    "output": "",
}
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _format_value(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}".replace("+", "")
    return str(value)


def sweep_model_names(sweep: str, grid: dict) -> list[tuple[str, dict]]:
    """(name, grid point) for every point of a sweep's grid, in grid order (last key fastest).

    The name is ``SWEEP-<tag><value>-…`` with the tags of :data:`SWEEP_TAGS` (other keys keep their name).
    """
    keys = list(grid)
    out = []
    for values in itertools.product(*(grid[k] for k in keys)):
        parts = [f"{SWEEP_TAGS.get(k, k)}{_format_value(v)}" for k, v in zip(keys, values)]
        out.append(("-".join([sweep, *parts]), dict(zip(keys, values))))
    return out


def model_specs(config: dict) -> dict[str, dict]:
    """Every model of the config — explicit ones and sweep points — as complete specs (training
    defaults filled in), checked: unique names, known corpora, a d_hidden where the arch needs one."""
    training = dict(config.get("training", {}))
    sources: dict[str, str] = {}
    raw: dict[str, dict] = {}
    for name, spec in (config.get("models") or {}).items():
        sources[name] = f"models.{name}"
        raw[name] = dict(spec)
    for sweep, body in (config.get("sweeps") or {}).items():
        for name, point in sweep_model_names(sweep, body["grid"]):
            if not MODEL_NAME.match(name):
                raise ConfigError(
                    f"config key sweeps.{sweep}: model name {name!r} is not a valid name (letters, digits, . _ -)"
                )
            if name in sources:
                raise ConfigError(f"config key sweeps.{sweep}: model name {name!r} clashes with {sources[name]}")
            sources[name] = f"sweeps.{sweep}"
            raw[name] = dict(body["base"]) | point
    specs = {}
    for name, spec in raw.items():
        key = sources[name]
        _check_model(spec, key, config)
        if len(name.encode()) > MODEL_NAME_BYTES:
            raise ConfigError(
                f"config key {key}: model name {name[:40]}… is {len(name.encode())} bytes; the files named after it "
                f"need it at most {MODEL_NAME_BYTES} bytes long"
            )
        specs[name] = training | spec
        for seed in spec.get("replicate_seeds", ()):
            # replicates: the same model with another seed, trained for the claims (no lenses run on them)
            replicate = f"{name}-s{seed}"
            if seed == specs[name]["seed"]:
                raise ConfigError(f"config key {key}.replicate_seeds: {seed} is the model's own seed")
            if replicate in raw or replicate in specs:
                raise ConfigError(
                    f"config key {key}.replicate_seeds: replicate name {replicate!r} clashes with a model"
                )
            if len(replicate.encode()) > MODEL_NAME_BYTES:
                raise ConfigError(
                    f"config key {key}.replicate_seeds: replicate name {replicate[:40]}… is longer than "
                    f"{MODEL_NAME_BYTES} bytes"
                )
            specs[replicate] = specs[name] | {"seed": seed, "replicate_of": name, "replicate_seeds": []}
    return specs


def training_spec(spec: dict) -> dict:
    """What a model's training depends on: its spec without the replicate bookkeeping (adding replicate
    seeds to a model does not retrain it)."""
    out = {k: v for k, v in spec.items() if k not in ("replicate_seeds", "replicate_of", "lenses")}
    if out.get("init") == "linear":  # the default, as before the option existed: no retraining for it
        del out["init"]
    return out


def lens_models(specs: dict[str, dict]) -> list[str]:
    """The models the lenses analyse: every model but the replicates (``replicate_seeds``) and those marked
    ``lenses: false``, sorted."""
    return sorted(name for name, spec in specs.items() if not spec.get("replicate_of") and spec.get("lenses", True))


@functools.lru_cache(maxsize=1)
def _model_validator():
    """The schema's model definition as a validator, built once (a DAG may hold hundreds of models)."""
    from bowsflow.schema import finite_validator

    return finite_validator({"$ref": "#/$defs/model", "$defs": schema_document()["$defs"]})


def _check_model(spec: dict, key: str, config: dict) -> None:
    errors = sorted(_model_validator().iter_errors(spec), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = ".".join([key, *map(str, e.absolute_path)])
        raise ConfigError(f"config key {where}: {error_message(e)}")
    # the registry (an architecture is one module of bowsflow.models), read without importing torch
    from bowsflow.models.registry import declarations, known_architectures

    if spec["arch"] not in known_architectures():
        raise ConfigError(
            f"config key {key}.arch: unknown architecture {spec['arch']!r} (have: {known_architectures()})"
        )
    if declarations(spec["arch"])["needs_hidden"] and "d_hidden" not in spec:
        raise ConfigError(f"config key {key}.d_hidden: {spec['arch']} needs a hidden size d_hidden")
    if spec["corpus"] not in config.get("corpora", {}):
        raise ConfigError(
            f"config key {key}.corpus: no corpus named {spec['corpus']!r} (have: {sorted(config.get('corpora', {}))})"
        )
