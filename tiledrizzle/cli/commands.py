"""Command line: ``tiledrizzle mosaic | info | blot | demo``.

User mistakes (bad files, options, stores) end with one ``tiledrizzle: error:``
line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import time

from tiledrizzle.cli.logs import NORMAL, QUIET, VERBOSE, command_logging
from tiledrizzle.cli.sigint import EXIT_INTERRUPTED, defer_sigint, sigint_after_command
from tiledrizzle.core.errors import InputError, TiledrizzleError
from tiledrizzle.core.interrupt import checkpoint
from tiledrizzle.kernels.registry import BLOT_ALIASES, BLOT_INTERPOLATORS, KERNEL_NAMES

EXIT_USAGE = 2
log = logging.getLogger(__name__)


class UserError(TiledrizzleError):
    """A mistake of the user's on the command line: reported as one line."""


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are user errors too: one line and status 2 from ``main``, no usage dump."""

    def error(self, message):
        raise UserError(f"{message} (see '{self.prog} --help')")


def _ext(value):
    """An extension given on the command line: a number or a name."""
    return int(value) if value.lstrip("-").isdigit() else value


def _pair(value):
    parts = value.lower().replace("x", ",").split(",")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or NY,NX, got {value!r}") from None
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or min(nums) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive N or NY,NX, got {value!r}")
    return tuple(nums)


class _Help(argparse.HelpFormatter):
    """Help that shows each option's default (where it has one worth saying)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if default in (None, False, argparse.SUPPRESS) or "%(default)" in text:
            return text
        if isinstance(default, tuple):
            default = ",".join(map(str, default))
        return f"{text} (default: {default})"


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tiledrizzle")
    except PackageNotFoundError:  # run from a source tree that is not installed
        from tiledrizzle import __version__

        return __version__


DEMO_WORKDIR = "tiledrizzle-demo"
DEMO_MAX_EXPOSURES = 64
"""As ``tiledrizzle.cli.demo.MAX_EXPOSURES`` (a test checks), without importing it for --help."""
STRETCH_CHOICES = ("asinh", "zscale", "linear", "log")
PREVIEW_OF_CHOICES = ("img", "wht", "ctx")


def _preview_options(group, which):
    group.add_argument(
        "--stretch",
        choices=STRETCH_CHOICES,
        help=f"levels {which}: asinh (default), log or linear from just below the sky "
        "(median - 2 sigma) to the brightest pixel, asinh and log softened at 5 sigma; "
        "zscale: linear between the ZScale limits",
    )
    group.add_argument(
        "--preview-of",
        choices=PREVIEW_OF_CHOICES,
        help=f"store array shown {which}: img (default), wht, or ctx as the number of inputs "
        "that put weight in each pixel (context bits over all planes)",
    )


