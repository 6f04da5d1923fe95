"""Command line: ``tiledrizzle mosaic | info | blot | demo``.

User mistakes (bad files, options, stores) end with one ``tiledrizzle: error:``
line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time

from tiledrizzle.core.errors import TiledrizzleError
from tiledrizzle.kernels.registry import KERNEL_NAMES

EXIT_USAGE = 2


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


def _parser():
    parser = _Parser(
        prog="tiledrizzle",
        description="Drizzle dithered, distorted exposures onto one tiled Zarr mosaic.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    m = sub.add_parser(
        "mosaic",
        help="drizzle FITS exposures into a Zarr mosaic",
        description="Drizzle FITS exposures into a Zarr mosaic store.",
    )
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
        choices=KERNEL_NAMES,
    )
    k.add_argument("--pixfrac", type=float, default=1.0)
    k.add_argument("--fillval", default="NaN", help="value of pixels without data")
    k.add_argument(
        "--weight",
        default="exptime",
        help="uniform, exptime, ivm (inverse variance) or a weight extension",
    )
    f = m.add_argument_group("input files")
    f.add_argument("--sci-ext", type=_ext, default="SCI", help="science extension (SCI)")
    f.add_argument("--err-ext", type=_ext, help="error extension, co-added as variance")
    f.add_argument("--var-ext", type=_ext, help="variance extension")
    f.add_argument("--dq-ext", type=_ext, help="DQ extension")
    f.add_argument("--bad-bits", type=int, default=0, help="DQ bits of bad pixels")
    f.add_argument("--exptime-key", default="EXPTIME")
    f.add_argument("--units", default="cps", choices=["cps", "counts"])
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
    r.add_argument("--no-progress", action="store_true")
    o = m.add_argument_group("products")
    o.add_argument("--fits", help="also write the mosaic as a FITS file")
    o.add_argument("--preview", help="also write a quick-look image: PNG or JPEG, from the suffix")
    _preview_options(o, "in the --preview image")

    i = sub.add_parser(
        "info", help="what a mosaic store holds", description="Describe a mosaic store."
    )
    i.add_argument("store")

    b = sub.add_parser(
        "blot",
        help="resample a mosaic back onto an exposure's grid",
        description="Blot a mosaic onto the grid of a FITS exposure.",
    )
    b.add_argument("store")
    b.add_argument("--like", required=True, help="FITS exposure whose grid to blot onto")
    b.add_argument("--out", required=True, help="output FITS file")
    b.add_argument("--sci-ext", type=_ext, default="SCI")
    b.add_argument("--interp", default="poly5")
    b.add_argument("--array", default="img", help="store array to blot (img, wht, ...)")
    b.add_argument("--overwrite", action="store_true")

    d = sub.add_parser(
        "demo",
        help="make synthetic exposures and mosaic them",
        description="Synthetic dithered exposures -> mosaic -> preview.",
    )
    d.add_argument("--exposures", type=int, default=6,
                   help=f"number of exposures, 1 to {DEMO_MAX_EXPOSURES} (default 6)")  # fmt: skip
    d.add_argument("--kernel", default="square", help="drizzle kernel (default square)")
    d.add_argument("--pixfrac", type=float, default=0.8, help="pixfrac (default 0.8)")
    d.add_argument(
        "--workdir",
        default=DEMO_WORKDIR,
        help=f"directory for the FITS files, mosaic.zarr and mosaic.png (default "
        f"./{DEMO_WORKDIR}); mosaic.png shows the mosaic beside a crop on a few stars at "
        "the mosaic's own pixel scale, pixels enlarged",
    )
    _preview_options(d, "in mosaic.png")
    d.add_argument(
        "--scheduler",
        default="local-cluster",
        help="local-cluster (default), threads, sync or HOST:PORT",
    )
    return parser


# -- mosaic ------------------------------------------------------------------------------


def _exposures(args):
    from tiledrizzle.inputs.fits import FitsExposure, FitsInputError

    good, skipped = [], []
    for path in args.inputs:
        e = FitsExposure(
            path, sci_ext=args.sci_ext, err_ext=args.err_ext, var_ext=args.var_ext,
            dq_ext=args.dq_ext, bad_bits=args.bad_bits, exptime_key=args.exptime_key,
            units=args.units, weight=_ext(args.weight),
        )  # fmt: skip
        try:
            e.describe()
        except FitsInputError as exc:
            if not args.skip_bad:
                raise UserError(str(exc)) from None
            skipped.append((path, str(exc)))
            continue
        good.append(e)
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

    existing = _store_wcs(args.out)
    if args.wcs:
        return wcs_from_header_file(args.wcs)
    if existing is not None:
        return existing
    return fit_output_wcs(
        [e.wcs for e in exposures], pixel_scale=args.pixel_scale, rotation=args.rotation,
        padding=args.padding,
    )  # fmt: skip


def cmd_mosaic(args):
    from tiledrizzle.engine.batch import mosaic

    t0 = time.perf_counter()
    if args.abort:
        return _abort(args)
    if not args.inputs:
        raise UserError("the following arguments are required: inputs")
    _check_mosaic_paths(args)
    exposures, skipped = _exposures(args)
    wcs = _output_wcs(args, exposures)
    fill = args.fillval
    try:
        result = mosaic(
            exposures, args.out, wcs=wcs, tile_shape=args.tile, block_shape=args.block,
            kernel=args.kernel, pixfrac=args.pixfrac, fillval=fill, scheduler=args.scheduler,
            progress=not args.no_progress, resume=args.resume,
        )  # fmt: skip
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise UserError(
            f"no space left writing the store {args.out!r} ({exc.strerror}); free some "
            "space and rerun with --resume to finish the batch, or --abort to undo it"
        ) from None
    rep = result.report
    ny, nx = result.plan.grid.shape
    print(f"mosaic {args.out}: {nx} x {ny} pixels, tiles {result.plan.grid.tile_shape}, "
          f"kernel {args.kernel}, pixfrac {args.pixfrac}")  # fmt: skip
    print(f"  inputs used     : {rep['inputs_used']} of {len(args.inputs)}")
    for path, why in skipped:
        print(f"  skipped         : {path}: {why}")
    for name in rep["inputs_outside"]:
        print(f"  skipped         : {name}: touches no tile of the output grid")
    print(f"  tiles written   : {rep['tiles_written']} (resumed {rep['tiles_resumed']}) "
          f"of {result.plan.grid.n_tiles}")  # fmt: skip
    print(f"  exposure time   : {rep['total_exptime']:.1f} s (store total)")
    if args.fits:
        from tiledrizzle.products.export import export_fits

        export_fits(result.store, args.fits, overwrite=True)
        print(f"  FITS            : {args.fits}")
    if args.preview:
        from tiledrizzle.products.preview import preview_png

        preview_png(result.store, args.preview, stretch=args.stretch or "asinh",
                    array=args.preview_of or "img")  # fmt: skip
        print(f"  preview         : {args.preview}")
    print(f"  time            : {time.perf_counter() - t0:.1f} s on {rep['scheduler']}")
    return 0


def _same_file(a, b):
    a, b = os.path.realpath(a), os.path.realpath(b)
    return a == b or (os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b))


def _check_mosaic_paths(args):
    """Refuse, before any work, outputs that would overwrite an input or each other,
    options that would be ignored, and a preview whose suffix names no format we write."""
    if not args.out.strip():
        raise UserError("--out is empty: name the Zarr store to create or add to")
    if args.bad_bits and args.dq_ext is None:
        raise UserError("--bad-bits needs --dq-ext (the extension holding the DQ flags)")
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
    if args.preview:
        from tiledrizzle.products.preview import preview_format

        try:
            preview_format(args.preview)
        except TiledrizzleError as exc:
            raise UserError(f"--preview: {exc}") from None


def _abort(args):
    from tiledrizzle.engine.execute import abort_batch

    if args.inputs or args.resume:
        raise UserError("--abort takes only --out (no inputs, no --resume)")
    batch = abort_batch(args.out)
    print(f"mosaic {args.out}: batch {batch} undone; the store is as it was before it")
    return 0


# -- info, blot --------------------------------------------------------------------------


def _tree_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def _info_lines(st):
    a = st.attrs
    grid = st.meta.grid
    lines = [
        f"store {st.path}",
        f"  grid            : {grid.shape[1]} x {grid.shape[0]} (nx x ny), "
        f"tiles {grid.tile_shape[1]} x {grid.tile_shape[0]}, {grid.n_tiles} tiles",
        f"  kernel          : {a['kernel']}, pixfrac {a['pixfrac']}, fillval {a['fillval']}",
        f"  inputs          : {len(a['inputs'])}, context planes {st.group['ctx'].shape[0]}",
        f"  exposure time   : {a['total_exptime']:.1f} s",
        f"  arrays          : img, wht, ctx"
        f"{''.join(f', img2/{k}' for k in range(a['n_img2']))}"
        f"{', dq' if a['has_dq'] else ''}",
        f"  tiles written   : {st.tiles_written()} of {grid.n_tiles}",
    ]
    for b in a["batches"]:
        status = b["status"]
        if status != "complete":
            status += " (interrupted: tiles mix two batches until --resume or --abort)"
        lines.append(f"  batch {b['id']:<9} : {status}, {len(b['inputs'])} inputs")
    lines.append(f"  output WCS      : {'yes' if a.get('wcs') else 'none'}")
    if "://" not in st.path:
        lines.append(f"  bytes on disk   : {_tree_bytes(st.path)}")
    return lines


def cmd_info(args):
    from tiledrizzle.store.zarr_store import MosaicStore

    st = MosaicStore.open(args.store)
    try:  # all read before anything is printed: a damaged store gives one error line only
        lines = _info_lines(st)
    except TiledrizzleError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise UserError(f"corrupted metadata in the mosaic store {st.path!r}: {what}") from None
    print("\n".join(lines))
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


COMMANDS = {"mosaic": cmd_mosaic, "info": cmd_info, "blot": cmd_blot, "demo": cmd_demo}


_PYTHON_TO_FLAGS = (
    ("resume=True", "--resume"),
    ("abort_batch(store)", "--abort"),
)
"""The Python API's names in engine messages, as the command line spells them."""


def _fail(exc):
    """Report a user error as exactly one line (messages from astropy may span several)."""
    text = " ".join(str(exc).split())
    for python, flag in _PYTHON_TO_FLAGS:
        text = text.replace(python, flag)
    print(f"tiledrizzle: error: {text}", file=sys.stderr)
    return EXIT_USAGE


def main(argv=None):
    try:
        args = _parser().parse_args(argv)
    except UserError as exc:
        return _fail(exc)
    try:
        return COMMANDS[args.command](args)
    except (TiledrizzleError, OSError) as exc:  # the user's mistake: one line; a bug: traceback
        return _fail(exc)
    except KeyboardInterrupt:
        print("tiledrizzle: interrupted (rerun with --resume to finish)", file=sys.stderr)
        return 130


def run():
    """The ``tiledrizzle`` command: ``main``, then exit with its status."""
    sys.exit(main())


if __name__ == "__main__":
    run()
