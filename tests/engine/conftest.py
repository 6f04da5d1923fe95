"""Fixtures of the engine tests: a real two-process Dask cluster on 127.0.0.1."""

import warnings

import pytest


@pytest.fixture(scope="module")
def client():
    """A ``distributed.Client`` of a ``LocalCluster`` of 2 worker processes (1 thread each),
    started for the test module and stopped after it."""
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dashboard / port notices of a local cluster
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        )  # fmt: skip
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()
