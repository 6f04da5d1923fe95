"""Reliability against real processes on 127.0.0.1: a Dask cluster started with the ``dask``
command line, a worker killed mid-mosaic, a client killed mid-mosaic and resumed, two writers
racing for one store, and a load of many small inputs on threads and on a LocalCluster.

Every process is started by a fixture or a test and killed by pid in teardown. The mosaic
jobs run as their own processes (tests/helpers/reliability_job.py); the same module, preloaded into
the workers, delays their tasks so that a test can act while work is under way. Every
result is compared bit for bit with an uninterrupted run on the synchronous scheduler.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import dask
import numpy as np
import pytest
from dask.utils import parse_timedelta
from helpers import reliability_job as job
from helpers.mosaic_inputs import add_image_kwargs, assert_identical, outputs

import tiledrizzle.engine.schedulers
from tiledrizzle import MosaicResult, MosaicStore, StoreError, StoreLockedError, mosaic
from tiledrizzle.resample import Drizzle
from tiledrizzle.store.lock import LOCK_NAME

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

JOB = os.path.abspath(job.__file__)  # tests/helpers/reliability_job.py, run as a script
TESTS_DIR = os.path.dirname(os.path.dirname(JOB))  # tests/: the folder holding helpers
DASK_CLI = (sys.executable, "-m", "dask")
START_TIMEOUT = 90.0  # seconds for a process to come up on a loaded 2-core machine
RUN_TIMEOUT = 180.0


def _timed(label, seconds):
    """Print a timing (shown with ``pytest -s``): what the cluster runs took on this machine."""
    print(f"[timing] {label}: {seconds:.2f} s")


class Processes:
    """Processes started by a test; ``kill_all`` kills (SIGKILL) and reaps each by its pid."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.procs = []

    def start(self, argv, name, env=None):
        out = open(self.log_dir / f"{name}.out", "w")  # closed in kill_all
        err = open(self.log_dir / f"{name}.err", "w")
        p = subprocess.Popen([str(a) for a in argv], stdout=out, stderr=err, env=env,
                             cwd=self.log_dir)  # fmt: skip
        p.name, p.files = name, (out, err)
        self.procs.append(p)
        return p

    def log(self, p):
        for f in p.files:
            f.flush()
        text = (self.log_dir / f"{p.name}.err").read_text()
        return f"{p.name} (pid {p.pid}, rc {p.poll()}) stderr tail:\n{text[-3000:]}"

    def stdout(self, p):
        p.files[0].flush()
        return (self.log_dir / f"{p.name}.out").read_text()

    def kill_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=30)
            for f in p.files:
                f.close()


