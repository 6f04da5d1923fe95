"""Running task graphs on the scheduler a user names: sync, threads, processes or Dask distributed.

``Runner`` hides the difference: it places the inputs where tasks can reach them
(scattered to every worker of a cluster, so losing a worker loses no input),
computes lists of delayed objects, and reports each result as it arrives.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np

from tiledrizzle.core.errors import ClusterError, InputError
from tiledrizzle.core.interrupt import checkpoint

log = logging.getLogger(__name__)

LOCAL_SCHEDULERS = {
    "sync": "sync",
    "synchronous": "sync",
    "single-threaded": "sync",
    "threads": "threads",
    "threading": "threads",
    "processes": "processes",
    "multiprocessing": "processes",
}


def _distributed_client_type():
    """``distributed.Client``, or None when nobody has imported distributed.

    A Client can only exist once its module is loaded, so this looks in
    ``sys.modules`` instead of importing distributed (about a second) for the
    local schedulers.
    """
    module = sys.modules.get("distributed")
    return getattr(module, "Client", None)


def check_scheduler(scheduler):
    """Return ``scheduler`` if it names one ``Runner`` accepts; ValueError otherwise.

    Addresses are only checked for form here (connecting happens when work runs).
    """
    client_type = _distributed_client_type()
    if client_type is not None and isinstance(scheduler, client_type):
        return scheduler
    if isinstance(scheduler, str) and scheduler.lower() in LOCAL_SCHEDULERS:
        return scheduler
    if isinstance(scheduler, str) and ":" in scheduler:
        if not _ADDRESS.match(scheduler):
            raise InputError(
                f"scheduler address {scheduler!r} is not of the form HOST:PORT or "
                "PROTOCOL://HOST:PORT (e.g. 'tcp://127.0.0.1:8786')"
            )
        return scheduler
    raise InputError(_UNKNOWN.format(scheduler=scheduler))


_ADDRESS = re.compile(r"^([a-z][a-z0-9+.-]*://)?(\[[0-9a-fA-F:]+\]|[^:/\s\[\]]+):\d{1,5}/?$")
"""A scheduler address: optional protocol, host (or [IPv6]), numeric port."""


CONNECT_TIMEOUT = "20s"
"""How long connecting to a scheduler address may take, handshake included (Dask
configuration ``tiledrizzle.connect-timeout`` changes it)."""

IN_GRAPH_BYTES = 1 << 20
"""Objects holding fewer array bytes than this travel in the graph on a cluster."""


def _connect(address):
    """A ``distributed.Client`` of the scheduler at ``address``, or ``InputError`` within
    the connect timeout. Dask's own timeout covers the TCP connection but not the
    handshake: a server that accepts and never answers would hold the client for
    minutes, so the whole connection runs against a deadline of our own."""
    import dask
    from dask.utils import parse_timedelta
    from distributed import Client

    timeout = dask.config.get("tiledrizzle.connect-timeout", CONNECT_TIMEOUT)
    seconds = parse_timedelta(timeout)
    outcome = {}

    def connect():
        try:
            outcome["client"] = Client(address, timeout=timeout, set_as_default=False)
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=connect, name="tiledrizzle-connect", daemon=True)
    thread.start()
    deadline = time.monotonic() + seconds + 2.0
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(0.1)
        checkpoint()  # Ctrl-C while connecting (the thread is a daemon: it is left behind)
    if thread.is_alive():
        raise InputError(
            f"cannot connect to the Dask scheduler at {address!r}: something answers there "
            f"but no Dask scheduler replied within {seconds:g} s"
        )
    exc = outcome.get("error")
    if isinstance(exc, OSError | ValueError | TypeError):  # refused, timed out, bad port
        raise InputError(f"cannot connect to the Dask scheduler at {address!r}: {exc}") from None
    if exc is not None:
        raise exc
    return outcome["client"]


def _dashboard_link(client):
    """The scheduler's dashboard address, or None when it runs none."""
    try:
        return client.dashboard_link
    except KeyError:  # no "dashboard" among the scheduler's services
        return None


def tiledrizzle_version():
    """``tiledrizzle.__version__`` where this runs (on every worker, by ``client.run``)."""
    import tiledrizzle

    return tiledrizzle.__version__


