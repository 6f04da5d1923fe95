"""A mosaic job run as its own process by tests/engine/test_reliability.py (killed, raced,
resumed).

    python tests/helpers/reliability_job.py STORE BATCH [--scheduler S] [--slow SECONDS]
        [--resume]
    python tests/helpers/reliability_job.py STORE load [--wave-mib MIB]

Writes batch ``BATCH`` (1 or 2: inputs built deterministically from a seed, see
``batch_inputs``) into the mosaic store ``STORE`` on the grid ``GRID`` and prints the
report as JSON. ``--slow`` delays every tile's reducer by that many seconds before it
reads and writes the tile, so a test can act while the job is under way (the tile content
is unchanged).

``load`` writes the many small inputs of ``load_inputs`` on ``LOAD_GRID`` with the threads
scheduler, waves of ``--wave-mib`` MiB of partial sums, and adds to the report the
process's resident memory just before the mosaic (inputs built, kernels loaded) and its
peak while the mosaic ran (sampled every few milliseconds).

The module is also a Dask worker preload (``dask worker --preload helpers.reliability_job``
with ``tests/``, the folder holding ``helpers``, on PYTHONPATH): the worker counts the
per-(tile, input) tasks it runs (``task_calls``) and, when its environment sets
``TASK_DELAY_ENV`` (seconds), each task sleeps that long before it runs. Tasks reach a
worker as a reference to ``tiledrizzle.engine.tasks.drizzle_tile``, so the worker runs the wrapper
while the client's graph is untouched.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
import warnings

GRID_SHAPE = (256, 256)
GRID = {
    "out_shape": GRID_SHAPE,
    "tile_shape": (64, 64),
    "block_shape": (32, 32),
    "kernel": "square",
}
BATCHES = {1: (10, 101), 2: (8, 202)}  # batch -> (number of inputs, seed)
LOAD_SHAPE = (192, 192)
LOAD_GRID = {
    "out_shape": LOAD_SHAPE,
    "tile_shape": (64, 64),
    "block_shape": (32, 32),
    "kernel": "square",
}
LOAD_INPUTS = (200, 505, (24, 24))  # number of inputs, seed, input shape
TASK_DELAY_ENV = "TILEDRIZZLE_TEST_TASK_DELAY"


def _exposures(*args, **kwargs):
    # tests/, the folder holding the helpers package (not on sys.path when run as a script)
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if tests_dir not in sys.path:
        sys.path.insert(0, tests_dir)
    from helpers.mosaic_inputs import exposures

    return exposures(*args, **kwargs)


def batch_inputs(batch):
    """The inputs of ``batch``: the same arrays in every process that builds them."""
    n, seed = BATCHES[batch]
    return _exposures(n, seed=seed, in_shape=(96, 96), out_shape=GRID_SHAPE, data2=True, dq=True)


def load_inputs():
    """Many small inputs scattered over ``LOAD_SHAPE`` (more than 32: several context planes)."""
    n, seed, shape = LOAD_INPUTS
    return _exposures(n, seed=seed, in_shape=shape, out_shape=LOAD_SHAPE, data2=True, dq=True)


def _delayed(func, seconds):
    """``func`` that first sleeps ``.delay`` seconds and counts its calls (``.calls``)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        if wrapper.delay > 0:
            time.sleep(wrapper.delay)
        return func(*args, **kwargs)

    wrapper.calls = 0
    wrapper.delay = seconds
    return wrapper


def slow_reducer(seconds):
    """Make every tile's reducer (``tiledrizzle.engine.tile_commit.finish_tile``) wait ``seconds``
    first.

    Reaches the local schedulers of this process ('sync', 'threads'): ``engine.graph`` looks
    the reducer up in its module when it builds the graph.
    """
    import tiledrizzle.engine.graph as engine

    engine.finish_tile = _delayed(engine.finish_tile, seconds)


def slow_tasks(seconds):
    """From now on, each per-(tile, input) task of this process waits ``seconds`` first.

    Also resets the count of tasks run (``task_calls``). Run it in the workers with
    ``Client.run(slow_tasks, seconds)``, or let the preload hook run it.
    """
    import tiledrizzle.engine.tasks as tasks

    if not hasattr(tasks.drizzle_tile, "delay"):
        tasks.drizzle_tile = _delayed(tasks.drizzle_tile, seconds)
    tasks.drizzle_tile.delay = seconds
    tasks.drizzle_tile.calls = 0


def task_calls():
    """How many per-(tile, input) tasks this process ran since ``slow_tasks`` last ran."""
    import tiledrizzle.engine.tasks as tasks

    return getattr(tasks.drizzle_tile, "calls", None)


def dask_setup(worker):
    """Worker preload hook: count the tasks, delayed as the worker's environment asks."""
    slow_tasks(float(os.environ.get(TASK_DELAY_ENV, "0") or 0))


def _load_job(store, wave_bytes):
    import tempfile
    import threading

    import psutil

    import tiledrizzle.engine.batch as engine

    inputs = load_inputs()
    with tempfile.TemporaryDirectory() as tmp:  # load the kernels and zarr before measuring
        engine.mosaic(inputs[:2], os.path.join(tmp, "warm.zarr"), scheduler="threads",
                      **LOAD_GRID)  # fmt: skip
    me = psutil.Process()
    before = me.memory_info().rss
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        r = engine.mosaic(inputs, store, scheduler="threads", wave_bytes=wave_bytes, **LOAD_GRID)
    finally:
        stop.set()
        sampler.join()
    report = dict(r.report, seconds=time.perf_counter() - start)
    report.update(rss_before=before, rss_peak=max(peak[0], me.memory_info().rss))
    return report


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("batch", choices=[str(b) for b in sorted(BATCHES)] + ["load"])
    parser.add_argument("--scheduler", default="threads")
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--wave-mib", type=float, default=4.0)
    args = parser.parse_args(argv)
    if args.batch == "load":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = _load_job(args.store, int(args.wave_mib * 2**20))
        print(json.dumps(report), flush=True)
        return 0

    import tiledrizzle.engine.batch as engine

    if args.slow > 0:
        slow_reducer(args.slow)
    inputs = batch_inputs(int(args.batch))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = engine.mosaic(inputs, args.store, scheduler=args.scheduler, resume=args.resume, **GRID)
    print(json.dumps({k: v for k, v in r.report.items() if k != "seconds"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
