import sys

try:
    from tiledrizzle.cli import run
except KeyboardInterrupt:  # before the command line took Ctrl-C over: nothing has run
    print("tiledrizzle: interrupted (nothing written: run the command again)", file=sys.stderr)
    sys.exit(130)

run()
