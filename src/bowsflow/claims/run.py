"""What the claims read: the run's model specs, the paths of its stores and JSON, and the groups of
models that a claim compares (models that differ only in one setting; replicates that differ only in seed).

I/O stays here; the claim modules hold the measures and the comparisons.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

# settings that change how fast a model trains or is logged, not what it is
NOT_IDENTITY = frozenset(
    {
        "seed",
        "device",
        "threads",
        "log_every",
        "eval_every",
        "output_screening",
        "replicate_seeds",
        "replicate_of",
        "lenses",
    }
)


class RunData:
    """A results tree and the specs of the models in it (``bowsflow.config.model_specs``).

    ``corpora`` maps each corpus to its source spec (to tell synthetic corpora from text)."""

    def __init__(self, results: str | Path, specs: dict[str, dict], corpora: dict[str, dict] | None = None):
        self.root = Path(results)
        self.specs = {name: dict(spec) for name, spec in specs.items()}
        self.corpora = dict(corpora or {})
        self._json: dict[Path, dict] = {}
        self.cache: dict = {}  # what the claims share within a run (a corpus' correlations, a model's W)

    # --- paths ---------------------------------------------------------------------------------
    def checkpoint(self, model: str) -> Path:
        return self.root / "models" / model / "model.safetensors"

    def bows_path(self, corpus: str) -> Path:
        return self.root / "bows" / corpus / "bows.zarr"

    def correlations_path(self, corpus: str) -> Path:
        return self.root / "bows" / corpus / "correlations.zarr"

    def lens_json(self, model: str, lens: str) -> dict:
        """``results/analysis/{model}/{lens}.json`` (read once)."""
        return self._read(self.root / "analysis" / model / f"{lens}.json")

    def metrics(self, model: str) -> dict:
        return self._read(self.root / "models" / model / "metrics.json")

    def _read(self, path: Path) -> dict:
        if path not in self._json:
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing (the claims read it; run the workflow first)")
            self._json[path] = json.loads(path.read_text())
        return self._json[path]

    # --- groups of models ------------------------------------------------------------------------
    def is_text(self, model: str) -> bool:
        """Whether the model's corpus is real text (not a synthetic corpus)."""
        corpus = self.specs[model]["corpus"]
        return self.corpora.get(corpus, {}).get("source") != "synthetic"

    def select(self, names=None, **where) -> list[str]:
        """Model names (of ``names``, else all) whose spec has every ``key=value`` of ``where``
        (a value may be a tuple of allowed values); text corpora only unless ``text=False``."""
        text = where.pop("text", True)
        out = []
        for name in sorted(names if names is not None else self.specs):
            spec = self.specs[name]
            if text and not self.is_text(name):
                continue
            if all(spec.get(k) in (v if isinstance(v, tuple) else (v,)) for k, v in where.items()):
                out.append(name)
        return out

    def analysed(self, names) -> list[str]:
        """Those of ``names`` that the lenses analysed (replicates, other seeds of a model, and models marked
        ``lenses: false`` are trained only)."""
        return [
            name for name in names if not self.specs[name].get("replicate_of") and self.specs[name].get("lenses", True)
        ]

    def sampled(self, names) -> list[str]:
        """Those of ``names`` the LLC lens estimated: every model the lenses analyse and its other seeds
        (the LLC claims compare over seeds)."""
        return [name for name in names if self.specs[name].get("lenses", True)]

    def identity(self, model: str, without=()) -> tuple:
        """The model's configuration as a hashable key, leaving out seeds, speed settings and ``without``."""
        spec = self.specs[model]
        return tuple(
            sorted((k, json.dumps(v, sort_keys=True)) for k, v in spec.items() if k not in NOT_IDENTITY | set(without))
        )

    def replicates(self, names) -> list[list[str]]:
        """``names`` grouped into configurations that differ only in seed (each group sorted)."""
        groups: dict[tuple, list[str]] = {}
        for name in sorted(names):
            groups.setdefault(self.identity(name), []).append(name)
        return list(groups.values())

    def differing_only_in(self, key: str, names) -> list[dict]:
        """Groups of ``names`` that differ only in ``key`` (and seed): each a dict value -> [models]
        with at least two values of ``key``."""
        groups: dict[tuple, dict] = {}
        for name in sorted(names):
            value = self.specs[name].get(key)
            groups.setdefault(self.identity(name, without=(key,)), {}).setdefault(value, []).append(name)
        return [g for g in groups.values() if len(g) >= 2]

    @cached_property
    def model_names(self) -> list[str]:
        return sorted(self.specs)


def describe(models: list[str]) -> str:
    """``a, b, c`` or ``a … z (n models)`` for long lists."""
    return ", ".join(models) if len(models) <= 3 else f"{models[0]} … {models[-1]} ({len(models)} models)"
