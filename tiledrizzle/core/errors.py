"""The exceptions tiledrizzle raises for a user's mistake or a store it cannot use.

Every one derives from ``TiledrizzleError``, so callers (and the command line,
which prints these as one line and exits 2) can tell a refused request from a
bug. Where the reference ``drizzle`` raises ``ValueError`` or ``TypeError``,
the subclasses derive from those too, so code written for the reference keeps
catching what it caught.
"""


class TiledrizzleError(Exception):
    """Base of every error that reports a user's mistake or an unusable store or file."""


class InputError(TiledrizzleError, ValueError):
    """An argument or input has a bad value (the reference raises ValueError)."""


class InputTypeError(TiledrizzleError, TypeError):
    """An argument or input has the wrong type (the reference raises TypeError)."""


class PlanError(TiledrizzleError, ValueError):
    """The inputs and the output grid cannot make a mosaic as asked."""


class StoreError(TiledrizzleError, ValueError):
    """A mosaic store is missing, of another kind, or disagrees with the request."""


class StoreLockedError(TiledrizzleError, RuntimeError):
    """Another job holds the store's writer lock."""


class FitsInputError(InputError):
    """A FITS input file is missing, unreadable or lacks what the options ask for."""


class ClusterError(TiledrizzleError, RuntimeError):
    """The workers of a Dask cluster cannot run the job (another tiledrizzle version)."""
