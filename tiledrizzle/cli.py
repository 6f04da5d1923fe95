"""Command line: ``tiledrizzle demo`` (more commands come with the tiled engine)."""

from __future__ import annotations

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="tiledrizzle", description="Drizzle dithered, distorted exposures onto one grid."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="drizzle a synthetic set of dithered exposures")
    demo.add_argument("--exposures", type=int, default=6, help="number of exposures (default 6)")
    demo.add_argument("--kernel", default="square", help="drizzle kernel (default square)")
    demo.add_argument("--pixfrac", type=float, default=0.8, help="pixfrac (default 0.8)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        if args.exposures < 1:
            parser.error("--exposures must be at least 1")
        try:
            run_demo(n_exposures=args.exposures, kernel=args.kernel, pixfrac=args.pixfrac)
        except ValueError as exc:
            print(f"tiledrizzle: error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
