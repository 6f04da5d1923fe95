"""The ``tiledrizzle`` command line: ``mosaic``, ``info``, ``blot``, ``demo``."""

from tiledrizzle.cli.commands import main, run

__all__ = ["main", "run"]
