import numpy as np
import pytest

from bowsflow.lenses.interaction.basis import dask_gram
from bowsflow.runtime.dask_cluster import dask_scheduler


def data():
    import dask.array as da

    x = np.random.default_rng(0).normal(size=(600, 5))
    return x, da.from_array(x, chunks=(100, 5))


def reference(x):
    xt = np.c_[x, np.ones(len(x))]
    return xt.T @ xt / len(x)


def test_default_is_the_threaded_scheduler():
    import dask

    x, d = data()
    with dask_scheduler(None, threads=2) as client:
        assert client is None and dask.config.get("scheduler") == "threads"
        np.testing.assert_allclose(dask_gram(d, threads=2), reference(x), rtol=1e-12)


def test_attaches_to_an_existing_cluster():
    distributed = pytest.importorskip("distributed")
    x, d = data()
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with dask_scheduler({"scheduler_address": cluster.scheduler_address}) as client:
            with distributed.get_task_stream(client) as stream:
                G = dask_gram(d, threads=2)
        assert len(stream.data) >= 6  # the chunks' tasks ran on the cluster, not in local threads
    np.testing.assert_allclose(G, reference(x), rtol=1e-12)


@pytest.mark.slow
def test_a_zarr_store_is_read_inside_the_tasks_of_a_process_cluster(tmp_path):
    # the tasks carry the zarr array and the read buffers to another process (pickled) and read there
    distributed = pytest.importorskip("distributed")
    import zarr

    x = np.random.default_rng(1).normal(size=(600, 5)).astype(np.float32)
    z = zarr.create_array(str(tmp_path / "x.zarr"), shape=x.shape, chunks=(128, 5), dtype="f4")
    z[:] = x
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        with dask_scheduler({"scheduler_address": cluster.scheduler_address}):
            G = dask_gram(zarr.open_array(str(tmp_path / "x.zarr"), mode="r"), threads=2)
    np.testing.assert_allclose(G, reference(x.astype(np.float64)), rtol=1e-12)


@pytest.mark.slurm
@pytest.mark.slow  # about 3 s: a SLURM job starts the worker
def test_slurm_cluster_on_the_local_slurm(tmp_path):
    pytest.importorskip("dask_jobqueue")
    from helpers import slurm_available

    if not slurm_available():
        pytest.skip("no local SLURM (scripts/local-slurm.sh start)")
    x, d = data()
    spec = {
        "queue": "debug",
        "cores": 1,
        "processes": 1,
        "memory": "1GB",
        "walltime": "00:10:00",
        "jobs": 1,
        "wait_seconds": 180,
        "log_directory": str(tmp_path),
    }  # the worker jobs' slurm-*.out, not in the working directory
    with dask_scheduler({"slurm": spec}) as client:
        assert len(client.scheduler_info()["workers"]) >= 1
        G = dask_gram(d, threads=1)
    np.testing.assert_allclose(G, reference(x), rtol=1e-12)
