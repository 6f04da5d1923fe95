"""Finish tiles behind the computation, on the schedulers that run in this process.

On the local schedulers (sync, threads) a reducer task hands its tile's
partial sums to a writer thread and returns, so merging them into the tile
(``engine.tile_commit.merge_and_write``: read what the tile held, ``reduce_tile``), the
tile's Zarr encoding and the file I/O overlap the kernels of the next tiles
instead of stalling them. The write itself is ``MosaicStore.write_tile``,
unchanged: each tile is still written once per batch, crash-safely, and
marked committed only after its data. The merge runs in global input order
whatever thread runs it, so the tiles' bits do not change.

``TileWriteBehind.flush`` waits until every tile handed over has landed and
raises the first error; the engine closes its writer (``close``: a flush, then
the thread stops) before a batch ends, so a batch is only reported complete
(and the store's lock only released) once every tile is on disk. At most
``MAX_PENDING`` tiles wait (with their partial sums): memory stays bounded by
the tiles in flight. A process that dies with tiles pending leaves them
uncommitted, and a resumed batch redoes them.

Clusters and the multiprocessing scheduler write synchronously in the task:
their workers live in other processes, beyond a flush from the client.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

MAX_PENDING = 3
"""Tiles that may wait for their merge and write; a reducer with more waits its turn."""

_WRITERS: dict = {}
_IDS = itertools.count(1)


class TileWriteBehind:
    """One writer thread and the futures of the tile writes handed to it."""

    def __init__(self, max_pending=MAX_PENDING):
        self._pool = ThreadPoolExecutor(1, "tiledrizzle-writer")
        self._slots = threading.BoundedSemaphore(max_pending)
        self._futures = []
        self._lock = threading.Lock()
        self.key = f"write-behind-{next(_IDS)}"
        _WRITERS[self.key] = self

    def submit(self, write, *args):
        """Run ``write(*args)`` on the writer thread (waits while ``MAX_PENDING`` are queued).

        A write that has failed is raised here, by the next reducer: the batch
        stops instead of computing tiles it can no longer write.
        """
        self._raise_failed()
        self._slots.acquire()
        try:
            future = self._pool.submit(write, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        with self._lock:
            self._futures.append(future)

    def _raise_failed(self):
        with self._lock:
            failed = [f for f in self._futures if f.done() and f.exception() is not None]
        if failed:
            raise failed[0].exception()

    def flush(self):
        """Wait for every write handed over so far; raise the first one's error."""
        with self._lock:
            futures, self._futures = self._futures, []
        errors = [exc for exc in (f.exception() for f in futures) if exc is not None]
        if errors:
            raise errors[0]

    def close(self, raise_errors=True):
        """Wait for the pending writes and stop the thread (errors raised if asked)."""
        try:
            if raise_errors:
                self.flush()
            else:
                with self._lock:
                    futures, self._futures = self._futures, []
                for f in futures:
                    f.exception()
        finally:
            self._pool.shutdown(wait=True)
            _WRITERS.pop(self.key, None)


def writer_for(key):
    """The ``TileWriteBehind`` registered under ``key`` in this process (None: none)."""
    return None if key is None else _WRITERS.get(key)
