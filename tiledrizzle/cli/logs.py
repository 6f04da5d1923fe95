"""Logging and warnings of the ``tiledrizzle`` command: one line each on stderr.

The library logs to ``logging.getLogger(__name__)`` (children of the
``tiledrizzle`` logger) and configures nothing; the command line puts one
handler on the ``tiledrizzle`` logger for the time of a command: level INFO
(progress lines, the dashboard link), DEBUG with ``-v`` (plan, scheduler,
timings), WARNING with ``-q``. Python warnings (the kernels' "not
flux-conserving", astropy's ``FITSFixedWarning``, ``InputsOutsideWarning``)
are shown through it as ``tiledrizzle: warning: <message>``, each distinct one
once, without the source line Python would print; astropy's own routing of its
warnings to its logger is turned off meanwhile, so they look the same.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings

LOGGER = "tiledrizzle"
QUIET, NORMAL, VERBOSE = -1, 0, 1
_LEVELS = {QUIET: logging.WARNING, NORMAL: logging.INFO, VERBOSE: logging.DEBUG}
_PREFIX = {
    logging.DEBUG: "tiledrizzle: debug: ",
    logging.INFO: "tiledrizzle: ",
    logging.WARNING: "tiledrizzle: warning: ",
}


class _OneLine(logging.Formatter):
    """``tiledrizzle: [level: ]message`` on one line (messages from astropy may span several)."""

    def format(self, record):
        text = " ".join(record.getMessage().split())
        return _PREFIX.get(record.levelno, "tiledrizzle: error: ") + text


class _StderrHandler(logging.StreamHandler):
    """Writes to the ``sys.stderr`` of the moment (a test's capture, a progress bar's
    redirection), not the one there was when the command started."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


class _WarningLines:
    """``warnings.showwarning`` for a command: each distinct warning once, as a log record
    (Python's own once-per-location is lost whenever a library resets the filters, and
    astropy says the same of every file)."""

    def __init__(self):
        self.seen = set()

    def __call__(self, message, category, filename, lineno, file=None, line=None):
        key = (category, " ".join(str(message).split()))
        if key not in self.seen:
            self.seen.add(key)
            logging.getLogger(LOGGER).warning("%s", key[1])


def _astropy_log():
    """astropy's logger when astropy is loaded, else None (loading it is not our business)."""
    module = sys.modules.get("astropy.logger")
    return None if module is None else module.log


@contextlib.contextmanager
def command_logging(verbosity=NORMAL, astropy=False):
    """Within: the ``tiledrizzle`` logger writes one line per record to stderr at the
    level ``verbosity`` asks for, and warnings are shown through it. ``astropy``:
    load astropy now (the command will) so that its warnings come this way too."""
    logger = logging.getLogger(LOGGER)
    handler = _StderrHandler()
    handler.setFormatter(_OneLine())
    if astropy:
        import astropy.logger  # noqa: F401 -- it takes warnings over when first imported
    astropy_log = _astropy_log()
    astropy_took_warnings = (
        astropy_log is not None
        and astropy_log.warnings_logging_enabled()
        and warnings.showwarning == astropy_log._showwarning
    )
    if astropy_took_warnings:
        astropy_log.disable_warnings_logging()  # puts back the showwarning it wrapped
    saved = logger.level, logger.propagate, warnings.showwarning
    logger.addHandler(handler)
    logger.setLevel(_LEVELS[verbosity])
    logger.propagate = False
    warnings.showwarning = _WarningLines()
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        warnings.showwarning = saved[2]
        if astropy_took_warnings:
            astropy_log.enable_warnings_logging()
