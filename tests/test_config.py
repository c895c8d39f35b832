import pytest
import yaml

from bowsflow.config import ConfigError, load_config, resolved_bows, store_part, validate_config, vocabulary_part


def test_defaults_are_filled_from_the_schema():
    cfg = validate_config({"corpora": {"wiki": {"source": "wiki-vital"}}})
    assert cfg["bows"]["vocab_size"] == 2000
    assert cfg["bows"]["window"] == {"unit": "tokens", "size": 64, "stride": 64}
    assert cfg["bows"]["stopwords"] == "english" and cfg["bows"]["lowercase"] is False


def test_corpus_overrides_and_text_defaults():
    cfg = validate_config(
        {
            "corpora": {
                "mine": {
                    "source": "text",
                    "path": "data/*.txt",
                    "bows": {"vocab_size": 50, "window": {"unit": "lines", "size": 20, "stride": 1}},
                },
                "wiki": {"source": "wiki-vital"},
            },
            "bows": {"window": {"size": 32}},
        }
    )
    assert cfg["corpora"]["mine"]["split_docs"] == "file"
    mine, wiki = resolved_bows(cfg, "mine"), resolved_bows(cfg, "wiki")
    assert mine["vocab_size"] == 50 and mine["window"] == {"unit": "lines", "size": 20, "stride": 1}
    assert wiki["vocab_size"] == 2000 and wiki["window"] == {"unit": "tokens", "size": 32, "stride": 64}
    # the window is part of the store's config, not of the vocabulary's: only whether the token store keeps
    # lines (a lines window needs them), and the key only then, so other corpora's hashes do not move
    assert "window" not in vocabulary_part(cfg, "mine") and "window" in store_part(cfg, "mine")
    assert vocabulary_part(cfg, "mine")["token_lines"] is True and "token_lines" not in vocabulary_part(cfg, "wiki")


@pytest.mark.parametrize(
    "config, key",
    [
        ({"corpora": {"w": {"source": "wiki-vital"}}, "bows": {"vocab_size": 0}}, "bows.vocab_size"),
        ({"corpora": {"w": {"source": "wiki-vital"}}, "bows": {"window": {"size": -4}}}, "bows.window.size"),
        ({"corpora": {"w": {"source": "wiki-vital"}}, "bows": {"window": {"stride": 0}}}, "bows.window.stride"),
        ({"corpora": {"w": {"source": "wiki-vital"}}, "bows": {"vocab_size": "many"}}, "bows.vocab_size"),
        ({"corpora": {"w": {"source": "wiki-vital"}}, "bows": {"vocab_sise": 10}}, "bows"),
        ({"corpora": {"w": {"source": "wiki-vital"}}, "colour": 1}, "(top level)"),
        ({"corpora": {"w": {"source": "wiki-vital", "path": "x"}}}, "corpora.w"),
        ({"corpora": {"w": {"source": "text"}}}, "corpora.w"),
        ({"corpora": {"w": {"source": "tweets"}}}, "corpora.w.source"),
        ({"corpora": {"w": {"source": "wiki-vital"}}, "bows": {"val_fraction": 1.5}}, "bows.val_fraction"),
        (
            {"corpora": {"w": {"source": "wiki-vital", "bows": {"window": {"unit": "chars"}}}}},
            "corpora.w.bows.window.unit",
        ),
        ({"corpora": {"bad name!": {"source": "wiki-vital"}}}, "corpora"),
        ({"corpora": {}}, "corpora"),
    ],
)
def test_bad_config_names_the_key(config, key):
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert f"config key {key}:" in str(err.value)


