"""Benchmark: pixmaps from a WCS pair, the reference ``calc_pixmap`` against ``WCSPixmap``.

Case: the NIRCam B5 detector (5th-order SIP, 2048 x 2048) mapped onto the
psr=1.0 output frame, both from the real FITS headers in ``../shared/data/wcs/``
relative to the repository root.

Timed, single-threaded (Numba kernels are serial; NUMBA_NUM_THREADS=1 anyway):

* ``drizzle.utils.calc_pixmap`` (the reference: astropy at every pixel);
* ``WCSPixmap`` exact mode (the same transform, whole input);
* ``WCSPixmap`` fast mode (grid interpolation with error check), whole input
  and as 16 blocks of 512 x 512 (how Dask workers ask for it).

Each timing is the median of ``--repeats`` (default 7) runs after a warm-up
run (which also loads the compiled Numba kernels); the variants alternate
within a repeat so that all see the same machine load. Throughput is input
pixels per second. The error columns are the largest position error (output
pixels) of each variant against exact mode over all 2048 x 2048 pixels.

Run: ``python benchmarks/bench_pixmap.py [--repeats N] [--tolerance T] [--step S]``.
"""

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
WCS_DIR = pathlib.Path(
    os.environ.get("TILEDRIZZLE_WCS_DIR", REPO.parent / "shared" / "data" / "wcs")
)
DETECTOR_HEADER = WCS_DIR / "nrcb5_sip_wcs.hdr"
OUTPUT_HEADER = WCS_DIR / "nrcb5_output_wcs_psr_1p0.hdr"
BLOCK = 512
TARGET_SPEEDUP = 10.0


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


def in_blocks(pixmap, block):
    """The whole pixmap, assembled from ``block`` x ``block`` calls."""
    ny, nx = pixmap.shape
    out = np.empty((ny, nx, 2))
    for j in range(0, ny, block):
        for i in range(0, nx, block):
            rows, cols = slice(j, min(j + block, ny)), slice(i, min(i + block, nx))
            out[rows, cols] = pixmap(rows, cols)
    return out


def max_error(a, b):
    return float(np.nanmax(np.hypot(a[..., 0] - b[..., 0], a[..., 1] - b[..., 1])))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--tolerance", type=float, default=0.01, help="fast mode, output px")
    parser.add_argument("--step", type=int, default=64, help="fast mode node spacing, input px")
    args = parser.parse_args(argv)
    if not DETECTOR_HEADER.exists():
        print(f"skipped: WCS headers not found in {WCS_DIR}")
        return 0

    from drizzle.utils import calc_pixmap as reference_calc_pixmap

    from tiledrizzle.inputs.pixmap import WCSPixmap

    detector = read_wcs(DETECTOR_HEADER)
    output = read_wcs(OUTPUT_HEADER)
    exact = WCSPixmap(detector, output, mode="exact")
    fast = WCSPixmap(detector, output, mode="fast", tolerance=args.tolerance, step=args.step)
    ny, nx = exact.shape

    variants = {
        "reference calc_pixmap": lambda: reference_calc_pixmap(detector, output),
        "exact, whole": exact.full,
        "fast, whole": fast.full,
        f"fast, {BLOCK}x{BLOCK} blocks": lambda: in_blocks(fast, BLOCK),
    }
    results = {name: run() for name, run in variants.items()}  # warm-up, and the values
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, run in variants.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)

    truth = results["exact, whole"]
    report = fast.block_with_report(slice(0, ny), slice(0, nx))[1]
    ref_seconds = statistics.median(times["reference calc_pixmap"])
    print(f"NIRCam SIP {ny}x{nx} -> psr 1.0 frame; one thread; median of {args.repeats} runs")
    print(
        f"fast mode: tolerance {args.tolerance:g} px, step {args.step} px; "
        f"{report.fallback.sum()} of {report.fallback.size} cells exact (fallback), "
        f"{report.exact_points} exact WCS evaluations "
        f"({100 * report.exact_points / (ny * nx):.2f}% of pixels), "
        f"largest checked cell error {report.cell_errors.max():.2e} px"
    )
    print()
    header = f"{'variant':<26} {'median s':>9} {'Mpix/s':>8} {'vs ref':>7} {'max err px':>11}"
    print(header)
    print("-" * len(header))
    for name in variants:
        seconds = statistics.median(times[name])
        error = max_error(results[name], truth)
        print(
            f"{name:<26} {seconds:>9.4f} {ny * nx / seconds / 1e6:>8.1f} "
            f"{ref_seconds / seconds:>6.1f}x {error:>11.2e}"
        )
    speedup = ref_seconds / statistics.median(times["fast, whole"])
    verdict = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
    print(f"\ntarget: fast >= {TARGET_SPEEDUP:g}x the reference ({verdict}: {speedup:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