def _verbosity_options(parser, default):
    """-v / -q, on the main parser and (not overriding it unless given) on each command's."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const=VERBOSE,
        default=default,
        help="also log details: plan, scheduler, timings",
    )
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=QUIET,
                       default=default, help="only the result line, warnings and errors: no "
                       "progress, no summary details")  # fmt: skip


def _parser():
    parser = _Parser(
        prog="tiledrizzle",
        description="Drizzle dithered, distorted exposures onto one tiled Zarr mosaic.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"tiledrizzle {_version()}")
    _verbosity_options(parser, NORMAL)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    m = sub.add_parser(
        "mosaic",
        help="drizzle FITS exposures into a Zarr mosaic",
        description="Drizzle FITS exposures into a Zarr mosaic store.",
        formatter_class=_Help,
    )
    _verbosity_options(m, argparse.SUPPRESS)
    m.add_argument("inputs", nargs="*", help="input FITS files")
    m.add_argument("--out", required=True, help="Zarr store to create or add to")
    grid = m.add_argument_group("output grid (default: fitted to the inputs, north up)")
    grid.add_argument("--wcs", help="FITS header file (or FITS file) of the output grid")
    grid.add_argument("--pixel-scale", type=float, help="output pixel scale, arcsec")
    grid.add_argument("--rotation", type=float, help="output rotation, degrees east of north")
    grid.add_argument("--padding", type=int, default=2, help="pixels around the inputs")
    k = m.add_argument_group("drizzle")
    k.add_argument(
        "--kernel",
        default="square",
        type=str.lower,  # case-insensitive, as in the Python API
        choices=KERNEL_NAMES,
        help="drizzle kernel",
    )
    k.add_argument("--pixfrac", type=float, default=1.0, help="shrink input pixels to this")
    k.add_argument("--fillval", default="NaN", help="value of pixels without data")
    k.add_argument(
        "--weight",
        default="exptime",
        help="uniform, exptime, ivm (inverse variance) or a weight extension",
    )
    f = m.add_argument_group("input files")
    f.add_argument("--sci-ext", type=_ext, default="SCI", help="science extension")
    f.add_argument("--err-ext", type=_ext, help="error extension, co-added as variance")
    f.add_argument("--var-ext", type=_ext, help="variance extension")
    f.add_argument("--dq-ext", type=_ext, help="DQ extension")
    f.add_argument("--bad-bits", type=int, default=0, help="DQ bits of bad pixels")
    f.add_argument("--exptime-key", default="EXPTIME", help="header keyword of the exposure time")
    f.add_argument("--exptime", type=float, help="exposure time [s] of every input (no keyword)")
    f.add_argument(
        "--pixel-units",
        default="output",
        choices=["output", "input"],
        help="counts and rates (BUNIT not per solid angle) per output pixel, scaled by the "
        "pixel-area ratio so sums conserve flux; or per input pixel as drizzle leaves them",
    )
    f.add_argument("--units", default="cps", choices=["cps", "counts"], help="units of SCI")
    f.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip unreadable inputs (listed in the summary) instead of stopping",
    )
    r = m.add_argument_group("run")
    r.add_argument("--tile", type=_pair, default=(1024, 1024), help="tile shape N or NY,NX")
    r.add_argument("--block", type=_pair, default=(512, 512), help="input block shape")
    r.add_argument(
        "--scheduler",
        default="threads",
        help="sync, threads, processes or a Dask scheduler HOST:PORT",
    )
    r.add_argument("--resume", action="store_true", help="finish an interrupted run")
    r.add_argument(
        "--abort",
        action="store_true",
        help="undo the store's interrupted run (no inputs): the store is put back as it was",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="drizzle an exposure given twice, or already in the store, again",
    )
    r.add_argument(
        "--overwrite",
        action="store_true",
        help="start the store afresh and replace an existing --fits or --preview",
    )
    o = m.add_argument_group("products")
    o.add_argument("--fits", help="also write the mosaic as a FITS file")
    o.add_argument("--preview", help="also write a quick-look image: PNG or JPEG, from the suffix")
    _preview_options(o, "in the --preview image")

    i = sub.add_parser(
        "info", help="what a mosaic store holds", description="Describe a mosaic store.",
        formatter_class=_Help,
    )  # fmt: skip
    _verbosity_options(i, argparse.SUPPRESS)
    i.add_argument("store")
    i.add_argument("--json", action="store_true", help="print it as JSON (for scripts)")
    i.add_argument(
        "--coverage", action="store_true", help="count the coverage of a large mosaic too"
    )

    b = sub.add_parser(
        "blot",
        help="resample a mosaic back onto an exposure's grid",
        description="Blot a mosaic onto the grid of a FITS exposure.",
        formatter_class=_Help,
    )
    _verbosity_options(b, argparse.SUPPRESS)
    b.add_argument("store")
    b.add_argument("--like", required=True, help="FITS exposure whose grid to blot onto")
    b.add_argument("--out", required=True, help="output FITS file")
    b.add_argument("--sci-ext", type=_ext, default="SCI", help="science extension of --like")
    b.add_argument(
        "--interp", default="poly5", type=str.lower, help="interpolator",
        choices=BLOT_INTERPOLATORS + tuple(BLOT_ALIASES),
    )  # fmt: skip
    b.add_argument("--array", default="img", help="store array to blot (img, wht, ...)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing --out")

    w = sub.add_parser(
        "warmup",
        help="compile the Numba kernels ahead of the first job",
        description="Compile (into Numba's cache: beside the package, or NUMBA_CACHE_DIR) "
        "what mosaics with the given kernels need, so the first real job does not wait.",
        formatter_class=_Help,
    )
    w.add_argument("--kernels", default="all", help="comma-separated kernel names, or all")
    w.add_argument("--blot", action="store_true", help="the blot interpolators too")

    d = sub.add_parser(
        "demo",
        help="make synthetic exposures and mosaic them",
        description="Synthetic dithered exposures -> mosaic -> preview.",
        formatter_class=_Help,
    )
    _verbosity_options(d, argparse.SUPPRESS)
    d.add_argument("--exposures", type=int, default=6,
                   help=f"number of exposures, 1 to {DEMO_MAX_EXPOSURES}")  # fmt: skip
    d.add_argument("--kernel", default="square", type=str.lower, choices=KERNEL_NAMES,
                   help="drizzle kernel")  # fmt: skip
    d.add_argument("--pixfrac", type=float, default=0.8, help="pixfrac")
    d.add_argument(
        "--workdir",
        default=DEMO_WORKDIR,
        help="directory for the FITS files, mosaic.zarr and mosaic.png (in the current "
        "directory); mosaic.png shows the mosaic beside a crop on a few stars at "
        "the mosaic's own pixel scale, pixels enlarged",
    )
    _preview_options(d, "in mosaic.png")
    d.add_argument(
        "--scheduler",
        default="local-cluster",
        help="local-cluster, threads, sync or HOST:PORT",
    )
    return parser


# -- mosaic ------------------------------------------------------------------------------


def _exposures(args, progress):
    from tiledrizzle.inputs.fits import FitsExposure, FitsInputError

    good, skipped = [], []
    for path in args.inputs:
        checkpoint()
        e = FitsExposure(
            path, sci_ext=args.sci_ext, err_ext=args.err_ext, var_ext=args.var_ext,
            dq_ext=args.dq_ext, bad_bits=args.bad_bits, exptime_key=args.exptime_key,
            units=args.units, weight=_ext(args.weight), exptime=args.exptime,
            pixel_units=args.pixel_units,
        )  # fmt: skip
        try:
            e.describe()
        except FitsInputError as exc:
            if not args.skip_bad:
                raise UserError(str(exc)) from None
            skipped.append((path, str(exc)))
        else:
            good.append(e)
        progress.advance()
    if not good:
        raise UserError("no usable input files")
    return good, skipped


def _store_wcs(path, required=False):
    """The output WCS kept in an existing store (None when there is no store or no WCS)."""
    from tiledrizzle.store.zarr_store import MosaicStore

    if not MosaicStore.exists(path):
        if required:
            raise UserError(f"no mosaic store at {path!r}")
        return None
    wcs = MosaicStore.open(path).wcs()
    if wcs is None and required:
        raise UserError(f"the store {path!r} has no output WCS")
    return wcs


def _output_wcs(args, exposures):
    from tiledrizzle.inputs.output_wcs import fit_output_wcs, wcs_from_header_file

    options = (("--pixel-scale", args.pixel_scale), ("--rotation", args.rotation))
    fitting = [flag for flag, value in options if value is not None]
    if args.wcs and fitting:
        raise UserError(
            f"{' and '.join(fitting)} fit a grid and --wcs gives one: use one or the other"
        )
    existing = None if args.overwrite else _store_wcs(args.out)
    if existing is not None and fitting:
        raise UserError(
            f"the store {args.out!r} has its grid already; {' and '.join(fitting)} apply to a "
            "new store only (use --overwrite to start afresh, or another --out)"
        )
    if args.wcs:
        given = wcs_from_header_file(args.wcs)
        if existing is not None and _same_grid(existing, given) is False:
            raise UserError(
                f"--wcs {args.wcs!r} is not the grid of the store {args.out!r}; use "
                "--overwrite to start afresh, or another --out"
            )
        return given
    if existing is not None:
        return existing
    return fit_output_wcs(
        [e.wcs for e in exposures], pixel_scale=args.pixel_scale, rotation=args.rotation,
        padding=args.padding,
    )  # fmt: skip


def _same_grid(a, b):
    """Whether two output WCSs are the same grid (shape and transform), to 1e-9 px."""
    import numpy as np

    if tuple(a.array_shape) != tuple(b.array_shape):
        return False
    ny, nx = a.array_shape
    x = np.array([0.0, nx - 1.0, 0.0, nx - 1.0, (nx - 1) / 2])
    y = np.array([0.0, 0.0, ny - 1.0, ny - 1.0, (ny - 1) / 2])
    bx, by = b.world_to_pixel_values(*a.pixel_to_world_values(x, y))
    return bool(np.allclose(bx, x, atol=1e-6) and np.allclose(by, y, atol=1e-6))


def _progress(args):
    """The run's progress: a bar on a terminal, a log line every 10 % or 10 s elsewhere
    (pipes, CI logs), nothing with --no-progress or -q."""
    from tiledrizzle.engine.progress import BarProgress, LogProgress, Progress

    if args.no_progress or args.verbosity == QUIET:
        return Progress()
    return BarProgress() if sys.stderr.isatty() else LogProgress()


def cmd_mosaic(args):
    t0 = time.perf_counter()
    if args.abort:
        return _abort(args)
    if not args.inputs:
        raise UserError("the following arguments are required: inputs")
    with _progress(args) as progress:
        progress.stage("loading the engine")
        result, skipped = _make_mosaic(args, progress, t0)
        # The batch is complete: a Ctrl-C from here on leaves only these unwritten.
        args.products_pending = [f"--{k} {getattr(args, k)}" for k in ("fits", "preview")
                                 if getattr(args, k)]  # fmt: skip
        if args.fits:
            from tiledrizzle.products.export import export_fits

            progress.stage(f"writing {args.fits}")
            t_fits = time.perf_counter()
            export_fits(result.store, args.fits, overwrite=True)
            args.products_pending.pop(0)
            log.debug("FITS export written in %.2f s", time.perf_counter() - t_fits)
        if args.preview:
            from tiledrizzle.products.preview import preview_png

            progress.stage(f"writing {args.preview}")
            t_preview = time.perf_counter()
            preview_png(result.store, args.preview, stretch=args.stretch or "asinh",
                        array=args.preview_of or "img")  # fmt: skip
            log.debug("preview written in %.2f s", time.perf_counter() - t_preview)
    _summary(args, result, skipped, t0)
    return 0


def _make_mosaic(args, progress, t0):
    """Check, plan and run the batch: ``(MosaicResult, skipped inputs)``."""
    from tiledrizzle.engine.execute import execute_plan
    from tiledrizzle.engine.plan import plan_mosaic
    from tiledrizzle.engine.schedulers import check_scheduler

    _check_mosaic_paths(args)
    check_scheduler(args.scheduler)
    log.debug("tiledrizzle %s, Python %s; %s", _version(), sys.version.split()[0],
              _library_versions())  # fmt: skip
    progress.stage("checking inputs", total=len(args.inputs), unit="files")
    exposures, skipped = _exposures(args, progress)
    log.debug("%d input files checked in %.2f s (%d skipped)", len(exposures),
              time.perf_counter() - t0, len(skipped))  # fmt: skip
    wcs = _output_wcs(args, exposures)
    progress.stage("planning")
    t_plan = time.perf_counter()
    plan = plan_mosaic(
        exposures, wcs=wcs, tile_shape=args.tile, block_shape=args.block, kernel=args.kernel,
        pixfrac=args.pixfrac, fillval=args.fillval, allow_duplicates=args.allow_duplicates,
    )  # fmt: skip
    log.debug("planned in %.2f s: %r", time.perf_counter() - t_plan, plan)
    old_store = _set_aside(args) if args.overwrite else None
    try:
        result = execute_plan(plan, args.out, scheduler=args.scheduler, progress=progress,
                              resume=args.resume, t_start=t0)  # fmt: skip
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise UserError(
            f"no space left writing the store {args.out!r} ({exc.strerror}); free some "
            "space and rerun with --resume to finish the batch, or --abort to undo it"
        ) from None
    finally:
        if old_store is not None:
            _finish_overwrite(old_store, args.out)
    return result, skipped


def _summary(args, result, skipped, t0):
    """The summary on stdout; -q: its first line and what was skipped."""
    from tiledrizzle.inputs.units import describe_units
    from tiledrizzle.products.summary import fill_text

    detail = (lambda line: None) if args.verbosity == QUIET else print
    rep = result.report
    ny, nx = result.plan.grid.shape
    (ty, tx), fill = result.plan.grid.tile_shape, fill_text(result.plan.fillval)
    print(f"mosaic {args.out}: {nx} x {ny} pixels, tiles {tx} x {ty}, kernel {args.kernel}, "
          f"pixfrac {args.pixfrac:g}, fillval {fill}")  # fmt: skip
    detail(f"  inputs used     : {rep['inputs_used']} of {len(args.inputs)}")
    for path, why in skipped:
        print(f"  skipped         : {path}: {why}")
    for name in rep["inputs_outside"]:
        print(f"  skipped         : {name}: touches no tile of the output grid")
    detail(f"  tiles written   : {rep['tiles_written']} (resumed {rep['tiles_resumed']}) "
           f"of {result.plan.grid.n_tiles}")  # fmt: skip
    detail(f"  exposure time   : {rep['total_exptime']:.1f} s (store total)")
    detail(f"  units           : {describe_units(rep['units'])}")
    if args.fits:
        detail(f"  FITS            : {args.fits}")
    if args.preview:
        detail(f"  preview         : {args.preview}")
    detail(f"  time            : {time.perf_counter() - t0:.1f} s on {rep['scheduler']}")


def _library_versions():
    """``name version`` of the libraries whose versions matter to the numbers and the run."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("numpy", "numba", "dask", "distributed", "zarr", "astropy"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found)


