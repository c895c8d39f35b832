"""bowsflow: bag-of-words superposition models and their interpretability lenses, as a pipeline.

The library holds all logic; the Snakemake workflow only calls it. Its packages follow the flow of
the pipeline: ``data`` (corpora, vocabulary, BOWS stores) → ``models`` (one module per architecture,
checkpoints, training) → ``activations`` → ``lenses`` (``geometry``, ``polytope``, ``interaction``,
``bilinear``) → ``report``, over a bottom layer (``schema``, ``linalg``, ``store``, ``runtime``) and
under ``config`` (the workflow's reading of a config). Open results lazily with :func:`open_bows` and
:func:`open_activations`; rebuild a model with :func:`load_model`.
"""

__version__ = "0.1.0"


def open_bows(corpus: str, results: str = "results"):
    """The BOWS store of ``corpus`` as a lazy, dask-backed :class:`xarray.Dataset`."""
    from bowsflow.data.bows_store import open_bows as _open

    return _open(corpus, results)


def open_activations(model: str, results: str = "results"):
    """The activation store of ``model`` as a lazy, dask-backed :class:`xarray.Dataset` (warns when
    its checkpoint changed since extraction)."""
    from bowsflow.activations.extraction import open_activations as _open

    return _open(model, results)


def open_run(results: str = "results"):
    """The whole run as one lazy :class:`xarray.DataTree` (:mod:`bowsflow.report.run_tree`)."""
    from bowsflow.report.run_tree import open_run as _open

    return _open(results)


def open_analysis(model: str, lens: str, results: str = "results"):
    """One lens store (polytope, interaction, bilinear) of ``model`` as a lazy Dataset."""
    from bowsflow.report.run_tree import open_analysis as _open

    return _open(model, lens, results)


def load_model(path):
    """(model, metadata) of a safetensors checkpoint (:func:`bowsflow.models.checkpoints.load_model`)."""
    from bowsflow.models.checkpoints import load_model as _load

    return _load(path)


__all__ = ["__version__", "load_model", "open_activations", "open_analysis", "open_bows", "open_run"]
