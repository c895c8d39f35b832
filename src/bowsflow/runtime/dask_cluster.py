"""Where an analysis job's dask work runs.

- default: dask's threaded scheduler, sized by the rule's ``threads``;
- ``dask: {scheduler_address: tcp://host:8786}``: an existing dask cluster (``distributed.Client``);
- ``dask: {slurm: {...}}``: a ``dask_jobqueue.SLURMCluster`` started for this job (its keys are the
  cluster's arguments, e.g. ``queue``, ``cores``, ``memory``, ``walltime``, ``account``; ``jobs`` is how
  many worker jobs to ask for), shut down when the job ends.

Library functions compute inside :func:`compute_context`, which keeps a distributed client when one is
active and otherwise uses the threaded scheduler with the given number of threads.
"""

from __future__ import annotations

import contextlib
import logging

log = logging.getLogger(__name__)


def _active_client():
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def compute_context(threads: int):
    """The scheduler for a computation: the active distributed client if any, else ``threads`` threads."""
    import dask

    if _active_client() is not None:
        return contextlib.nullcontext()
    return dask.config.set(scheduler="threads", num_workers=max(1, int(threads)))


@contextlib.contextmanager
def dask_scheduler(options: dict | None, threads: int = 1):
    """Run the body on the scheduler the config names (see the module docstring); yields the client
    (None for the threaded scheduler)."""
    options = options or {}
    if options.get("scheduler_address"):
        from distributed import Client

        with Client(options["scheduler_address"]) as client:
            log.info("dask: attached to %s", options["scheduler_address"])
            yield client
    elif options.get("slurm"):
        from dask_jobqueue import SLURMCluster
        from distributed import Client

        spec = dict(options["slurm"])
        jobs = int(spec.pop("jobs", 1))
        timeout = float(spec.pop("wait_seconds", 300))
        with SLURMCluster(**spec) as cluster, Client(cluster) as client:
            cluster.scale(jobs=jobs)
            client.wait_for_workers(1, timeout=timeout)
            log.info("dask: SLURMCluster with %d worker job(s): %s", jobs, cluster.dashboard_link)
            yield client
    else:
        with compute_context(threads):
            yield None