def _same_file(a, b):
    a, b = os.path.realpath(a), os.path.realpath(b)
    return a == b or (os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b))


def _check_mosaic_paths(args):
    """Refuse, before any work, outputs that would overwrite an input or each other,
    options that would be ignored, and a preview whose suffix names no format we write."""
    if not args.out.strip():
        raise UserError("--out is empty: name the Zarr store to create or add to")
    if not args.preview:
        for flag, value in (("--stretch", args.stretch), ("--preview-of", args.preview_of)):
            if value is not None:
                raise UserError(f"{flag} needs --preview (the image it sets up)")
    outputs = {"--out": args.out, "--fits": args.fits, "--preview": args.preview}
    named = {flag: path for flag, path in outputs.items() if path}
    for flag, path in named.items():
        for source in args.inputs:
            if _same_file(path, source):
                raise UserError(f"{flag} {path!r} is an input file: it would be overwritten")
    flags = list(named)
    for i, a in enumerate(flags):
        for b in flags[i + 1 :]:
            if _same_file(named[a], named[b]):
                raise UserError(f"{a} and {b} name the same file {named[a]!r}")
    from tiledrizzle.core.options import parse_fillval  # loads Numba: not at start-up

    try:
        parse_fillval(None, args.fillval)
    except InputError as exc:
        raise UserError(f"--fillval: {exc}") from None
    if args.overwrite and args.resume:
        raise UserError("--overwrite starts the store afresh: it cannot --resume")
    if args.overwrite and "://" in args.out:
        raise UserError("--overwrite replaces stores on a local disk only; remove it first")
    if args.bad_bits and args.dq_ext is None:
        raise UserError("--bad-bits needs --dq-ext (the extension holding the DQ flags)")
    if args.out.lower().endswith((".fits", ".fit", ".fts", ".fits.gz", ".fits.fz")):
        raise UserError(
            f"--out {args.out!r} names the Zarr store (a directory), not a FITS file: "
            "give the store another name and use --fits for a FITS copy"
        )
    for flag, path in (("--fits", args.fits), ("--preview", args.preview)):
        if not path:
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise UserError(f"{flag} {path!r}: the directory {folder!r} does not exist")
        if not os.access(folder, os.W_OK):
            raise UserError(f"{flag} {path!r}: the directory {folder!r} is not writable")
        if os.path.isdir(path):
            raise UserError(f"{flag} {path!r} is a directory")
        if os.path.lexists(path) and not args.overwrite:
            raise UserError(f"{flag} {path!r} exists (use --overwrite to replace it)")
    if args.preview:
        from tiledrizzle.products.preview import preview_format

        try:
            preview_format(args.preview)
        except TiledrizzleError as exc:
            raise UserError(f"--preview: {exc}") from None


