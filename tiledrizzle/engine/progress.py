"""Progress of a mosaic in stages (planning, drizzling N tiles, finishing): a tqdm bar,
periodic log lines, or nothing.

``progress=True`` in the Python API is a tqdm bar on stderr (``BarProgress``);
the command line picks ``BarProgress`` on a terminal and ``LogProgress``
(for the stages that last, a line every 10 % or 10 s, through the ``logging``
logger of this module) elsewhere, since a pipe or a CI log would fill with carriage returns. Any
``Progress`` can be given instead: the engine calls ``stage`` when a stage
begins and ``advance`` as its steps finish.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)


class Progress:
    """Stages and steps, shown nowhere (the base of the ones that show them)."""

    def stage(self, name, total=None, unit="steps"):
        """Begin the stage ``name`` of ``total`` steps (None: not counted)."""

    def advance(self, n=1):
        """``n`` more steps of the current stage are done."""

    def close(self):
        """The last stage is over (or the work stopped)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class BarProgress(Progress):
    """One tqdm bar per stage on ``file`` (stderr by default), with rate and ETA. While
    it is shown, the ``tiledrizzle`` logger's console handlers write through tqdm, so
    log lines and warnings do not break the bar."""

    def __init__(self, file=None):
        self.file = file
        self._bar = None
        self._redirect = None

    def stage(self, name, total=None, unit="steps"):
        from tqdm import tqdm

        if self._bar is not None:
            self._bar.close()
        if self._redirect is None:
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._redirect = logging_redirect_tqdm([logging.getLogger("tiledrizzle")])
            self._redirect.__enter__()
        counted = {"unit": f" {unit}"} if total else {"bar_format": "{desc}: {elapsed}"}
        self._bar = tqdm(total=total, desc=name, file=self.file, leave=False,
                         dynamic_ncols=True, **counted)  # fmt: skip
        self._bar.refresh()  # shown from the stage's start, not at its first step

    def advance(self, n=1):
        if self._bar is not None:
            self._bar.update(n)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._redirect is not None:
            self._redirect.__exit__(None, None, None)
            self._redirect = None


class LogProgress(Progress):
    """Log lines (INFO) for pipes and CI logs, for the stages that last: nothing for a
    stage over within ``delay`` seconds (a run refused at once stays one error line);
    then a line, one every ``seconds`` while it lasts and, for a counted stage, one
    each ``every`` of it (a fraction) done (at most one per ``min_seconds``), with the
    time left; and one at its end.

    The lines due by time come from a timer thread (``timer=False``: only from
    ``advance``, for tests with their own ``clock``)."""

    def __init__(self, every=0.1, seconds=10.0, delay=2.0, min_seconds=1.0,
                 clock=time.monotonic, timer=True):  # fmt: skip
        self.every, self.seconds, self.delay, self.min_seconds = every, seconds, delay, min_seconds
        self.clock, self._use_timer = clock, timer
        self._lock = threading.Lock()
        self._timer = None
        self._name = None

    def stage(self, name, total=None, unit="steps"):
        with self._lock:
            self._end()
            self._name, self._total, self._unit, self._done = name, total, unit, 0
            self._start = self.clock()
            self._shown = False  # no line yet
            self._last = self._start
            self._next = self.every * (total or 0)
            self._arm(self.delay)

    def advance(self, n=1):
        with self._lock:
            if self._name is None:
                return
            self._done += n
            if self._total and self._done >= self._total:
                return  # the end line says it
            now = self.clock()
            if not self._shown:
                if now - self._start >= self.delay:
                    self._line(now)
            elif now - self._last >= self.min_seconds and (
                now - self._last >= self.seconds or (self._total and self._done >= self._next)
            ):
                self._line(now)

    def _arm(self, after):
        if self._use_timer:
            self._timer = threading.Timer(after, self._tick, (self._name, self._start))
            self._timer.daemon = True
            self._timer.start()

    def _tick(self, name, start):
        with self._lock:
            if (self._name, self._start) != (name, start):
                return  # the stage is over
            now = self.clock()
            if not self._shown or now - self._last >= self.seconds - 0.01:
                self._line(now)
            self._arm(max(self.seconds - (self.clock() - self._last), 0.1))

    def _line(self, now):
        """The line for now: how far the stage is (its first line names it whole)."""
        done, total, unit, name = self._done, self._total, self._unit, self._name
        elapsed = now - self._start
        if not total and not self._shown:
            log.info("%s", name)
        elif not total:
            log.info("%s: %s", name, _seconds(elapsed))
        elif not done:
            log.info("%s: %d %s", name, total, unit)
        else:
            left = elapsed / done * (total - done)
            log.info("%s: %d/%d %s (%d%%), %s, about %s left", name, done, total, unit,
                     100 * done // total, _seconds(elapsed), _seconds(left))  # fmt: skip
        while total and self._next <= done:
            self._next += self.every * total
        self._shown, self._last = True, now

    def _end(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._name is not None and self._shown:
            elapsed = _seconds(self.clock() - self._start)
            if self._total:
                log.info("%s: %d/%d %s in %s", self._name, self._done, self._total, self._unit,
                         elapsed)  # fmt: skip
            else:
                log.info("%s: done in %s", self._name, elapsed)
        self._name = None

    def close(self):
        with self._lock:
            self._end()

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            with self._lock:
                self._shown = False  # stopped: the error (or the interrupt) is the last line
        self.close()


def _seconds(s):
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {int(s % 60):02d} s"


def as_progress(progress):
    """``(Progress, owned)`` for the engine's ``progress`` argument: True a tqdm bar on
    stderr, False or None nothing, a ``Progress`` itself (``owned``: the engine made it
    and closes it)."""
    if isinstance(progress, Progress):
        return progress, False
    return (BarProgress() if progress else Progress()), True
