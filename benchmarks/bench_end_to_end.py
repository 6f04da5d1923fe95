"""Benchmark: FITS exposures in, mosaic out -- ``tiledrizzle mosaic`` against the reference loop.

Inputs: 8 NIRCam-like exposures of 2048 x 2048 pixels written as FITS files
(SCI float32 star field + sky + noise, ERR, DQ, EXPTIME), each with the real
NIRCam B5 WCS and its 5th-order SIP distortion (``nrcb5_sip_wcs.hdr`` in
``../shared/data/wcs/``) moved to one of 8 overlapping pointings (4 x 2, steps
of 60 % of the detector along its axes) with small random dithers (up to
20 px) and rolls (up to 0.3 deg): CRVAL moved, the CD matrix rotated. The
output grid is a TAN WCS fitted to all footprints (``fit_output_wcs``) at the
input pixel scale, aligned with the detector axes so that it is tight.

Two jobs, same inputs, same output grid, same weights (EXPTIME), square
kernel, pixfrac 1:

* ``tiledrizzle mosaic`` as a subprocess (``--wcs`` header file, ``--scheduler
  threads`` and, with ``--schedulers threads,processes``, processes): Python
  start-up, reading the files, pixmaps (fast mode), drizzling and writing the
  Zarr store, i.e. everything a user waits for.
* the reference loop, in this process: for each file read SCI with astropy,
  ``drizzle.utils.calc_pixmap(wcs_in, wcs_out)``, then
  ``drizzle.resample.Drizzle(kernel='square', out_shape=...).add_image(...)``
  with ``weight_map`` = EXPTIME; its time is split into read, pixmaps and
  add_image. It writes nothing (holding the mosaic in memory is its product).

Each figure is the median of ``--repeat`` runs (default 3), the jobs
alternating within a repeat so that they see the same machine load; a
warm-up CLI run on one file first loads the compiled Numba kernels.

The two mosaics are then compared. tiledrizzle's fast pixmaps interpolate the
WCS with a verified error (the bench prints the largest error measured on the
first file's check lattice; the guaranteed bound is 0.01 px). Shifting an
input pixel's corners by d changes its square-kernel overlap with an output
pixel by at most its perimeter x d, so the weight of a pixel covered by n
inputs of exposure time t moves by at most ~4 d n t; with the bound d = 0.01
that is 4 % at worst, with the measured d (~1e-5 px on this detector) ~1e-4.
Checks (all must hold): ``|dwht| <= 1e-3 x n t`` at every pixel covered by
either mosaic (1e-3 is 10 x the measured-d estimate and 40 x tighter than the
worst-case bound), pixels covered by one mosaic only hold less than 1e-3 of
an input's weight, and ``|dimg| / scale`` (scale = the 99.9th percentile of
|img|) has median <= 1e-5 and maximum <= 1e-3 where ``wht >= t / 2``.

Target: the CLI end to end at least 5 x faster than the reference loop.

Run: ``python benchmarks/bench_end_to_end.py [--quick] [--repeat N]
[--schedulers threads,processes] [--workdir DIR] [--keep]``. ``--quick``:
2 files of 1024 x 1024 (a quadrant of the detector), for a smoke run.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
WCS_DIR = pathlib.Path(
    os.environ.get("TILEDRIZZLE_WCS_DIR", REPO.parent / "shared" / "data" / "wcs")
)
DETECTOR_HEADER = WCS_DIR / "nrcb5_sip_wcs.hdr"
TARGET_SPEEDUP = 5.0
EXPTIME = 1000.0  # seconds; every exposure
STEP = 0.6  # pointing step, fraction of the detector side
SKY = 0.5  # counts/s, left in SCI so that output values are well away from zero
NOISE = 0.02  # counts/s, Gaussian
HOT_PIXEL = 4

WHT_TOL = 1e-3  # of the full-coverage weight n * t
IMG_MEDIAN_TOL = 1e-5  # of the data scale
IMG_MAX_TOL = 1e-3  # of the data scale, where wht >= t / 2


# -- inputs ------------------------------------------------------------------------------


def detector_wcs():
    """The NIRCam B5 WCS (SIP) from the shared header; array shape from NAXISn."""
    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    header = fits.Header.fromtextfile(str(DETECTOR_HEADER))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    wcs.array_shape = (header["NAXIS2"], header["NAXIS1"])
    return wcs


def pointing(base, shape, dx, dy, roll_deg):
    """``base`` moved so that its reference pixel sees the sky of base pixel (+dx, +dy).

    CRVAL goes to that sky position; the CD matrix is rotated by ``roll_deg`` on
    the sky (a roll of the telescope about the new pointing). The SIP terms, in
    pixel space about CRPIX, are unchanged.
    """
    w = base.deepcopy()
    cx, cy = base.wcs.crpix[0] - 1.0, base.wcs.crpix[1] - 1.0
    ra, dec = base.all_pix2world([[cx + dx, cy + dy]], 0)[0]
    t = math.radians(roll_deg)
    rot = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    w.wcs.cd = rot @ base.wcs.cd
    w.wcs.crval = [ra, dec]
    w.wcs.set()
    w.array_shape = shape
    return w


def star_field(rng, wcses, shape, per_detector=600):
    """Sky positions and fluxes (counts/s) of stars spread over all footprints."""
    ny, nx = shape
    ra, dec = [], []
    for w in wcses:
        x = rng.uniform(-20, nx + 20, per_detector)
        y = rng.uniform(-20, ny + 20, per_detector)
        r, d = w.all_pix2world(x, y, 0)
        ra.append(r)
        dec.append(d)
    ra, dec = np.concatenate(ra), np.concatenate(dec)
    flux = rng.lognormal(3.0, 1.2, ra.size)
    return ra, dec, flux


def observe(wcs, shape, stars, rng, sigma=1.4):
    """SCI, ERR (float32) and DQ (uint16) of one exposure: Gaussian stars + sky + noise."""
    ny, nx = shape
    ra, dec, flux = stars
    x, y = wcs.all_world2pix(ra, dec, 0, tolerance=1e-6)
    r = int(math.ceil(4 * sigma))
    sci = np.full(shape, SKY, np.float32)
    inside = (x > -r) & (x < nx + r) & (y > -r) & (y < ny + r)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    norm = 1.0 / (2 * math.pi * sigma**2)
    for xs, ys, f in zip(x[inside], y[inside], flux[inside], strict=True):
        i, j = int(round(xs)), int(round(ys))
        stamp = f * norm * np.exp(-((xx + i - xs) ** 2 + (yy + j - ys) ** 2) / (2 * sigma**2))
        y0, y1, x0, x1 = j - r, j + r + 1, i - r, i + r + 1
        cy0, cx0 = max(y0, 0), max(x0, 0)
        cy1, cx1 = min(y1, ny), min(x1, nx)
        if cy0 < cy1 and cx0 < cx1:
            sci[cy0:cy1, cx0:cx1] += stamp[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    sci += rng.standard_normal(shape, dtype=np.float32) * np.float32(NOISE)
    err = np.sqrt(np.clip(sci, 0, None) / EXPTIME + NOISE**2).astype(np.float32)
    dq = np.zeros(shape, np.uint16)
    hot = rng.integers(0, ny, 50), rng.integers(0, nx, 50)
    dq[hot] = HOT_PIXEL
    return sci, err, dq


def write_inputs(workdir, n_files, shape, seed):
    """Write the FITS exposures; return their paths and WCS objects."""
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    base = detector_wcs()
    ny, nx = shape
    cols = (n_files + 1) // 2
    wcses = []
    for k in range(n_files):
        row, col = divmod(k, cols)
        dx = (col - (cols - 1) / 2) * STEP * nx + rng.uniform(-20, 20)
        dy = (row - 0.5) * STEP * ny + rng.uniform(-20, 20)
        wcses.append(pointing(base, shape, dx, dy, rng.uniform(-0.3, 0.3)))
    stars = star_field(rng, wcses, shape)
    paths = []
    for k, w in enumerate(wcses):
        sci, err, dq = observe(w, shape, stars, rng)
        header = w.to_header(relax=True)
        hdus = fits.HDUList(
            [
                fits.PrimaryHDU(header=fits.Header([("EXPTIME", EXPTIME), ("INSTRUME", "NIRCAM")])),
                fits.ImageHDU(sci, header=header, name="SCI"),
                fits.ImageHDU(err, header=header, name="ERR"),
                fits.ImageHDU(dq, header=header, name="DQ"),
            ]
        )
        path = os.path.join(workdir, f"nrc_{k:02d}_cal.fits")
        hdus.writeto(path, overwrite=True)
        paths.append(path)
    return paths, wcses


def output_grid(wcses):
    """TAN grid over all footprints, input pixel scale, +y along the detectors' +y axis."""
    from tiledrizzle.inputs.output_wcs import fit_output_wcs

    cd = wcses[0].wcs.cd
    rotation = math.degrees(math.atan2(cd[0, 1], cd[1, 1]))  # PA of +y, east of north
    return fit_output_wcs(wcses, rotation=rotation, padding=2)