def _set_aside(args):
    """``--overwrite``: move the mosaic store at ``--out`` aside, under its writer lock (a
    store being written is refused); it is removed once the new store exists, or put
    back if none was made. None when there is no store."""
    from tiledrizzle.store.zarr_store import MosaicStore

    if not os.path.lexists(args.out):
        return None
    store = MosaicStore.open(args.out)  # refuses (one line) what is not a mosaic store
    store.acquire_lock()
    aside = f"{os.path.abspath(args.out).rstrip(os.sep)}.replaced-{os.getpid()}"
    os.rename(args.out, aside)
    return aside


def _finish_overwrite(old_store, out):
    """Remove the store set aside once the new one holds a batch; otherwise (the run
    stopped before its batch was recorded: scheduler unreachable, say) put it back."""
    import shutil

    from tiledrizzle.store.lock import WriterLock
    from tiledrizzle.store.zarr_store import MosaicStore

    try:
        made = MosaicStore.exists(out) and bool(MosaicStore.open(out).attrs["batches"])
    except TiledrizzleError:
        made = False
    if made:
        shutil.rmtree(old_store)
        return
    if os.path.lexists(out):
        shutil.rmtree(out)  # the empty store made before the failure
    os.rename(old_store, out)
    WriterLock(out).release()


def _abort(args):
    from tiledrizzle.engine.execute import abort_batch

    if args.inputs or args.resume:
        raise UserError("--abort takes only --out (no inputs, no --resume)")
    batch = abort_batch(args.out)
    print(f"mosaic {args.out}: batch {batch} undone; the store is as it was before it")
    return 0


