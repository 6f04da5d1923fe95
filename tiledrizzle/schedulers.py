"""Running task graphs on the scheduler a user names: sync, threads, processes or Dask distributed.

``Runner`` hides the difference: it places the inputs where tasks can reach them
(scattered to every worker of a cluster, so losing a worker loses no input),
computes lists of delayed objects, and reports each result as it arrives.
"""

from __future__ import annotations

import sys

import dask

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
    if isinstance(scheduler, str) and (scheduler.lower() in LOCAL_SCHEDULERS or ":" in scheduler):
        return scheduler
    raise ValueError(_UNKNOWN.format(scheduler=scheduler))


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


_UNKNOWN = (
    "unknown scheduler {scheduler!r}: use 'sync', 'threads', 'processes', "
    "a distributed.Client or a scheduler address such as 'tcp://127.0.0.1:8786'"
)


class Runner:
    """Compute delayed objects on one scheduler (see ``resolve``)."""

    def __init__(self, scheduler="threads"):
        self._own_client = False
        self.client = None
        self.local = None
        client_type = _distributed_client_type()
        if client_type is not None and isinstance(scheduler, client_type):
            self.client = scheduler
        elif isinstance(scheduler, str) and scheduler.lower() in LOCAL_SCHEDULERS:
            self.local = LOCAL_SCHEDULERS[scheduler.lower()]
        elif isinstance(scheduler, str) and (":" in scheduler):
            from distributed import Client

            try:
                self.client = Client(scheduler, timeout="20s", set_as_default=False)
            except OSError as exc:
                raise ValueError(
                    f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}"
                ) from None
            self._own_client = True
        else:
            raise ValueError(_UNKNOWN.format(scheduler=scheduler))
        if self.client is None:
            self.name = self.local
        else:
            self.name = f"distributed {self.client.scheduler_info().get('address', '')}"


    def place(self, objects, name):
        """Graph nodes for ``objects`` (large inputs): scattered futures or named literals."""
        if self.client is not None:
            return self.client.scatter(list(objects), broadcast=True, hash=False)
        return [
            dask.delayed(obj, name=f"{name}-{k}", traverse=False) for k, obj in enumerate(objects)
        ]

    def compute(self, delayed_objects, on_result=None):
        """Compute ``delayed_objects``, calling ``on_result(value)`` as each finishes."""
        if not delayed_objects:
            return []
        if self.client is None:
            values = dask.compute(*delayed_objects, scheduler=_local_get(self.local))
            if on_result is not None:
                for v in values:
                    on_result(v)
            return list(values)
        from distributed import as_completed

        futures = self.client.compute(list(delayed_objects))
        order = {f.key: k for k, f in enumerate(futures)}
        values = [None] * len(futures)
        for fut, value in as_completed(futures, with_results=True, loop=self.client.loop):
            values[order[fut.key]] = value
            if on_result is not None:
                on_result(value)
        return values

    def close(self):
        if self._own_client:
            self.client.close()
            self._own_client = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
