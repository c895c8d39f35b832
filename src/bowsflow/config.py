"""Config loading and validation, the same rules in and out of Snakemake.

The JSON schema (``schemas/config.schema.yaml``) is the one source of truth: the Snakefile applies it
with ``snakemake.utils.validate`` and :func:`validate_config` applies it here, filling defaults the same
way. :func:`check_config` adds the checks a schema cannot express (cross-references between keys).
Resolved, typed options come from :func:`bows_options` and friends, as frozen dataclasses.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from .stopwords import stopword_set
from .windows import WindowSpec

BOWS_KEYS = (
    "vocab_size lowercase stopwords always_include keep_numbers on_small_vocab window "
    "val_fraction split_by seed chunk_samples batch_bytes"
).split()


class ConfigError(ValueError):
    """The config is invalid; the message names the key."""


def schema_path() -> Path:
    """The config schema: installed with the package, or from the source tree."""
    packaged = resources.files("bowsflow") / "config.schema.yaml"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


def _default_filling_validator(schema: dict):
    from jsonschema import Draft202012Validator, validators

    validate_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, subschema)

    cls = validators.extend(Draft202012Validator, {"properties": set_defaults})
    return cls(schema)


def _key_path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def validate_config(config: dict, schema: str | Path | None = None) -> dict:
    """Validate ``config`` in place against the schema, filling defaults; raise ConfigError naming the key."""
    with open(schema or schema_path(), encoding="utf-8") as f:
        schema_doc = yaml.safe_load(f)
    validator = _default_filling_validator(schema_doc)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"config key {_key_path(e)}: {e.message}" for e in errors]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    check_config(config)
    return config


def load_config(path: str | Path) -> dict:
    """Read a YAML config file and validate it (defaults filled)."""
    with open(path, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    try:
        return validate_config(config)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def check_config(config: dict) -> None:
    """Checks beyond the schema, each naming the key at fault."""
    for name in config.get("corpora", {}):
        opts = resolved_bows(config, name)
        if len(opts["always_include"]) > opts["vocab_size"]:
            raise ConfigError(
                f"config key corpora.{name}: {len(opts['always_include'])} always_include words "
                f"do not fit in vocab_size = {opts['vocab_size']}"
            )


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
    return {k: v for k, v in config["corpora"][corpus].items() if k != "bows"}


@dataclass(frozen=True)
class TokenizerOptions:
    lowercase: bool
    stopwords: frozenset[str]
    keep_numbers: bool


def vocabulary_part(config: dict, corpus: str) -> dict:
    """The config that determines a corpus' vocabulary (its params in the workflow: a change re-counts)."""
    opts = resolved_bows(config, corpus)
    spec = corpus_spec(config, corpus)
    if spec["source"] == "synthetic":
        return {"corpus": spec}
    # counts are over the whole corpus: the window does not enter (changing it does not re-count)
    keys = ("vocab_size", "lowercase", "stopwords", "always_include", "keep_numbers", "on_small_vocab", "batch_bytes")
    return {"corpus": spec, **{k: opts[k] for k in keys}}


def store_part(config: dict, corpus: str) -> dict:
    """The config that determines a corpus' BOWS store (vocabulary part plus window and split)."""
    opts = resolved_bows(config, corpus)
    part = vocabulary_part(config, corpus)
    part |= {k: opts[k] for k in ("val_fraction", "split_by", "seed", "chunk_samples")}
    if part["corpus"]["source"] != "synthetic":  # synthetic samples are not windows of text
        part |= {"window": opts["window"], "batch_bytes": opts["batch_bytes"]}
    return part


def window_spec(options: dict) -> WindowSpec:
    w = options["window"]
    return WindowSpec(unit=w["unit"], size=int(w["size"]), stride=int(w["stride"]))


def tokenizer_options(options: dict) -> TokenizerOptions:
    return TokenizerOptions(
        lowercase=bool(options["lowercase"]),
        stopwords=stopword_set(options["stopwords"]),
        keep_numbers=bool(options["keep_numbers"]),
    )