# -- info, blot --------------------------------------------------------------------------


def _info_lines(summary):
    from tiledrizzle.products.summary import human_bytes

    g = summary["grid"]
    (ny, nx), (ty, tx) = g["shape"], g["tile_shape"]
    lines = [
        f"store {summary['store']}",
        f"  grid            : {nx} x {ny} (nx x ny), tiles {tx} x {ty}, {g['tiles']} tiles",
        f"  kernel          : {summary['kernel']}, pixfrac {summary['pixfrac']:g}, "
        f"fillval {summary['fillval']}",
        f"  inputs          : {len(summary['inputs'])}, context planes {summary['context_planes']}",
        f"  exposure time   : {summary['total_exptime']:.1f} s",
        f"  units           : {summary['units']['text']}",
        f"  arrays          : {', '.join(summary['arrays'])}",
        f"  tiles written   : {g['tiles_written']} of {g['tiles']}",
    ]
    cover = summary["coverage"]
    lines.append(
        f"  coverage        : {100 * cover:.1f} % of the grid has weight"
        if cover is not None
        else "  coverage        : not counted (a large mosaic: --coverage counts it)"
    )
    sky = summary["sky"]
    if sky is None:
        lines.append("  output WCS      : none")
    else:
        ra, dec = sky["centre"]
        lines += [
            f"  output WCS      : {sky['projection']}, {sky['frame']}, "
            f"{sky['pixel_scale_arcsec']:.4g} arcsec/pixel, rotation {sky['rotation_deg']:.2f} deg",
            f"  centre          : RA {ra:.6f}, Dec {dec:+.6f} (deg, ICRS)",
            "  corners         : " + "; ".join(f"{c[0]:.5f} {c[1]:+.5f}" for c in sky["corners"]),
        ]
    for b in summary["batches"]:
        status = b["status"]
        if status != "complete":
            status += " (interrupted: tiles mix two batches until --resume or --abort)"
        lines.append(f"  batch {b['id']:<9} : {status}, {b['inputs']} inputs")
    if summary["inputs"]:
        width = max(len(str(i["name"])) for i in summary["inputs"])
        lines.append(f"  {'input':<{width}}  exptime [s]  batch  ctx id")
        for i in summary["inputs"]:
            lines.append(f"  {i['name']!s:<{width}}  {i['exptime']:>11.1f}  {i['batch']:>5}  "
                         f"{i['ctx_id']:>6}")  # fmt: skip
    if summary["bytes_on_disk"] is not None:
        lines.append(f"  bytes on disk   : {human_bytes(summary['bytes_on_disk'])}")
    return lines


