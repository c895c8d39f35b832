"""The schema is the one source of every default: each options class of the library has exactly its
config section's keys, with the schema's defaults, and builds from a validated section."""

import dataclasses

import pytest

from bowsflow.activations.extraction import ExtractOptions
from bowsflow.config import validate_config
from bowsflow.lenses.bilinear.analysis import BilinearOptions
from bowsflow.lenses.geometry.analysis import GeometryOptions
from bowsflow.lenses.interaction.analysis import InteractionOptions
from bowsflow.lenses.polytope.analysis import PolytopeOptions
from bowsflow.models.training import TrainConfig
from bowsflow.schema import section_defaults, section_properties

OPTIONS = [
    (TrainConfig, "training", {"arch", "d_latent", "d_hidden"}),  # the model spec's own keys (no defaults there)
    (ExtractOptions, "extract", set()),
    (PolytopeOptions, "analysis.polytope", set()),
    (GeometryOptions, "analysis.geometry", set()),
    (BilinearOptions, "analysis.bilinear", set()),
    (InteractionOptions, "analysis.interaction", set()),
]


@pytest.mark.parametrize("cls, section, model_keys", OPTIONS, ids=[s for _, s, _ in OPTIONS])
def test_library_defaults_are_the_schemas(cls, section, model_keys):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(fields) - model_keys == set(section_properties(section)), "fields and schema keys differ"
    defaults = section_defaults(section)
    assert set(defaults) == set(section_properties(section)), "a schema key has no default"
    for key, value in defaults.items():
        assert fields[key].default == value, f"{cls.__name__}.{key}: {fields[key].default!r} != schema {value!r}"


@pytest.mark.parametrize("cls, section, model_keys", OPTIONS, ids=[s for _, s, _ in OPTIONS])
def test_options_from_a_validated_config_equal_the_library_defaults(cls, section, model_keys):
    config = validate_config({"corpora": {"c": {"source": "synthetic"}}})
    values = config
    for part in section.split("."):
        values = values[part]
    spec = {"arch": "tied_ae", "d_latent": 4} if model_keys else {}
    assert cls.from_config(values | spec) == cls(**spec)


def test_from_config_keeps_what_is_set_and_turns_lists_into_tuples():
    opts = PolytopeOptions.from_config({"seed": 7, "alphas": [1.0, 2.0], "threads": 3})  # threads: not an option
    assert opts.seed == 7 and opts.alphas == (1.0, 2.0) and opts.n_paths == PolytopeOptions().n_paths