def check_worker_versions(client):
    """``ClusterError`` unless every worker of ``client``'s cluster runs the tiledrizzle
    version this process runs: tasks and reducers of other code could write other bits
    into the store, or fail half-way through a batch. One error naming the workers."""
    mine = tiledrizzle_version()
    theirs = client.run(tiledrizzle_version, on_error="return")
    wrong = {addr: v for addr, v in sorted(theirs.items()) if v != mine}
    if not wrong:
        return
    told = [f"{addr} runs {v}" if isinstance(v, str) else f"{addr} cannot import it ({v})"
            for addr, v in wrong.items()]  # fmt: skip
    raise ClusterError(
        f"{len(wrong)} of {len(theirs)} Dask workers do not run tiledrizzle {mine} as this "
        f"client does: {'; '.join(told)}; install tiledrizzle {mine} on every worker"
    )


class InputsLostError(RuntimeError):
    """Tasks were cancelled because a worker holding their scattered inputs died."""


def _array_bytes(obj, depth=0):
    """Bytes of the NumPy arrays an object holds (fields, a few levels deep)."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if depth > 3:
        return 0
    if isinstance(obj, list | tuple):
        return sum(_array_bytes(v, depth + 1) for v in obj)
    fields = getattr(obj, "__dict__", None)
    if fields is None and hasattr(obj, "__slots__"):
        fields = {n: getattr(obj, n, None) for n in obj.__slots__}
    return sum(_array_bytes(v, depth + 1) for v in (fields or {}).values())


def _local_get(name):
    """The get function of a local scheduler (given as a function, dask does not import
    distributed to look for a default client, which costs about a second)."""
    if name == "sync":
        from dask.local import get_sync

        return get_sync
    if name == "threads":
        from dask.threaded import get

        return get
    from dask.multiprocessing import get

    return get


def _thread_pool():
    """A pool of Dask's kind for the threaded scheduler, as many threads as Dask would use."""
    import dask
    import dask.threaded
    from dask.system import CPU_COUNT

    kind = getattr(dask.threaded, "ContextAwareThreadPoolExecutor", ThreadPoolExecutor)
    return kind(dask.config.get("num_workers", None) or CPU_COUNT, "tiledrizzle-task")


def _config_pool():
    import dask

    return dask.config.get("pool", None)


def _config_initializer():
    import dask

    return dask.config.get("multiprocessing.initializer", None)