def cmd_info(args):
    import json

    from tiledrizzle.products.summary import store_summary
    from tiledrizzle.store.zarr_store import MosaicStore

    st = MosaicStore.open(args.store)
    try:  # all read before anything is printed: a damaged store gives one error line only
        summary = store_summary(st, coverage=True if args.coverage else None)
        text = json.dumps(summary, indent=1) if args.json else "\n".join(_info_lines(summary))
    except TiledrizzleError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise UserError(f"corrupted metadata in the mosaic store {st.path!r}: {what}") from None
    print(text)
    return 0


def cmd_blot(args):
    import numpy as np
    from astropy.io import fits

    from tiledrizzle.inputs.fits import FitsExposure
    from tiledrizzle.inputs.pixmap import WCSPixmap
    from tiledrizzle.products.blot_mosaic import blot_mosaic

    if os.path.exists(args.out) and not args.overwrite:
        raise UserError(f"{args.out} exists (use --overwrite)")
    out_wcs = _store_wcs(args.store, required=True)
    like = FitsExposure(args.like, sci_ext=args.sci_ext)
    like.describe()
    pixmap = WCSPixmap(like.wcs, out_wcs, like.wcs.array_shape, mode="exact").full()
    image = blot_mosaic(args.store, pixmap, interp=args.interp, array=args.array, fillval=np.nan)
    header = like.wcs.to_header(relax=True)
    fits.PrimaryHDU(image, header=header).writeto(args.out, overwrite=args.overwrite)
    print(f"blot {args.store} -> {args.out}: {image.shape[1]} x {image.shape[0]}")
    return 0


