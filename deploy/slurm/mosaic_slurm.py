"""Drizzle FITS exposures into a mosaic on a SLURM cluster, with Dask workers run as batch jobs.

This process (the driver) runs the Dask scheduler and submits ``--jobs`` SLURM
jobs through dask-jobqueue; each job starts ``--processes`` Dask worker
processes sharing ``--cores`` cores and ``--memory``. The inputs and the store
must be on a file system every node sees (e.g. $SCRATCH); paths are made
absolute here. Run it on a login node (in tmux/screen) or submit it with
``sbatch deploy/slurm/mosaic.sbatch`` (compute nodes must then be allowed to
submit jobs).

    python deploy/slurm/mosaic_slurm.py /scratch/me/exp/*.fits --out /scratch/me/m.zarr \\
        --jobs 8 --cores 16 --memory 64GB --walltime 04:00:00 --queue normal

``--print-job-script`` shows the worker job script and submits nothing.
dask-jobqueue is needed (``pip install dask-jobqueue``); tiledrizzle does not depend on it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _pair(value):
    nums = [int(p) for p in value.lower().replace("x", ",").split(",")]
    if len(nums) == 1:
        nums *= 2
    if len(nums) != 2 or min(nums) <= 0:
        raise argparse.ArgumentTypeError(f"expected N or NY,NX, got {value!r}")
    return tuple(nums)


def _ext(value):
    return int(value) if value.lstrip("-").isdigit() else value


def parser():
    p = argparse.ArgumentParser(
        prog="mosaic_slurm.py",
        description="Drizzle FITS exposures into a Zarr mosaic on Dask workers run as "
        "SLURM jobs (dask-jobqueue).",
    )
    p.add_argument("inputs", nargs="*", help="input FITS files (on a shared file system)")
    p.add_argument("--out", help="Zarr store to create or add to (on a shared file system)")
    g = p.add_argument_group("output grid (default: fitted to the inputs, north up)")
    g.add_argument("--wcs", help="FITS header file (or FITS file) of the output grid")
    g.add_argument("--pixel-scale", type=float, help="output pixel scale, arcsec")
    g.add_argument("--rotation", type=float, help="output rotation, degrees east of north")
    g.add_argument("--padding", type=int, default=2, help="pixels around the inputs")
    d = p.add_argument_group("drizzle")
    d.add_argument("--kernel", default="square")
    d.add_argument("--pixfrac", type=float, default=1.0)
    d.add_argument("--weight", default="exptime", help="uniform, exptime, ivm or an extension")
    d.add_argument("--sci-ext", type=_ext, default="SCI")
    d.add_argument("--err-ext", type=_ext, help="error extension, co-added as variance")
    d.add_argument("--dq-ext", type=_ext, help="DQ extension")
    d.add_argument("--bad-bits", type=int, default=0, help="DQ bits of bad pixels")
    d.add_argument("--tile", type=_pair, default=(2048, 2048), help="tile shape N or NY,NX")
    d.add_argument("--block", type=_pair, default=(512, 512), help="input block shape")
    d.add_argument("--resume", action="store_true", help="finish an interrupted run")
    s = p.add_argument_group("SLURM jobs (dask-jobqueue SLURMCluster)")
    s.add_argument("--jobs", type=int, default=4, help="worker jobs to submit (4)")
    s.add_argument("--cores", type=int, default=8, help="cores per job (8)")
    s.add_argument("--processes", type=int, default=1, help="worker processes per job (1)")
    s.add_argument("--memory", default="32GB", help="memory per job (32GB)")
    s.add_argument("--walltime", default="02:00:00", help="time limit per job (02:00:00)")
    s.add_argument("--queue", help="partition (sbatch -p)")
    s.add_argument("--account", help="account to charge (sbatch -A)")
    s.add_argument("--interface", help="network interface of the workers, e.g. ib0")
    s.add_argument("--local-directory", help="node-local scratch for workers, e.g. $TMPDIR")
    s.add_argument("--log-directory", default="dask-worker-logs", help="job logs")
    s.add_argument("--dashboard-address", default=":8787", help="the scheduler's dashboard")
    s.add_argument(
        "--job-extra", action="append", default=[], metavar="DIRECTIVE",
        help="extra #SBATCH directive, e.g. --constraint=cpu (repeatable)",
    )  # fmt: skip
    s.add_argument(
        "--prologue", action="append", default=[], metavar="LINE",
        help="shell line run before the worker starts, e.g. 'module load python' (repeatable)",
    )  # fmt: skip
    s.add_argument(
        "--wait-workers",
        type=int,
        default=1,
        help="workers to wait for before starting (1; later ones join as they come)",
    )
    s.add_argument(
        "--wait-timeout",
        type=float,
        default=3600.0,
        help="seconds to wait for them in the queue (3600)",
    )
    s.add_argument(
        "--print-job-script", action="store_true", help="print the worker job script and exit"
    )
    return p


def make_cluster(args):
    """A dask-jobqueue SLURMCluster with no jobs yet (imported here: an optional package)."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise SystemExit(
            "mosaic_slurm.py: error: dask-jobqueue is not installed (pip install dask-jobqueue)"
        ) from None
    return SLURMCluster(
        cores=args.cores,
        processes=args.processes,
        memory=args.memory,
        walltime=args.walltime,
        queue=args.queue,
        account=args.account,
        interface=args.interface,
        local_directory=args.local_directory,
        log_directory=args.log_directory,
        job_extra_directives=args.job_extra,
        job_script_prologue=args.prologue,
        python=sys.executable,
        job_name="tiledrizzle-worker",
        scheduler_options={"dashboard_address": args.dashboard_address},
    )