# -- the two jobs ------------------------------------------------------------------------


def run_cli(paths, store, header_file, scheduler, inputs=None):
    """``tiledrizzle mosaic`` in a fresh interpreter; (wall seconds, its stdout)."""
    shutil.rmtree(store, ignore_errors=True)
    # --pixel-units input: the reference loop's values, per input pixel.
    cmd = [sys.executable, "-m", "tiledrizzle", "mosaic", *(inputs or paths), "--out", store,
           "--wcs", header_file, "--scheduler", scheduler, "--kernel", "square",
           "--pixfrac", "1", "--weight", "exptime", "--no-progress",
           "--pixel-units", "input"]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"tiledrizzle mosaic failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return seconds, proc.stdout


def _cli_seconds(summary):
    """The seconds in the CLI summary's ``time`` line (NaN if absent)."""
    m = re.search(r"^\s*time\s*:\s*([\d.]+) s", summary, re.M)
    return float(m.group(1)) if m else float("nan")


def run_reference(paths, wcses, out_wcs):
    """The reference loop; (Drizzle object, seconds: total, read, pixmaps, add_image)."""
    from astropy.io import fits
    from drizzle.resample import Drizzle
    from drizzle.utils import calc_pixmap

    split = {"read": 0.0, "pixmaps": 0.0, "add_image": 0.0}
    t_start = time.perf_counter()
    driz = Drizzle(kernel="square", out_shape=out_wcs.array_shape)
    for path, wcs in zip(paths, wcses, strict=True):
        t0 = time.perf_counter()
        with fits.open(path) as hdul:
            data = hdul["SCI"].data.astype(np.float32)
            exptime = float(hdul[0].header["EXPTIME"])
        t1 = time.perf_counter()
        pixmap = calc_pixmap(wcs, out_wcs)
        t2 = time.perf_counter()
        weight = np.full(data.shape, exptime, np.float32)
        driz.add_image(data, exptime=exptime, pixmap=pixmap, weight_map=weight, pixfrac=1.0)
        t3 = time.perf_counter()
        split["read"] += t1 - t0
        split["pixmaps"] += t2 - t1
        split["add_image"] += t3 - t2
    split["total"] = time.perf_counter() - t_start
    return driz, split