def test_numbers_in_exponent_notation_are_read_as_numbers(tmp_path):
    # PyYAML (YAML 1.1) reads 1e-9, 1E5 and 1.0e5 as strings; where the schema wants a number they are numbers
    path = tmp_path / "c.yaml"
    path.write_text(
        "corpora:\n"
        "  w: {source: wiki-vital, bows: {always_include: [1e5]}}\n"  # a word list: stays a string
        "bows: {vocab_size: 2e3}\n"  # an integer key: a whole value becomes an int
        "training: {lr: 3e-3, weight_decay: 1.0e2}\n"
        "models: {m: {corpus: w, arch: tied_ae, d_latent: 4, lr: 1E-4}}\n"
        "sweeps: {s: {base: {corpus: w, arch: tied_ae, d_latent: 4}, grid: {weight_decay: [0, 1e-3]}}}\n"
        "analysis: {interaction: {threshold: 1e-9}}\n"
    )
    assert yaml.safe_load(path.read_text())["training"]["lr"] == "3e-3"  # the YAML 1.1 reading this undoes
    cfg = load_config(path)
    assert cfg["bows"]["vocab_size"] == 2000 and type(cfg["bows"]["vocab_size"]) is int
    assert cfg["training"]["lr"] == 0.003 and cfg["training"]["weight_decay"] == 100.0
    assert cfg["models"]["m"]["lr"] == 1e-4
    assert cfg["analysis"]["interaction"]["threshold"] == 1e-9
    assert cfg["corpora"]["w"]["bows"]["always_include"] == ["1e5"]
    from bowsflow.config import model_specs

    assert model_specs(cfg)["s-wd0.001"]["weight_decay"] == 0.001


@pytest.mark.parametrize("value", ["1e", "e5", "1.5", "1e-9x", "ten"])
def test_strings_that_are_not_exponent_numbers_stay_errors(value):
    with pytest.raises(ConfigError, match="config key training.lr:"):
        validate_config({"corpora": {"w": {"source": "wiki-vital"}}, "training": {"lr": value}})


def test_always_include_must_fit():
    with pytest.raises(ConfigError, match="corpora.w: 3 always_include words do not fit in vocab_size = 2"):
        validate_config(
            {"corpora": {"w": {"source": "wiki-vital"}}, "bows": {"vocab_size": 2, "always_include": ["a", "b", "c"]}}
        )


def test_default_config_file_is_valid(repo_root):
    cfg = load_config(f"{repo_root}/config.yaml")
    assert "wiki" in cfg["corpora"] and cfg["corpora"]["wiki"]["source"] == "wiki-vital"


def test_load_config_names_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"corpora": {"w": {"source": "wiki-vital"}}, "bows": {"seed": -1}}))
    with pytest.raises(ConfigError, match=r"c\.yaml: invalid config:\n  config key bows\.seed"):
        load_config(path)


def test_paper_config_states_the_papers_setup(repo_root):
    from bowsflow.config import model_specs

    cfg = load_config(f"{repo_root}/configs/paper_bows.yaml")
    assert cfg["corpora"]["wikitext"] == {
        "source": "huggingface",
        "name": "wikitext",
        "config": "wikitext-103-raw-v1",
        "split": "train",
        "rows_as": "lines",
        "text_field": "text",
        "streaming": False,
        "bad_records": "error",
    }
    assert cfg["bows"]["vocab_size"] == 10_000 and cfg["bows"]["window"] == {"unit": "lines", "size": 20, "stride": 1}
    specs = model_specs(cfg)
    # the paper's weight decays 1 and 4 and the control 0 at m = 1000, and m = 100 at weight decay 1,
    # each over 3 seeds (the claims' replicates)
    assert {(s["weight_decay"], s["d_latent"]) for s in specs.values()} == {
        (0.0, 1000),
        (1.0, 1000),
        (4.0, 1000),
        (1.0, 100),
    }
    assert len(specs) == 12 and {s["seed"] for s in specs.values()} == {0, 1, 2}
    for spec in specs.values():
        assert (spec["arch"], spec["batch_size"], spec["epochs"], spec["lr"]) == ("tied_ae", 512, 10, 5e-4)