def _worker_ignoring_sigint(user_initializer=None):
    """Initializer of the multiprocessing scheduler's workers: SIGINT ignored, then the
    initializer the Dask configuration names, if any."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if user_initializer is not None:
        user_initializer()


_UNKNOWN = (
    "unknown scheduler {scheduler!r}: use 'sync', 'threads', 'processes', "
    "a distributed.Client or a scheduler address such as 'tcp://127.0.0.1:8786'"
)


class Runner:
    """Compute delayed objects on one scheduler (see ``resolve``)."""

    def __init__(self, scheduler="threads"):
        self._own_client = False
        self._pool = None
        self.client = None
        self.local = None
        client_type = _distributed_client_type()
        if client_type is not None and isinstance(scheduler, client_type):
            self.client = scheduler
        elif isinstance(scheduler, str) and scheduler.lower() in LOCAL_SCHEDULERS:
            self.local = LOCAL_SCHEDULERS[scheduler.lower()]
        elif isinstance(scheduler, str) and (":" in scheduler):
            self.client = _connect(check_scheduler(scheduler))
            self._own_client = True
        else:
            raise InputError(_UNKNOWN.format(scheduler=scheduler))
        if self.client is None:
            self.name = self.local
            log.debug("scheduler: %s", self.name)
        else:
            try:
                check_worker_versions(self.client)
            except BaseException:
                self.close()
                raise
            info = self.client.scheduler_info()
            self.name = f"distributed {info.get('address', '')}"
            link = _dashboard_link(self.client)
            if link:
                log.info("Dask dashboard: %s", link)
            if log.isEnabledFor(logging.DEBUG):
                threads = self.client.nthreads()
                log.debug("scheduler: %s, %d workers, %d threads", self.name, len(threads),
                          sum(threads.values()))  # fmt: skip

    def place_refs(self, objects, name):
        """Place ``objects`` (the inputs) where tasks can reach them: ``(refs, graph)``.

        ``refs[k]`` is what a ``dask.task_spec.Task`` takes as an argument for
        ``objects[k]``; ``graph`` holds the ones that travel in the graph and must
        be part of each graph given to ``compute_graph``. Locally every object
        travels in the graph. On a cluster, small objects (file-backed inputs:
        paths and a few numbers) do too, so the scheduler can recompute anything
        a lost worker held; large in-memory arrays are scattered once instead of
        being shipped with every graph. The scheduler keeps a scattered object on
        one worker only (its memory manager drops replicas), so losing that worker
        loses the object: ``compute_graph`` then raises ``InputsLostError`` and
        the caller places the objects again.
        """
        from dask.task_spec import DataNode, TaskRef

        objects = list(objects)
        refs, graph = [None] * len(objects), {}
        big = []
        if self.client is not None:
            big = [k for k, obj in enumerate(objects) if _array_bytes(obj) > IN_GRAPH_BYTES]
        if big:
            futures = self.client.scatter([objects[k] for k in big], broadcast=True, hash=False)
            for k, future in zip(big, futures, strict=True):
                refs[k] = future  # a distributed Future is a TaskRef
        for k, obj in enumerate(objects):
            if refs[k] is None:
                key = f"{name}-{k}"
                graph[key] = DataNode(key, obj)
                refs[k] = TaskRef(key)
        return refs, graph

    def compute_graph(self, graph, keys, on_result=None):
        """Compute ``keys`` of a task graph (``dask.task_spec`` nodes), calling
        ``on_result(value)`` as each finishes; returns the values in the order of ``keys``.

        A requested interrupt (``core.interrupt``) stops the computation after the
        task that is running, with ``KeyboardInterrupt``."""
        if not keys:
            return []
        if self.client is None:
            return self._local_compute(graph, list(keys), on_result)
        return self._gather(self.client.get(graph, list(keys), sync=False), on_result)

    def _local_compute(self, graph, keys, on_result):
        from dask.callbacks import Callback

        wanted = set(keys)

        def posttask(key, value, dsk, state, worker_id):
            if on_result is not None and key in wanted:
                on_result(value)  # as each finishes, not when the whole graph has
            checkpoint()

        # Callbacks given explicitly replace the active ones (a user's ProgressBar): keep them.
        callbacks = [*Callback.active, (None, None, None, posttask, None)]
        get = _local_get(self.local)
        if self.local == "processes" and _config_pool() is None:
            # Ctrl-C at a terminal reaches the whole process group: the workers leave
            # it to this process, which stops the computation between tasks.
            init = partial(_worker_ignoring_sigint, _config_initializer())
            return list(get(graph, keys, callbacks=callbacks, initializer=init))
        if self.local != "threads" or _config_pool() is not None:
            return list(get(graph, keys, callbacks=callbacks))
        # Our own pool: when the compute stops early (an interrupt, a failed task) Dask
        # returns at once and leaves its tasks running; a reducer among them could
        # still hand a tile to the writer after the batch ended and the store's lock
        # was released. The pool is shut down, waiting for them, before the error goes on.
        if self._pool is None:
            self._pool = _thread_pool()
        try:
            return list(get(graph, keys, pool=self._pool, callbacks=callbacks))
        except BaseException:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=True, cancel_futures=True)
            raise

    def _gather(self, futures, on_result):
        from distributed import as_completed

        order = {f.key: k for k, f in enumerate(futures)}
        values = [None] * len(futures)
        lost = []
        try:
            completed = as_completed(futures, with_results=True, loop=self.client.loop)
            for fut, value in completed:
                checkpoint()
                if fut.status != "finished":
                    # A task whose scattered input went with a worker is cancelled; its
                    # "result" is the exception object, not a value.
                    lost.append(fut)
                    continue
                values[order[fut.key]] = value
                if on_result is not None:
                    on_result(value)
        except BaseException:
            # Interrupted (or failed): what has not started is not started.
            self.client.cancel(futures)
            raise
        if lost:
            raise InputsLostError(
                f"{len(lost)} of {len(futures)} tasks lost their inputs with a worker "
                f"({lost[0].status}: {lost[0].exception()!r})"
            )
        return values

    def run_everywhere(self, func, *args):
        """Call ``func(*args)`` in this process and, on a cluster, on every worker
        (best effort: a worker that cannot be reached is skipped)."""
        func(*args)
        if self.client is not None:
            try:
                self.client.run(func, *args, on_error="ignore")
            except Exception:  # noqa: BLE001 -- cleanup only; the result stands
                pass

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._own_client:
            self.client.close()
            self._own_client = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