# -- agreement ---------------------------------------------------------------------------


def compare(store, ref, exptime):
    """Agreement of the CLI's mosaic with the reference's; returns (checks, figures)."""
    from tiledrizzle.store.zarr_store import MosaicStore

    group = MosaicStore.open(store).group
    img, wht, ctx = group["img"][...], group["wht"][...], group["ctx"][...]
    rimg, rwht, rctx = ref.out_img, ref.out_wht, ref.out_ctx
    n_in = _popcount(ctx)
    n_ref = _popcount(np.asarray(rctx).view(np.uint32).reshape((-1,) + wht.shape))
    full = np.maximum(n_in, n_ref) * exptime  # weight of full coverage by those inputs
    either = (wht > 0) | (rwht > 0)
    both = (wht > 0) & (rwht > 0)
    only_one = either & ~both
    dwht = np.abs(wht.astype(np.float64) - rwht)
    wht_err = float((dwht[either] / full[either]).max())
    only_one_max = float(np.maximum(wht, rwht)[only_one].max() / exptime) if only_one.any() else 0
    good = both & (rwht >= exptime / 2)
    scale = float(np.percentile(np.abs(rimg[good]), 99.9))
    dimg = np.abs(img[good].astype(np.float64) - rimg[good]) / scale
    wht_rel_good = float((dwht[good] / rwht[good]).max())
    figures = {
        "pixels covered (ours / reference)": f"{int((wht > 0).sum())} / {int((rwht > 0).sum())}",
        "covered by one mosaic only": f"{int(only_one.sum())} px, max weight "
        f"{only_one_max:.1e} of an input's",
        "max |dwht| / (n t)": f"{wht_err:.2e}",
        "max |dwht| / wht where wht >= t/2": f"{wht_rel_good:.2e}",
        "median, max |dimg| / scale (wht >= t/2)": f"{np.median(dimg):.1e}, {dimg.max():.1e} "
        f"(scale {scale:.3g} counts/s)",
    }
    checks = {
        f"wht within {WHT_TOL:g} of n t": wht_err <= WHT_TOL,
        f"one-mosaic-only pixels below {WHT_TOL:g} t": only_one_max <= WHT_TOL,
        f"median |dimg| <= {IMG_MEDIAN_TOL:g} scale": float(np.median(dimg)) <= IMG_MEDIAN_TOL,
        f"max |dimg| <= {IMG_MAX_TOL:g} scale": float(dimg.max()) <= IMG_MAX_TOL,
    }
    return checks, figures


