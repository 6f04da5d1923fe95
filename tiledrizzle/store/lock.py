"""The writer lock of a mosaic store: one lock file, taken with O_EXCL.

A lock left by a process that is gone (on this host) is broken; a lock held by
a job on another host has to be removed by hand (the error says which file).
Object stores (``s3://`` and the like) have no lock file.
"""

from __future__ import annotations

import json
import os
import socket
import time

from tiledrizzle.core.errors import StoreLockedError

LOCK_NAME = ".tiledrizzle.lock"
_ATTEMPTS = 100  # of taking the lock, while other processes break a stale one
BREAKER_STALE_SECONDS = 30.0
"""A breaker file older than this was left by a process killed while breaking a lock."""


class WriterLock:
    """The writer lock of the store at ``store_path`` (a path or URL)."""

    def __init__(self, store_path):
        self.store_path = store_path
        if "://" in store_path and not store_path.startswith("file://"):
            self.path = None  # object stores: no lock file (documented limitation)
        else:
            self.path = os.path.join(store_path.removeprefix("file://"), LOCK_NAME)

    def acquire(self):
        """Take the lock; a lock left by a dead process on this host is broken."""
        path = self.path
        if path is None:
            return
        me = {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time(),
              "started": (_process_state(os.getpid()) or (None, None))[1]}  # fmt: skip
        for _ in range(_ATTEMPTS):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = _read_lock(path)
                if holder is not None and _holder_is_dead(holder):
                    _break_stale(path, holder)
                    continue
                raise StoreLockedError(
                    f"the store {self.store_path!r} is being written by another job "
                    f"({_describe(holder)}); wait for it to finish, or, if that job is "
                    f"gone (e.g. on another host), remove {path!r} and resume"
                ) from None
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return
        raise StoreLockedError(f"could not take the writer lock of {self.store_path!r}")

    def release(self):
        """Give the lock back if this process holds it."""
        path = self.path
        if path is not None and os.path.exists(path):
            holder = _read_lock(path)
            if holder is not None and holder.get("pid") == os.getpid():
                os.unlink(path)


def _break_stale(path, judged):
    """Remove the lock at ``path`` if it still holds ``judged`` (a dead holder).

    Reading, judging and removing are one step under a second lock file (the
    breaker, taken with O_EXCL): without it two processes could both judge the
    same stale lock, one take it over, and the other remove that fresh lock and
    take it too.
    """
    breaker = path + ".break"
    try:
        fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:  # another process is breaking it: let it finish
        try:
            if time.time() - os.path.getmtime(breaker) > BREAKER_STALE_SECONDS:
                os.unlink(breaker)
        except OSError:
            pass
        time.sleep(0.02)
        return
    try:
        if _read_lock(path) == judged:
            os.unlink(path)
    finally:
        os.close(fd)
        os.unlink(breaker)


def _read_lock(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _process_state(pid):
    """``(state, start time)`` of process ``pid`` from ``/proc`` (Linux), else None.

    The start time (clock ticks after boot) tells a process from a later one that
    reuses its number; state ``Z`` is a process that has exited but not been reaped.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after "pid (command name)"
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _holder_is_dead(holder) -> bool:
    """True when the lock's holder ran on this host and is gone: no such process, an
    exited one not yet reaped (a zombie), or another process that now has its number."""
    if holder.get("host") != socket.gethostname():
        return False
    try:
        pid = int(holder["pid"])
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError, TypeError):
        return False
    now = _process_state(pid)
    if now is None:
        return False
    state, started = now
    recorded = holder.get("started")
    return state == "Z" or (isinstance(recorded, int) and recorded != started)


def _describe(holder):
    if not holder:
        return "holder unknown"
    return f"pid {holder.get('pid')} on {holder.get('host')}"
