"""bowsflow: bag-of-words superposition models and their interpretability lenses, as a pipeline.

The library holds all logic; the Snakemake workflow only calls it. Open results lazily with
:func:`open_bows` and :func:`open_activations`.
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


__all__ = ["__version__", "open_activations", "open_bows"]