def _popcount(ctx):
    """Number of inputs per pixel of a context array (planes, ny, nx) of uint32."""
    n = np.zeros(ctx.shape[1:], np.int32)
    for b in range(32):
        n += ((ctx >> np.uint32(b)) & 1).sum(axis=0, dtype=np.int32)
    return n


def pixmap_error(wcs, out_wcs):
    """Largest fast-mode interpolation error (output px) measured on its check lattice."""
    from tiledrizzle.inputs.pixmap import WCSPixmap

    pm = WCSPixmap(wcs, out_wcs, wcs.array_shape, mode="fast")
    ny, nx = wcs.array_shape
    return float(pm.block_with_report(slice(0, ny), slice(0, nx))[1].cell_errors.max())


# -- main --------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 files of 1024 x 1024")
    parser.add_argument("--repeat", type=int, default=3, help="runs per job (median)")
    parser.add_argument("--schedulers", default="threads", help="e.g. threads,processes")
    parser.add_argument("--workdir", help="where files go (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the files and stores")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not DETECTOR_HEADER.exists():
        sys.exit(f"bench_end_to_end: the NIRCam header {DETECTOR_HEADER} is absent "
                 "(shared test data); nothing to benchmark")  # fmt: skip
    schedulers = [s.strip() for s in args.schedulers.split(",") if s.strip()]
    n_files, shape = (2, (1024, 1024)) if args.quick else (8, (2048, 2048))

    workdir = args.workdir or tempfile.mkdtemp(prefix="tiledrizzle-bench-e2e-")
    os.makedirs(workdir, exist_ok=True)
    try:
        return _bench(args, workdir, schedulers, n_files, shape)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _bench(args, workdir, schedulers, n_files, shape):
    from tiledrizzle.inputs.output_wcs import wcs_to_header_string

    t0 = time.perf_counter()
    paths, wcses = write_inputs(workdir, n_files, shape, args.seed)
    out_wcs = output_grid(wcses)
    header_file = os.path.join(workdir, "output_wcs.hdr")
    with open(header_file, "w") as f:
        f.write(wcs_to_header_string(out_wcs))
    t_files = time.perf_counter() - t0
    ny, nx = out_wcs.array_shape
    in_mpix = n_files * shape[0] * shape[1] / 1e6
    print(f"inputs: {n_files} FITS files of {shape[1]} x {shape[0]} (NIRCam B5 SIP), "
          f"{in_mpix:.1f} Mpix, written in {t_files:.1f} s; output grid {nx} x {ny} "
          f"({nx * ny / 1e6:.1f} Mpix); square kernel, pixfrac 1, EXPTIME weights; "
          f"{os.cpu_count()} CPUs; median of {args.repeat}")  # fmt: skip

    stores = {s: os.path.join(workdir, f"mosaic_{s}.zarr") for s in schedulers}
    run_cli(paths, os.path.join(workdir, "warmup.zarr"), header_file, schedulers[0], paths[:1])
    times = {s: [] for s in schedulers}
    inside = {s: [] for s in schedulers}  # the CLI's own "time" line: after its start-up
    ref_runs = []
    summaries = {}
    ref = None
    for _ in range(args.repeat):
        for s in schedulers:
            seconds, summaries[s] = run_cli(paths, stores[s], header_file, s)
            times[s].append(seconds)
            inside[s].append(_cli_seconds(summaries[s]))
        ref, split = run_reference(paths, wcses, out_wcs)
        ref_runs.append(split)

    ref_med = statistics.median(r["total"] for r in ref_runs)
    print()
    print("| job | median wall s | Mpix/s (input) | ratio (reference / job) | in-CLI s |")
    print("|---|---:|---:|---:|---:|")
    print(f"| reference loop (read + calc_pixmap + add_image) | {ref_med:.2f} | "
          f"{in_mpix / ref_med:.2f} | 1.0x | |")  # fmt: skip
    for s in schedulers:
        med = statistics.median(times[s])
        print(f"| `tiledrizzle mosaic --scheduler {s}` (subprocess, end to end) | {med:.2f} | "
              f"{in_mpix / med:.2f} | {ref_med / med:.1f}x | "
              f"{statistics.median(inside[s]):.1f} |")  # fmt: skip
    print("\n(in-CLI s: median of the time each CLI run reports, from the start of its "
          "mosaic command; wall s adds interpreter start-up and the first imports)")  # fmt: skip
    parts = {k: statistics.median(r[k] for r in ref_runs) for k in ("read", "pixmaps", "add_image")}
    print()
    print("reference split (median s): " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    for s in schedulers:
        print(f"\n`tiledrizzle mosaic --scheduler {s}` summary (last run):")
        print("\n".join("    " + line for line in summaries[s].rstrip().splitlines()))

    print(f"\nfast pixmap: largest checked error on file 0: {pixmap_error(wcses[0], out_wcs):.1e}"
          " px (bound 0.01 px)")  # fmt: skip
    checks, figures = compare(stores[schedulers[0]], ref, EXPTIME)
    print("agreement with the reference:")
    for k, v in figures.items():
        print(f"    {k}: {v}")
    for k, ok in checks.items():
        print(f"    [{'ok' if ok else 'FAILED'}] {k}")
    best = min(statistics.median(times[s]) for s in schedulers)
    speedup = ref_med / best
    verdict = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
    print(f"\ntarget: end to end >= {TARGET_SPEEDUP:g}x the reference loop "
          f"({verdict}: {speedup:.1f}x)")  # fmt: skip
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