def test_default_config_trains_the_promised_models(repo_root):
    from bowsflow.config import model_specs
    from bowsflow.models import n_parameters

    cfg = load_config(f"{repo_root}/config.yaml")
    specs = model_specs(cfg)
    tied_wiki = {s["weight_decay"] for s in specs.values() if s["arch"] == "tied_ae" and s["corpus"] == "wiki"}
    assert 0.0 in tied_wiki and max(tied_wiki) >= 1.0
    assert any(s["arch"] == "tied_ae" and cfg["corpora"][s["corpus"]]["source"] == "synthetic" for s in specs.values())
    V = cfg["bows"]["vocab_size"]
    relu = [
        n_parameters("relu_mlp", V, s["d_latent"], s["d_hidden"]) for s in specs.values() if s["arch"] == "relu_mlp"
    ]
    bil = [n_parameters("bilinear", V, s["d_latent"], s["d_hidden"]) for s in specs.values() if s["arch"] == "bilinear"]
    assert relu and bil and abs(relu[0] - bil[0]) / bil[0] < 0.02  # matched parameter budget


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"extract": {"layers": ["latent", "hiden"]}}, "config key extract.layers: unknown layer(s) ['hiden']"),
        (
            {"extract": {"layers": ["hidden_pre"]}},
            "config key extract.layers: none of ['hidden_pre'] is a layer of model t (tied_ae",
        ),
        ({"models": {"x" * 240: {"corpus": "w", "arch": "tied_ae", "d_latent": 2}}}, "is 240 bytes"),
        (
            {"analysis": {"interaction": {"constant": "isolate"}}},
            "config key analysis.interaction.constant: isolate needs centred: true",
        ),
    ],
)
def test_errors_known_before_any_job_name_their_key(extra, message):
    """Checked while the config is read (the Snakefile: while the DAG is built), not after training."""
    config = {
        "corpora": {"w": {"source": "synthetic"}},
        "models": {"t": {"corpus": "w", "arch": "tied_ae", "d_latent": 2}},
    }
    for key, value in extra.items():
        config[key] = config.get(key, {}) | value
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert message in str(err.value)


def test_replicate_seeds_add_models_that_only_train():
    from bowsflow.config import lens_models, model_specs, training_spec

    config = validate_config(
        {
            "corpora": {"w": {"source": "synthetic"}},
            "models": {"t": {"corpus": "w", "arch": "tied_ae", "d_latent": 2, "replicate_seeds": [3, 1]}},
            "sweeps": {
                "s": {
                    "base": {"corpus": "w", "arch": "tied_ae", "d_latent": 2, "replicate_seeds": [1]},
                    "grid": {"weight_decay": [0.0, 1.0]},
                }
            },
        }
    )
    specs = model_specs(config)
    assert sorted(specs) == ["s-wd0", "s-wd0-s1", "s-wd1", "s-wd1-s1", "t", "t-s1", "t-s3"]
    assert specs["t-s3"]["seed"] == 3 and specs["t-s3"]["replicate_of"] == "t"
    assert specs["s-wd1-s1"]["weight_decay"] == 1.0 and specs["s-wd1-s1"]["seed"] == 1
    assert lens_models(specs) == ["s-wd0", "s-wd1", "t"]
    # adding replicates does not change what the model itself trains from (no retraining)
    assert training_spec(specs["t"]) == training_spec(
        model_specs(
            validate_config(
                {**config, "models": {"t": {"corpus": "w", "arch": "tied_ae", "d_latent": 2}}, "sweeps": {}}
            )
        )["t"]
    )


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"replicate_seeds": [0]}, "config key models.t.replicate_seeds: 0 is the model's own seed"),
        ({"replicate_seeds": [1, 1]}, "config key models.t.replicate_seeds"),
    ],
)
def test_bad_replicate_seeds_name_their_key(spec, message):
    config = {
        "corpora": {"w": {"source": "synthetic"}},
        "models": {"t": {"corpus": "w", "arch": "tied_ae", "d_latent": 2} | spec},
    }
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate_config(config)  # while the config is read, before any job


def test_a_replicate_name_that_clashes_with_a_model_is_an_error():
    base = {"corpus": "w", "arch": "tied_ae", "d_latent": 2}
    config = {"corpora": {"w": {"source": "synthetic"}}, "models": {"t": base | {"replicate_seeds": [1]}, "t-s1": base}}
    with pytest.raises(ConfigError, match="clashes"):
        validate_config(config)
