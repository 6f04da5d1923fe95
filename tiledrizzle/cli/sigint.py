"""Ctrl-C for the ``tiledrizzle`` command: honoured at safe points, never as a traceback.

While a command runs, SIGINT only records the request (``core.interrupt``); the
engine and the products raise ``KeyboardInterrupt`` at their next safe point
(between tasks, inputs, waves, chunks), after the tasks already running have
finished, so the store is left resumable and ``main`` prints one line. A second
Ctrl-C stops the process at once (tiles being written are left pending; the
store still resumes). Once the command has returned, a late Ctrl-C ends the
process with the command's own status instead of interrupting the interpreter's
exit (where Python would print an "Exception ignored" traceback, or, after
restoring the default action, die of the signal).
"""

from __future__ import annotations

import atexit
import os
import signal

from tiledrizzle.core.interrupt import interrupt_requested, request_interrupt

FORCED_LINE = "tiledrizzle: interrupted twice: stopped at once (rerun with --resume to finish)\n"
EXIT_INTERRUPTED = 130


def _on_sigint(signum, frame):
    if interrupt_requested():
        os.write(2, FORCED_LINE.encode())
        os._exit(EXIT_INTERRUPTED)
    request_interrupt()


def defer_sigint():
    """Take SIGINT over for the command (call first, in the main thread)."""
    signal.signal(signal.SIGINT, _on_sigint)


def sigint_after_command(status):
    """The command is done with ``status``: a Ctrl-C from now on exits with it."""

    def done(signum, frame):
        os._exit(status)

    signal.signal(signal.SIGINT, done)
    # Python puts the default action back for handlers written in Python as it shuts
    # down (after the exit handlers): a signal then would kill the process instead.
    atexit.register(signal.signal, signal.SIGINT, signal.SIG_IGN)