def cmd_demo(args):
    from tiledrizzle.cli.demo import run_demo

    if not 1 <= args.exposures <= DEMO_MAX_EXPOSURES:
        raise UserError(
            f"--exposures must be from 1 to {DEMO_MAX_EXPOSURES} (the demo's pointings and "
            f"dithers), got {args.exposures}"
        )
    run_demo(n_exposures=args.exposures, kernel=args.kernel, pixfrac=args.pixfrac,
             workdir=args.workdir, scheduler=args.scheduler, stretch=args.stretch or "asinh",
             preview_of=args.preview_of or "img")  # fmt: skip
    return 0


def cmd_warmup(args):
    from tiledrizzle.cli.warmup import warm_up

    names = KERNEL_NAMES if args.kernels.strip().lower() == "all" else tuple(
        k.strip().lower() for k in args.kernels.split(",") if k.strip()
    )  # fmt: skip
    unknown = [k for k in names if k not in KERNEL_NAMES]
    if unknown or not names:
        raise UserError(
            f"--kernels: unknown kernel {unknown[0]!r} (choose from {', '.join(KERNEL_NAMES)} "
            "or all)"
            if unknown
            else "--kernels: name at least one kernel"
        )
    cache = os.environ.get("NUMBA_CACHE_DIR") or "beside the installed package"
    print(f"warmup: compiling into Numba's cache ({cache})")
    t0 = time.perf_counter()
    warm_up(names, blot=args.blot, report=lambda what, s: print(f"  {what:<30}: {s:6.1f} s"))
    print(f"  total                         : {time.perf_counter() - t0:6.1f} s")
    return 0


