"""The config schema (``schemas/config.schema.yaml``): the one source of every config default.

This is the bottom layer: it reads the schema, validates a config against it (filling defaults the
way ``snakemake.utils.validate`` does), and hands each library options class its section's defaults
(:func:`section_defaults`), so that calling the library directly gives what the workflow gives.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """The config is invalid; the message names the key."""


def schema_path() -> Path:
    """The config schema of this checkout (``schemas/config.schema.yaml``; the workflow runs from a
    checkout, and the library is installed from it in editable mode)."""
    path = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"config schema not found at {path}: install bowsflow from its checkout (pip install -e .)"
        )
    return path


def _finite_number(checker, instance) -> bool:
    """JSON Schema's number, finite: YAML's .nan and .inf read as floats, which no config key means."""
    import math

    from jsonschema import Draft202012Validator

    return Draft202012Validator.TYPE_CHECKER.is_type(instance, "number") and math.isfinite(instance)


def finite_validator(schema: dict):
    """A Draft 2020-12 validator of ``schema`` whose numbers must be finite."""
    from jsonschema import Draft202012Validator, validators

    finite = Draft202012Validator.TYPE_CHECKER.redefine("number", _finite_number)
    return validators.extend(Draft202012Validator, type_checker=finite)(schema)


def error_message(error) -> str:
    """A validation error's message (a non-finite number said so)."""
    return _message(error)


def _default_filling_validator(schema: dict):
    from jsonschema import Draft202012Validator, validators

    validate_properties = Draft202012Validator.VALIDATORS["properties"]
    finite = Draft202012Validator.TYPE_CHECKER.redefine("number", _finite_number)

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, subschema)

    cls = validators.extend(Draft202012Validator, {"properties": set_defaults}, type_checker=finite)
    return cls(schema)


def _key_path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


# YAML 1.1 (PyYAML, and so Snakemake's config files and --config) reads a float only with a dot and a
# signed exponent: 1e-9, 1E5 and 1.0e5 stay strings, though YAML 1.2 and every researcher read them as
# numbers. Where the schema wants a number, such a string is taken as one.
_EXPONENT_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _numbers_for_strings(validator, instance) -> list[tuple[list, int | float]]:
    """(path, number) for each string like ``1e-9`` at a place where ``validator`` wants a number."""
    fixes = []
    for error in validator.iter_errors(instance):
        for e in [error, *error.context]:  # anyOf/oneOf branches report their own type errors
            wanted = e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]
            if (
                e.validator != "type"
                or not isinstance(e.instance, str)
                or not _EXPONENT_NUMBER.fullmatch(e.instance.strip())
            ):
                continue
            value = float(e.instance)
            if "number" in wanted:
                fixes.append((list(e.absolute_path), value))
            elif "integer" in wanted and value.is_integer():
                fixes.append((list(e.absolute_path), int(value)))
    return [(path, value) for path, value in fixes if path]


def _load_schema(schema: str | Path | None) -> dict:
    with open(schema or schema_path(), encoding="utf-8") as f:
        return yaml.safe_load(f)


def coerce_yaml_numbers(config: dict, schema: str | Path | dict | None = None) -> list[str]:
    """Turn strings like ``1e-9`` into numbers, in place, where the schema (a path, or the parsed
    document) wants a number (or an integer, when the value is whole) — sweep grid values included,
    by the model key they set; returns the keys changed. Anything else is left for validation to report."""
    from jsonschema import Draft202012Validator

    schema_doc = schema if isinstance(schema, dict) else _load_schema(schema)
    changed: list[str] = []
    for path, value in _numbers_for_strings(Draft202012Validator(schema_doc), config):
        parent = functools.reduce(lambda node, key: node[key], path[:-1], config)
        parent[path[-1]] = value
        changed.append(".".join(map(str, path)))
    model = Draft202012Validator({"$ref": "#/$defs/model", "$defs": schema_doc["$defs"]})
    for sweep, body in (config.get("sweeps") or {}).items():
        if not isinstance(body, dict) or not isinstance(body.get("grid"), dict):
            continue
        base = body.get("base") if isinstance(body.get("base"), dict) else {}
        for key, values in body["grid"].items():
            for i, value in enumerate(values if isinstance(values, list) else []):
                for path, number in _numbers_for_strings(model, base | {key: value}):
                    if path == [key]:
                        values[i] = number
                        changed.append(f"sweeps.{sweep}.grid.{key}.{i}")
    return changed


def validate_against_schema(config: dict, schema: str | Path | None = None) -> dict:
    """Validate ``config`` in place against the schema, filling defaults; raise ConfigError naming
    every key at fault. Numbers written as ``1e-9`` are read as numbers first."""
    schema_doc = _load_schema(schema)
    coerce_yaml_numbers(config, schema_doc)
    validator = _default_filling_validator(schema_doc)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"config key {_key_path(e)}: {_message(e)}" for e in errors]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    return config


def _message(error) -> str:
    import math

    if error.validator == "type" and isinstance(error.instance, float) and not math.isfinite(error.instance):
        return f"{error.instance} is not a finite number (YAML's .nan and .inf are not allowed here)"
    return error.message


def _resolve(node: dict, schema_doc: dict) -> dict:
    """A schema node with its ``$ref`` followed (the node's own keys, such as default, win)."""
    ref = node.get("$ref")
    if not ref:
        return node
    target = functools.reduce(lambda n, k: n[k], ref.lstrip("#/").split("/"), schema_doc)
    return _resolve(target, schema_doc) | {k: v for k, v in node.items() if k != "$ref"}


def section_properties(section: str) -> dict[str, dict]:
    """The properties of a config section (``analysis.polytope``, ``training``, ...), refs resolved."""
    schema_doc = schema_document()
    node = schema_doc
    for part in section.split("."):
        node = _resolve(node["properties"][part], schema_doc)
    return {k: _resolve(v, schema_doc) for k, v in node["properties"].items()}


def section_defaults(section: str) -> dict:
    """key → default of every key of a config section that has one; lists become tuples (options
    objects are frozen). The library's options classes take their defaults from here."""
    out = {}
    for key, prop in section_properties(section).items():
        if "default" in prop:
            value = copy.deepcopy(prop["default"])
            out[key] = tuple(value) if isinstance(value, list) else value
    return out


def options_from_config(cls, section: dict):
    """An options dataclass from a validated config section: the keys it has fields for (lists as
    tuples); the others (the rule's own, such as threads) are left out."""
    fields = cls.__dataclass_fields__
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in section.items() if k in fields})


@functools.lru_cache(maxsize=1)
def schema_document() -> dict:
    """The parsed schema of this checkout, read once (callers must not change it)."""
    return _load_schema(None)


def schema_options(section: str):
    """Class decorator: a frozen dataclass whose annotated fields take their defaults from the config
    section ``section`` of the schema (fields the section lacks keep their own default, or none), with
    a ``from_config(values)`` classmethod (:func:`options_from_config`). The schema stays the one source."""
    from dataclasses import dataclass

    def decorate(cls):
        defaults = section_defaults(section)
        for name in cls.__annotations__:
            if name in defaults:
                setattr(cls, name, defaults[name])
        cls.from_config = classmethod(options_from_config)
        cls.config_section = section
        return dataclass(frozen=True)(cls)

    return decorate


def speed_only(section: str) -> tuple[str, ...]:
    """Keys of a section marked ``x-speed-only`` in the schema: they change how fast an output is
    made, never what it holds, so they are no part of its identity (and the workflow passes them to
    the rule as resources, so that changing them re-runs nothing)."""
    return tuple(k for k, prop in section_properties(section).items() if prop.get("x-speed-only"))
