"""Get a mosaic job ready: wait for Dask workers, make demo exposures when there are no inputs.

Used by the job of every deployment in deploy/ (local scripts, Compose, Kubernetes)::

    python deploy/prepare.py --scheduler tcp://scheduler:8786 --workers 2 \
        --demo-inputs /data/inputs --exposures 6

``--demo-inputs DIR``: when DIR holds no ``*.fits`` file, write ``--exposures``
synthetic exposures there (the camera and sky of ``tiledrizzle demo``); files
already there are left alone, so real data can be put in their place.
``--scheduler``/``--workers``: wait until that many workers have joined.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time


def make_demo_inputs(directory, n_exposures, seed):
    """Demo FITS exposures in ``directory`` unless it already holds FITS files; their paths."""
    import numpy as np

    from tiledrizzle.cli.demo import write_exposures

    existing = sorted(glob.glob(os.path.join(directory, "*.fits")))
    if existing:
        return existing, False
    os.makedirs(directory, exist_ok=True)
    paths, _ = write_exposures(directory, n_exposures, np.random.default_rng(seed))
    return paths, True


def wait_for_workers(address, n_workers, timeout):
    """Block until ``n_workers`` workers are connected to the scheduler at ``address``."""
    from distributed import Client

    t0 = time.monotonic()
    with Client(address, timeout=f"{timeout}s", set_as_default=False) as client:
        left = max(timeout - (time.monotonic() - t0), 1.0)
        client.wait_for_workers(n_workers, timeout=left)
        return len(client.scheduler_info()["workers"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://scheduler:8786")
    p.add_argument("--workers", type=int, default=1, help="workers to wait for (default 1)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (default 300)")
    p.add_argument("--demo-inputs", metavar="DIR", help="make demo exposures here if it has none")
    p.add_argument("--exposures", type=int, default=6, help="demo exposures (default 6)")
    p.add_argument("--seed", type=int, default=42, help="random seed of the demo exposures")
    args = p.parse_args(argv)
    if args.demo_inputs:
        from tiledrizzle.cli.demo import MAX_EXPOSURES

        if not 1 <= args.exposures <= MAX_EXPOSURES:
            p.error(f"--exposures must be from 1 to {MAX_EXPOSURES}")
        paths, made = make_demo_inputs(args.demo_inputs, args.exposures, args.seed)
        what = "made" if made else "found"
        print(f"prepare: {what} {len(paths)} input files in {args.demo_inputs}", flush=True)
    if args.scheduler:
        try:
            n = wait_for_workers(args.scheduler, args.workers, args.timeout)
        except (OSError, TimeoutError) as exc:
            print(f"prepare: error: no {args.workers} workers at {args.scheduler}: {exc}",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(f"prepare: {n} workers connected to {args.scheduler}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