COMMANDS = {"mosaic": cmd_mosaic, "info": cmd_info, "blot": cmd_blot, "demo": cmd_demo,
            "warmup": cmd_warmup}  # fmt: skip


_PYTHON_TO_FLAGS = (
    ("resume=True", "--resume"),
    ("abort_batch(store)", "--abort"),
    ("allow_duplicates=True", "--allow-duplicates"),
    ("pass overwrite=True", "use --overwrite"),
)
"""The Python API's names in engine messages, as the command line spells them."""


def _fail(exc):
    """Report a user error as exactly one line (messages from astropy may span several)."""
    text = " ".join(str(exc).split())
    for python, flag in _PYTHON_TO_FLAGS:
        text = text.replace(python, flag)
    print(f"tiledrizzle: error: {text}", file=sys.stderr)
    return EXIT_USAGE


INTERRUPTED = "tiledrizzle: interrupted"
RESUME_HINT = "rerun with --resume to finish"


def _interrupted_line(args):
    """The one line that reports a Ctrl-C: what state it left and what to do next."""
    if args.command != "mosaic" or args.abort:
        return INTERRUPTED
    pending = getattr(args, "products_pending", None)
    if pending is not None:  # the batch finished; --fits / --preview were being written
        return (
            f"{INTERRUPTED} (the mosaic is complete; not written: {', '.join(pending)})"
            if pending
            else f"{INTERRUPTED} (the mosaic is complete)"
        )
    from tiledrizzle.store.zarr_store import MosaicStore

    try:
        batches = MosaicStore.open(args.out).attrs["batches"] if os.path.lexists(args.out) else []
        running = bool(batches) and batches[-1]["status"] == "running"
    except (TiledrizzleError, OSError, KeyError, IndexError, TypeError):
        running = True  # cannot tell: resuming says what the store holds
    if running:
        return f"{INTERRUPTED} ({RESUME_HINT})"
    return f"{INTERRUPTED} (nothing written: run the command again)"


def main(argv=None):
    args = None
    try:
        args = _parser().parse_args(argv)
        # Astropy is loaded first by the commands that use it: its warnings then come
        # out as ours do.
        with command_logging(args.verbosity, astropy=args.command != "info"):
            return COMMANDS[args.command](args)
    except BrokenPipeError:
        raise  # the reader went away: ``run`` ends quietly
    except (TiledrizzleError, OSError) as exc:  # the user's mistake: one line; a bug: traceback
        return _fail(exc)
    except KeyboardInterrupt:
        line = INTERRUPTED if args is None else _interrupted_line(args)
        print(line, file=sys.stderr)
        return EXIT_INTERRUPTED


def run():
    """The ``tiledrizzle`` command: ``main``, then exit with its status.

    Ctrl-C is taken over first (``cli.sigint``; the package's ``run`` does it before
    importing this module). A reader that stops early (``tiledrizzle info m.zarr |
    head``) closes the pipe: the command then ends quietly, as Python's
    documentation recommends (stdout pointed at /dev/null so the interpreter's last
    flush does not fail again)."""
    defer_sigint()
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    sigint_after_command(status)
    sys.exit(status)


if __name__ == "__main__":
    run()
