"""Ctrl-C honoured at safe points instead of at any bytecode.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when
SIGINT arrives: inside Numba's dispatcher (which turns it into a ``SystemError``),
inside Dask's synchronous executor (an ``InvalidStateError``), in an import or a
weakref callback (where it is printed as "Exception ignored" and lost), or while
threads are being joined at exit. The command line therefore installs a SIGINT
handler that only calls ``request_interrupt``; the engine and the products call
``checkpoint`` where stopping is safe (between tasks, inputs, waves and chunks),
which raises ``KeyboardInterrupt`` there. Library users who install no such
handler keep Python's behaviour; ``checkpoint`` is then a no-op.
"""

from __future__ import annotations

import threading

_requested = threading.Event()


def request_interrupt():
    """Ask the running work to stop at its next ``checkpoint`` (safe in a signal handler)."""
    _requested.set()


def interrupt_requested() -> bool:
    return _requested.is_set()


def clear_interrupt():
    _requested.clear()


def checkpoint():
    """Raise ``KeyboardInterrupt`` if an interrupt was requested (it stays requested, so
    every later checkpoint raises too: the work unwinds and nothing resumes it)."""
    if _requested.is_set():
        raise KeyboardInterrupt


def checkpoint_callback():
    """A Dask local-scheduler callback (the tuple form of ``dask.callbacks.Callback``)
    whose ``posttask`` is a ``checkpoint``: a compute stops after the task that was
    running when the interrupt was requested."""
    return (None, None, None, lambda *_: checkpoint(), None)