@pytest.fixture
def procs(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    registry = Processes(logs)
    yield registry
    registry.kill_all()


@pytest.fixture(scope="module")
def module_procs(tmp_path_factory):
    registry = Processes(tmp_path_factory.mktemp("cluster-logs"))
    yield registry
    registry.kill_all()


def wait_for(condition, what, procs=None, watch=(), timeout=START_TIMEOUT, poll=0.02):
    """Poll ``condition()`` until true; fail early (with its log) if a watched process dies."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        for p in watch:
            if p.poll() is not None:
                pytest.fail(f"{p.name} exited while waiting for {what}: {procs.log(p)}")
        if time.monotonic() > deadline:
            logs = "\n".join(procs.log(p) for p in watch) if procs else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
        time.sleep(poll)


# -- a Dask cluster from the command line ---------------------------------------------


class DaskCluster:
    """``dask scheduler`` and single-threaded ``dask worker`` processes on 127.0.0.1.

    Workers run without a nanny (the pid we hold is the worker itself) and preload
    ``helpers.reliability_job``, which counts the tasks each worker runs and can delay them.
    """

    def __init__(self, procs, folder):
        self.procs, self.folder = procs, folder
        self.scheduler_file = folder / "scheduler.json"
        self.workers = {}  # name -> Popen, for the workers started and not killed
        self.started = 0
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (TESTS_DIR, self.env.get("PYTHONPATH")) if p
        )
        self.scheduler = procs.start(
            [*DASK_CLI, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", self.scheduler_file],
            "scheduler",
        )  # fmt: skip
        wait_for(self.scheduler_file.exists, "the scheduler file", procs, [self.scheduler])
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        # An observer: the mosaics connect on their own, by address.
        self.client = distributed.Client(self.address, set_as_default=False, timeout="60s")

    def ready(self, n_workers, task_delay=0.0):
        """Have ``n_workers`` workers (start any missing), tasks delayed, counts reset."""
        while len(self.workers) < n_workers:
            name = f"worker{self.started}"
            self.started += 1
            self.workers[name] = self.procs.start(
                [*DASK_CLI, "worker", "--scheduler-file", self.scheduler_file,
                 "--nworkers", "1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--host", "127.0.0.1", "--name", name, "--preload", "helpers.reliability_job",
                 "--local-directory", self.folder / "dask-worker-space",
                 "--death-timeout", str(int(START_TIMEOUT))],
                name, env=self.env,
            )  # fmt: skip
        wait_for(lambda: set(self.names()) == set(self.workers), f"workers {sorted(self.workers)}",
                 self.procs, [self.scheduler, *self.workers.values()])  # fmt: skip
        self.client.run(job.slow_tasks, task_delay)

    def names(self):
        """Worker name -> address, as the scheduler knows them now."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return {w["name"]: a for a, w in info.items()}

    def kill(self, name):
        p = self.workers.pop(name)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        return p

    def tasks_run(self):
        """Per worker name, how many per-(tile, input) tasks it ran since ``ready``."""
        counts = self.client.run(job.task_calls)
        return {name: counts[a] for name, a in self.names().items() if a in counts}


@pytest.fixture(scope="module")
def dask_cluster(module_procs, tmp_path_factory):
    """A cluster started from the ``dask`` command line, shared by the tests of this module."""
    start = time.perf_counter()
    cluster = DaskCluster(module_procs, tmp_path_factory.mktemp("cluster"))
    cluster.ready(2)
    _timed("dask CLI cluster start (scheduler + 2 workers)", time.perf_counter() - start)
    yield cluster
    cluster.client.close()


# -- references -------------------------------------------------------------------------


def run(inputs, path, grid=None, **kw):
    kw.setdefault("scheduler", "sync")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's notices (e.g. large graphs)
        return mosaic(inputs, path, **(grid or job.GRID), **kw)


def stored(path):
    """The outputs and metadata held by the store at ``path``."""
    st = MosaicStore.open(path)
    return outputs(MosaicResult(st, None)), st.attrs


def tiles_done(path, batch=1):
    """Tiles the store records as committed by ``batch`` (0 while the store is not there)."""
    try:
        return int((MosaicStore.open(path).tile_batches() == batch).sum())
    except Exception:  # not created yet, or a record being written: ask again
        return 0


def lock_holder(path):
    try:
        with open(os.path.join(path, LOCK_NAME)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Batch 1 written once on the synchronous scheduler: the uninterrupted result."""
    path = tmp_path_factory.mktemp("reference") / "batch1.zarr"
    r = run(job.batch_inputs(1), path)
    out, attrs = stored(path)
    assert r.report["tiles_written"] >= 12 and r.report["tasks"] > r.report["tiles_written"]
    return {"path": path, "report": r.report, "outputs": out, "attrs": attrs}


def assert_same_outputs(expected, got, tile_shape=None):
    """``assert_identical``, first naming the tiles that differ (to tell a bad tile apart from
    a wholesale difference)."""
    ty, tx = tile_shape or job.GRID["tile_shape"]
    for name in sorted(set(expected) & set(got)):
        a, b = expected[name], got[name]
        if a.shape != b.shape:
            continue
        same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
        same = same.reshape((-1,) + a.shape[-2:]).all(axis=0)
        ys, xs = np.nonzero(~same)
        tiles = sorted({(int(y) // ty, int(x) // tx) for y, x in zip(ys, xs, strict=True)})
        assert not tiles, f"{name}: {ys.size} pixels differ, in tiles {tiles}"
    assert_identical(expected, got)


def same_record(a, b):
    """The metadata two stores must share after the same batches (store ids differ)."""
    keys = ("total_exptime", "next_ctx_id", "inputs", "n_img2", "has_dq")
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    assert [(x["id"], x["status"]) for x in a["batches"]] == [
        (x["id"], x["status"]) for x in b["batches"]
    ]


# -- 1. a cluster from the dask command line --------------------------------------------


def test_dask_cli_cluster_is_bit_identical_to_sync(tmp_path, dask_cluster, reference):
    cluster = dask_cluster
    cluster.ready(2)
    start = time.perf_counter()
    r = run(job.batch_inputs(1), tmp_path / "dist.zarr", scheduler=cluster.address)
    _timed("batch 1 on the dask CLI cluster", time.perf_counter() - start)

    assert r.report["scheduler"] == f"distributed {cluster.address}"
    out, attrs = stored(tmp_path / "dist.zarr")
    assert_same_outputs(reference["outputs"], out)
    same_record(reference["attrs"], attrs)
    # Both worker processes ran tasks, each task once.
    counts = cluster.tasks_run()
    assert len(counts) == 2 and min(counts.values()) > 0, counts
    assert sum(counts.values()) == r.report["tasks"], counts


# -- 2. a worker killed while tasks run -------------------------------------------------


@pytest.mark.parametrize("inputs_travel", ["in-graph", "scattered"])
def test_worker_killed_mid_mosaic_gives_identical_output(
    tmp_path, dask_cluster, reference, inputs_travel, monkeypatch
):
    """SIGKILL a worker while it runs tasks, a while into the mosaic: the survivor finishes
    it, bit for bit.

    Small inputs travel in the graph (the scheduler recomputes what the dead worker
    held); large ones are scattered (forced here for the small test inputs), and a
    wave that loses them is rerun with the inputs scattered again.

    "A while" is longer than the interval of the scheduler's active memory manager, which
    by then has had its chance to drop extra replicas of what the workers hold, as in any
    mosaic that runs for more than a few seconds. The victim is the busy worker holding
    the most data that no other worker holds (inputs first, then task results): the worst
    loss a single worker can cause.
    """
    if inputs_travel == "scattered":
        monkeypatch.setattr(tiledrizzle.engine.schedulers, "IN_GRAPH_BYTES", 0)
    cluster = dask_cluster
    cluster.ready(2, task_delay=0.2)
    total = reference["report"]["tiles_written"]
    path = tmp_path / "m.zarr"
    amm = dask.config.get("distributed.scheduler.active-memory-manager.interval", "2s")
    settle = 1.5 * parse_timedelta(amm)
    first_task = []

    def worst_victim():
        """The busy worker holding the most data held nowhere else, once settled."""
        processing = cluster.client.processing()
        busy = [a for a, keys in processing.items() if any("drizzle_tile" in str(k) for k in keys)]
        if busy and not first_task:
            first_task.append(time.monotonic())
        if not first_task or time.monotonic() - first_task[0] < settle or tiles_done(path) < 1:
            return None
        inputs_here, results_here = Counter(), Counter()
        for key, where in cluster.client.who_has().items():
            if len(where) == 1:
                task_result = any(f in str(key) for f in ("drizzle_tile", "finish_tile"))
                (results_here if task_result else inputs_here)[where[0]] += 1
        busy = [a for a in busy if inputs_here[a] + results_here[a] > 0]
        return max(busy, key=lambda a: (inputs_here[a], results_here[a])) if busy else None

    start = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run, job.batch_inputs(1), path, scheduler=cluster.address)
        victim_address = wait_for(lambda: worst_victim() or running.done(), "a busy worker")
        assert not running.done(), f"the mosaic ended before the kill: {running.result()}"
        victim_name = {a: n for n, a in cluster.names().items()}[victim_address]
        survivor = next(n for n in cluster.workers if n != victim_name)
        victim = cluster.kill(victim_name)
        done_at_kill = tiles_done(path)
        r = running.result(timeout=RUN_TIMEOUT)
    _timed("batch 1 on the dask CLI cluster, one worker killed", time.perf_counter() - start)

    assert done_at_kill < total, "the kill came after every tile was written"
    assert victim.returncode == -signal.SIGKILL
    assert list(cluster.tasks_run()) == [survivor]  # the survivor finished the mosaic
    assert r.report["tiles_written"] == total
    committed = MosaicStore.open(path).tile_batches()
    expected = MosaicStore.open(reference["path"]).tile_batches()
    missing = [tuple(int(i) for i in t) for t in np.argwhere((expected == 1) & (committed != 1))]
    assert not missing, (
        f"the mosaic reported success, yet tiles {missing} were never written "
        f"({done_at_kill} of {total} were written when {victim_name} was killed)"
    )
    out, attrs = stored(path)
    assert_same_outputs(reference["outputs"], out)
    same_record(reference["attrs"], attrs)


# -- 3. the client killed, the mosaic resumed -------------------------------------------


def test_killed_job_resumes_to_identical_store(tmp_path, procs, reference):
    path = tmp_path / "m.zarr"
    total = reference["report"]["tiles_written"]
    p = procs.start([sys.executable, JOB, path, 1, "--slow", 0.25], "job")
    wait_for(lambda: tiles_done(path) >= 3, "the job to write 3 tiles", procs, [p])
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)  # reaped: the pid in the lock is now dead
    done = tiles_done(path)
    assert 3 <= done < total, f"{done} of {total} tiles were written before the kill"
    assert lock_holder(path)["pid"] == p.pid  # the killed job's lock is still there
    assert MosaicStore.open(path).attrs["batches"][-1]["status"] == "running"

    # The dead holder's lock is broken; the batch must be resumed, not restarted.
    with pytest.raises(StoreError, match="interrupted batch"):
        run(job.batch_inputs(1), path)
    assert tiles_done(path) == done

    resumed = run(job.batch_inputs(1), path, scheduler="threads", resume=True)
    assert resumed.report["tiles_resumed"] == done
    assert resumed.report["tiles_written"] == total - done
    out, attrs = stored(path)
    assert_same_outputs(reference["outputs"], out)
    same_record(reference["attrs"], attrs)
    assert lock_holder(path) is None


# -- 4. two writers on one store --------------------------------------------------------


def test_second_writer_is_refused_while_the_first_runs(tmp_path, procs, reference):
    path = tmp_path / "m.zarr"
    a = procs.start([sys.executable, JOB, path, 1, "--slow", 0.3], "job-a")
    wait_for(lambda: (lock_holder(path) or {}).get("pid") == a.pid and tiles_done(path) >= 1,
             "job A to hold the lock and write a tile", procs, [a])  # fmt: skip
    attrs_before = MosaicStore.open(path).attrs

    with pytest.raises(StoreLockedError) as refused:
        run(job.batch_inputs(2), path)
    assert a.poll() is None, "job A ended before B was refused"
    message = str(refused.value)
    assert str(path) in message and f"pid {a.pid}" in message, message
    assert MosaicStore.open(path).attrs == attrs_before  # B wrote nothing
    assert lock_holder(path)["pid"] == a.pid

    assert a.wait(timeout=RUN_TIMEOUT) == 0, procs.log(a)
    report_a = json.loads(procs.stdout(a).strip().splitlines()[-1])
    assert report_a["tiles_written"] == reference["report"]["tiles_written"]
    out, attrs = stored(path)
    assert_same_outputs(reference["outputs"], out)
    same_record(reference["attrs"], attrs)
    assert lock_holder(path) is None

    # Once A is done, B goes in: the store equals A then B run one after the other.
    run(job.batch_inputs(2), path, scheduler="threads")
    sequential = tmp_path / "sequential.zarr"
    shutil.copytree(reference["path"], sequential)
    run(job.batch_inputs(2), sequential)
    out_ab, attrs_ab = stored(path)
    out_seq, attrs_seq = stored(sequential)
    assert_same_outputs(out_seq, out_ab)
    same_record(attrs_seq, attrs_ab)
    assert [b["id"] for b in attrs_ab["batches"]] == [1, 2]


def test_writer_sees_a_batch_finished_while_it_prepared(tmp_path, procs, reference,
                                                       monkeypatch):  # fmt: skip
    """Job B reads the store, then job A writes a whole batch and lets go of the lock before
    B takes it: B must work from the store as A left it (its batch after A's), not from
    what it read before."""
    from tiledrizzle.store.zarr_store import MosaicStore

    path = tmp_path / "m.zarr"
    shutil.copytree(reference["path"], path)
    real_acquire = MosaicStore.acquire_lock

    def acquire_after_job_a_wrote(self):  # B has read the store; A writes before B locks
        a = procs.start([sys.executable, JOB, path, 2], "job-a")
        assert a.wait(timeout=RUN_TIMEOUT) == 0, procs.log(a)
        return real_acquire(self)

    monkeypatch.setattr(MosaicStore, "acquire_lock", acquire_after_job_a_wrote)
    b = run(job.batch_inputs(1), path, allow_duplicates=True)  # B: batch 1's again, third
    monkeypatch.setattr(MosaicStore, "acquire_lock", real_acquire)

    sequential = tmp_path / "sequential.zarr"
    shutil.copytree(reference["path"], sequential)
    run(job.batch_inputs(2), sequential)
    in_turn = run(job.batch_inputs(1), sequential, allow_duplicates=True)
    assert b.report["batch"] == 3 and b.report["tiles_resumed"] == 0, b.report
    assert b.report["tiles_written"] == in_turn.report["tiles_written"]
    out, attrs = stored(path)
    out_seq, attrs_seq = stored(sequential)
    assert_same_outputs(out_seq, out)
    same_record(attrs_seq, attrs)


# -- 5. many small inputs: memory, threads, a LocalCluster, the facade ------------------

LOAD_RSS_BOUND = 48 * 2**20
"""Peak resident-memory growth allowed while the load mosaic runs (measured: 6 to 15 MiB).

Generous, yet below the partial sums of the whole mosaic (one float64 tile-sized set per
task, ~70 MiB here): a run that held every partial at once, or the whole output several
times, would exceed it.
"""


def test_many_small_inputs_bounded_memory_same_bits_everywhere(tmp_path, procs):
    inputs = job.load_inputs()
    assert len(inputs) >= 200

    # Threads, in a fresh process whose memory is measured.
    threads_path = tmp_path / "threads.zarr"
    p = procs.start([sys.executable, JOB, threads_path, "load", "--wave-mib", 4], "load")
    assert p.wait(timeout=RUN_TIMEOUT) == 0, procs.log(p)
    report = json.loads(procs.stdout(p).strip().splitlines()[-1])
    _timed("load mosaic, threads", report["seconds"])
    growth = report["rss_peak"] - report["rss_before"]
    ny, nx = job.LOAD_GRID["tile_shape"]
    all_partials = report["tasks"] * ny * nx * (8 + 8 + 2 * 8 + 4 + 4)
    mib = 2.0**20
    print(f"[memory] peak RSS growth {growth / mib:.1f} MiB; partial sums of the whole mosaic "
          f"{all_partials / mib:.1f} MiB; bound {LOAD_RSS_BOUND / mib:.0f} MiB")  # fmt: skip
    assert report["tasks"] >= 2 * len(inputs)  # many tasks per tile
    assert LOAD_RSS_BOUND < all_partials
    assert growth < LOAD_RSS_BOUND
    threads_out, _ = stored(threads_path)
    assert threads_out["ctx"].shape[0] >= 7

    # A LocalCluster of two worker processes (one wave: other tile groups, same bits).
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        )  # fmt: skip
    try:
        with distributed.Client(cluster, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT)
            workers = set(client.scheduler_info()["workers"])
            _timed("LocalCluster start (2 worker processes)", time.perf_counter() - start)
            start = time.perf_counter()
            r = run(inputs, tmp_path / "cluster.zarr", job.LOAD_GRID, scheduler=client)
            _timed("load mosaic, LocalCluster (2 processes)", time.perf_counter() - start)
            workers_after = set(client.scheduler_info()["workers"])
            logs = "" if workers_after == workers else client.get_scheduler_logs(n=30)
    finally:
        cluster.close()
    assert "distributed" in r.report["scheduler"]
    cluster_out, _ = stored(tmp_path / "cluster.zarr")
    assert_same_outputs(threads_out, cluster_out, job.LOAD_GRID["tile_shape"])
    assert workers_after == workers, f"workers changed during the run: {workers_after}\n{logs}"

    # The facade, one untiled image: the same arithmetic in the same order (docs/architecture.md).
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = Drizzle(out_shape=job.LOAD_SHAPE, kernel=job.LOAD_GRID["kernel"])
        for e in inputs:
            d.add_image(**add_image_kwargs(e))
    _timed("load, facade Drizzle (untiled)", time.perf_counter() - start)
    facade = {"img": d.out_img, "wht": d.out_wht, "ctx": d.out_ctx, "dq": d.out_dq}
    facade.update({f"img2/{k}": a for k, a in enumerate(d.out_img2)})
    assert_same_outputs(facade, threads_out, job.LOAD_GRID["tile_shape"])
