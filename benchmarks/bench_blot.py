"""Benchmark: tiledrizzle ``blot_image`` against the reference ``drizzle`` 3.0, per interpolator.

Case: the NIRCam B5 (SIP-distorted, 2048 x 2048) detector grid, blotted from a
synthetic sky image that lives on the psr=1.0 output frame.  The pixel map is
computed from the real FITS headers with astropy (``all_pix2world`` on the
detector, ``all_world2pix`` on the output frame), read from
``../shared/data/wcs/`` relative to the repository root.

Both implementations run single-threaded in the same process; each timing is
the median of ``--repeats`` (default 7) calls after a warm-up call (which also
compiles the Numba kernels); reference and tiledrizzle calls alternate so that
both see the same machine load.  Throughput is output (detector) pixels per second.
``max |diff|`` leaves out the few pixels where the reference reads memory it
does not own (counted under "excluded px"; see ``tiledrizzle.blot``).

Run: ``python benchmarks/bench_blot.py [--repeats N]``.
"""

import argparse
import functools
import os
import pathlib
import statistics
import sys
import time
import warnings

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
WCS_DIR = pathlib.Path(
    os.environ.get("TILEDRIZZLE_WCS_DIR", REPO.parent / "shared" / "data" / "wcs")
)
DETECTOR_HEADER = WCS_DIR / "nrcb5_sip_wcs.hdr"
OUTPUT_HEADER = WCS_DIR / "nrcb5_output_wcs_psr_1p0.hdr"

INTERPOLATORS = ["nearest", "linear", "poly3", "poly5", "lanczos3", "lanczos5", "sinc"]
TARGET_SPEEDUP = 1.5


def read_wcs(path):
    """Astropy WCS (with SIP) from a plain-text header; ``pixel_shape`` from NAXISn."""
    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    header = fits.Header.fromtextfile(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    wcs.pixel_shape = (header["NAXIS1"], header["NAXIS2"])
    return wcs


def nircam_case():
    """(sky image on the output frame, pixmap detector -> output frame)."""
    detector = read_wcs(DETECTOR_HEADER)
    output = read_wcs(OUTPUT_HEADER)
    ny, nx = detector.array_shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    ra, dec = detector.all_pix2world(x, y, 0)
    ox, oy = output.all_world2pix(ra, dec, 0)
    pixmap = np.dstack([ox, oy])

    rng = np.random.default_rng(42)
    oy_n, ox_n = output.array_shape
    yy, xx = np.mgrid[0:oy_n, 0:ox_n].astype(np.float64)
    sky = 1.0 + 0.2 * np.sin(xx / 97.0) * np.cos(yy / 131.0)
    for cx, cy, flux in zip(
        rng.uniform(0, ox_n, 300),
        rng.uniform(0, oy_n, 300),
        rng.lognormal(3.0, 1.0, 300),
        strict=True,
    ):
        sl = np.s_[max(int(cy) - 8, 0) : int(cy) + 9, max(int(cx) - 8, 0) : int(cx) + 9]
        sky[sl] += flux * np.exp(-((xx[sl] - cx) ** 2 + (yy[sl] - cy) ** 2) / (2 * 1.3**2))
    return sky.astype(np.float32), pixmap


def reference_undefined(pixmap, input_shape, interp):
    """Pixels where the reference reads memory it does not own (see tiledrizzle.blot).

    ``nearest`` within half a pixel of the last column/row, ``poly3`` on the
    last input row; they are left out of the ``max |diff|`` column.
    """
    ny, nx = input_shape
    xy = pixmap.astype(np.float32).astype(np.float64)
    x, y = xy[..., 0], xy[..., 1]
    inside = (x >= 0) & (x < nx) & (y >= 0) & (y < ny)
    if interp == "nearest":
        return inside & ((x + 0.5 >= nx) | (y + 0.5 >= ny))
    if interp == "poly3":
        return inside & (np.floor(y) == ny - 1)
    return np.zeros(x.shape, dtype=bool)


def _timed(func):
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def median_times(funcs, repeats):
    """Median wall time of each function; calls are interleaved so that all see the same load."""
    for func in funcs:
        func()  # warm-up (compiles Numba kernels on first use)
    times = [[] for _ in funcs]
    for _ in range(repeats):
        for func, record in zip(funcs, times, strict=True):
            record.append(_timed(func))
    return [statistics.median(t) for t in times]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per case (>= 5)")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    if not (DETECTOR_HEADER.exists() and OUTPUT_HEADER.exists()):
        print(f"bench_blot: WCS headers not found in {WCS_DIR}; nothing to benchmark.")
        return 0
    try:
        from drizzle.resample import blot_image as reference_blot
    except ImportError:
        print("bench_blot: the reference package 'drizzle' is not installed.")
        return 0
    from tiledrizzle.engine.blot import blot_image

    sky, pixmap = nircam_case()
    mpix = pixmap.shape[0] * pixmap.shape[1] / 1e6
    print(
        f"NIRCam B5 blot: {sky.shape[1]}x{sky.shape[0]} output-frame image -> "
        f"{pixmap.shape[1]}x{pixmap.shape[0]} detector, median of {args.repeats}"
    )
    print(
        f"{'interp':<10}{'reference Mpix/s':>18}{'tiledrizzle Mpix/s':>20}"
        f"{'ratio':>8}{'max |diff|':>13}{'excluded px':>13}"
    )
    below_target = []
    for interp in INTERPOLATORS:
        ours = blot_image(sky, pixmap, interp=interp)
        run_ours = functools.partial(blot_image, sky, pixmap, interp=interp)
        if interp == "sinc":  # not available in drizzle 3.0
            (t_ours,) = median_times([run_ours], args.repeats)
            print(f"{interp:<10}{'n/a':>18}{mpix / t_ours:>20.1f}{'n/a':>8}{'n/a':>13}{'':>13}")
            continue
        ref = reference_blot(sky, pixmap, interp=interp)
        run_ref = functools.partial(reference_blot, sky, pixmap, interp=interp)
        t_ref, t_ours = median_times([run_ref, run_ours], args.repeats)
        ratio = t_ref / t_ours
        excluded = reference_undefined(pixmap, sky.shape, interp)
        diff = float(np.max(np.abs(ours.astype(np.float64) - ref)[~excluded]))
        print(
            f"{interp:<10}{mpix / t_ref:>18.1f}{mpix / t_ours:>20.1f}{ratio:>8.2f}"
            f"{diff:>13.3g}{int(excluded.sum()):>13d}"
        )
        if ratio < TARGET_SPEEDUP:
            below_target.append(interp)
    if below_target:
        print(f"below the {TARGET_SPEEDUP}x target: {', '.join(below_target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