def _absolute(path):
    return path if "://" in path else os.path.abspath(path)


def prepare_inputs(args):
    """FitsExposure inputs (checked here, before any job is queued) and the output WCS."""
    from tiledrizzle.inputs.fits import FitsExposure
    from tiledrizzle.inputs.output_wcs import fit_output_wcs, wcs_from_header_file
    from tiledrizzle.store.zarr_store import MosaicStore

    exposures = []
    for path in args.inputs:
        e = FitsExposure(
            _absolute(path), sci_ext=args.sci_ext, err_ext=args.err_ext, dq_ext=args.dq_ext,
            bad_bits=args.bad_bits, weight=_ext(args.weight),
        )  # fmt: skip
        e.describe()
        exposures.append(e)
    if args.wcs:
        wcs = wcs_from_header_file(args.wcs)
    elif MosaicStore.exists(args.out) and MosaicStore.open(args.out).wcs() is not None:
        wcs = MosaicStore.open(args.out).wcs()  # adding to a store: its grid
    else:
        wcs = fit_output_wcs(
            [e.wcs for e in exposures], pixel_scale=args.pixel_scale, rotation=args.rotation,
            padding=args.padding,
        )  # fmt: skip
    return exposures, wcs


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if args.print_job_script:
        cluster = make_cluster(args)
        try:
            print(cluster.job_script())
        finally:
            cluster.close()
        return 0
    if not args.inputs or not args.out:
        p.error("give the input FITS files and --out")
    if min(args.jobs, args.cores, args.processes, args.wait_workers) < 1:
        p.error("--jobs, --cores, --processes and --wait-workers must be at least 1")
    args.out = _absolute(args.out)

    from distributed import Client

    from tiledrizzle import mosaic

    try:
        exposures, wcs = prepare_inputs(args)
    except (ValueError, OSError) as exc:  # unreadable inputs, bad WCS file
        p.exit(2, f"mosaic_slurm.py: error: {exc}\n")
    t0 = time.perf_counter()
    cluster = make_cluster(args)
    try:
        cluster.scale(jobs=args.jobs)
        print(f"submitted {args.jobs} jobs; dashboard {cluster.dashboard_link}", flush=True)
        with Client(cluster) as client:
            client.wait_for_workers(args.wait_workers, timeout=args.wait_timeout)
            print(f"{len(client.scheduler_info()['workers'])} workers after "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
            result = mosaic(
                exposures, args.out, wcs=wcs, tile_shape=args.tile, block_shape=args.block,
                kernel=args.kernel, pixfrac=args.pixfrac, scheduler=client, progress=True,
                resume=args.resume,
            )  # fmt: skip
    finally:
        cluster.close()  # cancels the worker jobs
    rep = result.report
    ny, nx = result.plan.grid.shape
    print(f"mosaic {args.out}: {nx} x {ny} pixels, {rep['inputs_used']} inputs used, "
          f"{rep['tiles_written']} tiles written, {time.perf_counter() - t0:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
