"""The ``tiledrizzle`` command line: ``mosaic``, ``info``, ``blot``, ``demo``."""


def run():
    """The ``tiledrizzle`` command (console script and ``python -m tiledrizzle``)."""
    from tiledrizzle.cli.sigint import defer_sigint

    defer_sigint()  # before the imports of the commands: Ctrl-C during them is deferred too
    from tiledrizzle.cli.commands import run as run_command

    run_command()


def main(argv=None):
    """Run one command line (``argv``, default ``sys.argv[1:]``); return its exit status."""
    from tiledrizzle.cli.commands import main as run_main

    return run_main(argv)


__all__ = ["main", "run"]
