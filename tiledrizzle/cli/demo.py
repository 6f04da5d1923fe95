"""``tiledrizzle demo``: synthetic exposures -> FITS files -> mosaic on a local cluster -> preview.

The sky is a field of stars (Gaussian PSFs) around RA 150.1, Dec +2.2. A
made-up camera of 512 x 512 pixels of 0.1 arcsec, with this project's own
distortion (a SIP polynomial of second and third order, a few pixels at the
corners), observes it at up to four overlapping pointings with small dithers.
Each exposure is written as a FITS file with SCI (counts/s), ERR and DQ
extensions (a few hot pixels flagged) and EXPTIME. The files are then
mosaicked exactly as ``tiledrizzle mosaic`` does: output WCS fitted to the
inputs (north up), exposure-time weights, bad DQ bits masked, on a local
Dask cluster of worker processes by default; a PNG preview (the whole mosaic
beside a crop on a few stars around a bright one at the mosaic's pixel scale) and a
summary (including how well star fluxes are recovered) are written.

The pointings stay on a bounded pattern whatever the number of exposures (up to
``MAX_EXPOSURES``): a 2 x 2 grid of overlapping pointings, each visited again
with small and sub-pixel dithers (``dither_pattern``).
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

from tiledrizzle.core.interrupt import checkpoint
from tiledrizzle.core.options import check_batch_options
from tiledrizzle.engine.schedulers import check_scheduler

PIXEL_SCALE = 0.1 / 3600.0  # degrees per pixel
DETECTOR = (512, 512)
FIELD_CENTRE = (150.1, 2.2)
HOT_PIXEL = 4  # DQ bit of the flagged pixels
MAX_EXPOSURES = 64
"""The most exposures the demo makes (``--exposures``): 16 dithers on each of 4 pointings."""
POINTING_STEP = 0.8
"""Pointings are this fraction of the detector apart (they overlap by 20 percent)."""
POINTINGS = ((0, 0), (1, 0), (0, 1), (1, 1))
"""The pointing grid, (column, row) in steps; exposure k goes to pointing k mod 4."""
DITHER_STEP = 6.0
"""Pixels between the offsets of the 4 x 4 small dither grid (at most 9 px off)."""
MAX_ROLL = 3.0  # degrees
STARS_PER_DETECTOR = 40  # star density: stars per detector area of sky
ZOOM_SIZE = 128
"""Side in mosaic pixels of the preview's crop around a bright star."""
ZOOM_CANDIDATES = 10
"""The crop is centred on one of this many brightest stars (the one with most neighbours)."""
PREVIEW_ARRAYS = ("img", "wht", "ctx")


def _detector(detector):
    return tuple(DETECTOR if detector is None else detector)


def camera_wcs(ra, dec, roll_deg, detector=None):
    """The demo camera: TAN with a SIP distortion of our own, pointed at (ra, dec)."""
    from astropy.wcs import WCS, Sip

    ny, nx = _detector(detector)
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]
    t = np.deg2rad(roll_deg)
    w.wcs.cd = PIXEL_SCALE * np.array([[-np.cos(t), np.sin(t)], [np.sin(t), np.cos(t)]])
    a = np.zeros((4, 4))
    b = np.zeros((4, 4))
    # Our made-up optics: a little quadratic skew and cubic pincushion (pixels).
    a[2, 0], a[1, 1], a[3, 0], a[1, 2] = 2.0e-6, 1.5e-6, 4.0e-9, 4.0e-9
    b[0, 2], b[1, 1], b[0, 3], b[2, 1] = 2.5e-6, -1.0e-6, 4.0e-9, 4.0e-9
    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.array_shape = (ny, nx)
    return w


def check_exposures(n_exposures):
    """``InputError`` unless ``n_exposures`` is a whole number from 1 to ``MAX_EXPOSURES``."""
    from tiledrizzle.core.errors import InputError

    if isinstance(n_exposures, bool) or not isinstance(n_exposures, int | np.integer):
        raise InputError(f"the number of exposures must be an integer, got {n_exposures!r}")
    if not 1 <= n_exposures <= MAX_EXPOSURES:
        raise InputError(
            f"the number of exposures must be from 1 to {MAX_EXPOSURES}, got {n_exposures}"
        )


def dither_pattern(n_exposures, detector=None):
    """Where each exposure points, as (dx, dy) detector pixels from the field centre.

    A bounded pattern whatever ``n_exposures`` (1 to ``MAX_EXPOSURES``): exposure
    ``k`` goes to pointing ``k mod 4`` of a 2 x 2 grid ``POINTING_STEP`` detectors
    apart (only the first ones when there are fewer than 4 exposures), and its visit
    ``k // 4`` to that pointing is offset on a 4 x 4 grid ``DITHER_STEP`` pixels apart
    (centred: at most 1.5 steps off) plus a sub-pixel dither (an R2 low-discrepancy
    sequence; none on the first visit), so repeated visits sample the pixels at new
    phases. Returns an ``(n_exposures, 2)`` array.
    """
    check_exposures(n_exposures)
    ny, nx = _detector(detector)
    k = np.arange(n_exposures)
    used = np.array(POINTINGS[: min(n_exposures, len(POINTINGS))], float)
    centre = 0.5 * (used.min(axis=0) + used.max(axis=0))
    grid = np.array(POINTINGS, float)[k % len(POINTINGS)] - centre
    visit = k // len(POINTINGS)
    small = DITHER_STEP * (np.stack([visit % 4, (visit // 4) % 4], axis=1) - 1.5)
    g = 1.324717957244746  # the plastic number: R2 sequence, evenly spread phases
    sub = np.mod(0.5 + np.outer(visit, [1 / g, 1 / g**2]), 1.0) - 0.5
    return grid * POINTING_STEP * np.array([nx, ny]) + small + sub


def field_half_size(n_exposures, detector=None):
    """Half the sides (x, y) in pixels of the sky the exposures can see, rolls included."""
    ny, nx = _detector(detector)
    offsets = dither_pattern(n_exposures, detector)
    reach = 0.5 * np.hypot(nx, ny)  # a rolled detector's corners
    return np.abs(offsets).max(axis=0) + reach + 8.0


def star_catalogue(rng, n_stars, half_size_deg):
    """``n_stars`` stars (ra, dec, flux in counts/s) uniform over the field's box."""
    ra0, dec0 = FIELD_CENTRE
    hx, hy = half_size_deg
    ra = ra0 + rng.uniform(-hx, hx, n_stars) / np.cos(np.deg2rad(dec0))
    dec = dec0 + rng.uniform(-hy, hy, n_stars)
    flux = rng.lognormal(4.0, 1.0, n_stars)  # counts/s
    return ra, dec, flux


def pointings(n_exposures, rng, detector=None):
    """The WCS of each exposure (``dither_pattern`` and a small random roll) and the stars."""
    ny, nx = _detector(detector)
    half = field_half_size(n_exposures, detector)
    n_stars = int(round(STARS_PER_DETECTOR * 4 * half[0] * half[1] / (nx * ny)))
    stars = star_catalogue(rng, max(n_stars, 10), half * PIXEL_SCALE)
    cosdec = np.cos(np.deg2rad(FIELD_CENTRE[1]))
    wcss = []
    for dx, dy in dither_pattern(n_exposures, detector):
        # +x on the sky is west (RA decreasing), as the camera's CD matrix has it.
        ra = FIELD_CENTRE[0] - dx * PIXEL_SCALE / cosdec
        dec = FIELD_CENTRE[1] + dy * PIXEL_SCALE
        roll = rng.uniform(-MAX_ROLL, MAX_ROLL)
        wcss.append(camera_wcs(ra, dec, roll, detector))
    return wcss, stars


def observe(wcs, stars, rng, exptime, psf_sigma_pix=1.2, sky=0.05):
    """SCI (counts/s), ERR and DQ of one exposure of the star field through ``wcs``."""
    ra, dec, flux = stars
    ny, nx = wcs.array_shape
    shape = (ny, nx)
    # Only stars near the detector go through the distortion's iterative inversion
    # (the undistorted TAN projection needs none and picks them).
    lx, ly = wcs.wcs_world2pix(ra, dec, 0)
    near = (lx > -64) & (lx < nx + 64) & (ly > -64) & (ly < ny + 64)
    sx, sy = wcs.all_world2pix(ra[near], dec[near], 0)
    f_near = flux[near]
    inside = (sx > -10) & (sx < nx + 10) & (sy > -10) & (sy < ny + 10)
    image = np.full(shape, sky)
    r = int(np.ceil(5 * psf_sigma_pix))
    for x, y, f in zip(sx[inside], sy[inside], f_near[inside], strict=True):
        x0, x1 = max(int(x) - r, 0), min(int(x) + r + 1, nx)
        y0, y1 = max(int(y) - r, 0), min(int(y) + r + 1, ny)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        g = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * psf_sigma_pix**2))
        image[y0:y1, x0:x1] += f * g / (2 * np.pi * psf_sigma_pix**2)
    counts = rng.poisson(np.clip(image * exptime, 0, None)) + rng.normal(0, 3.0, shape)
    sci = (counts / exptime - sky).astype(np.float32)
    err = (np.sqrt(np.clip(image * exptime, 0, None) + 9.0) / exptime).astype(np.float32)
    dq = np.zeros(shape, np.uint32)
    n_hot = max(1, round(40 * ny * nx / (512 * 512)))
    hot = rng.integers(0, ny, n_hot), rng.integers(0, nx, n_hot)
    sci[hot] += 500.0
    dq[hot] = HOT_PIXEL
    return sci, err, dq


def write_exposures(workdir, n_exposures, rng, exptime=300.0, detector=None):
    """Write ``n_exposures`` FITS files (``dither_pattern``); return their paths and the stars.

    ``n_exposures``: 1 to ``MAX_EXPOSURES``; ``detector``: (ny, nx), ``DETECTOR``
    by default.
    """
    from astropy.io import fits

    wcss, stars = pointings(n_exposures, rng, detector)
    paths = []
    for k, wcs in enumerate(wcss):
        checkpoint()  # Ctrl-C (cli.sigint)
        sci, err, dq = observe(wcs, stars, rng, exptime)
        header = wcs.to_header(relax=True)
        hdus = fits.HDUList(
            [
                fits.PrimaryHDU(header=fits.Header([("EXPTIME", exptime), ("TELESCOP", "DEMO")])),
                fits.ImageHDU(sci, header=header, name="SCI"),
                fits.ImageHDU(err, header=header, name="ERR"),
                fits.ImageHDU(dq, header=header, name="DQ"),
            ]
        )
        path = os.path.join(workdir, f"demo_{k:02d}.fits")
        hdus.writeto(path, overwrite=True)
        paths.append(path)
    return paths, stars


def _local_cluster():
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)  # fmt: skip
    return cluster, Client(cluster)


def run_demo(n_exposures=6, kernel="square", pixfrac=0.8, workdir="tiledrizzle-demo",
             scheduler="local-cluster", seed=42, stretch="asinh", preview_of="img",
             detector=None):  # fmt: skip
    """Make the exposures, mosaic them, write a preview; print and return the summary.

    ``workdir`` (made if missing) gets the FITS files, ``mosaic.zarr`` and
    ``mosaic.png``: the whole mosaic beside ``ZOOM_SIZE`` pixels around one of its
    brightest stars at the mosaic's own pixel scale (``preview_of``: 'img', 'wht' or 'ctx';
    ``stretch`` as ``preview_png`` takes it). ``detector`` (ny, nx): the camera's
    size, ``DETECTOR`` by default.
    """
    import shutil

    from tiledrizzle.engine.batch import mosaic
    from tiledrizzle.inputs.fits import FitsExposure
    from tiledrizzle.inputs.output_wcs import fit_output_wcs
    from tiledrizzle.products.preview import preview_png

    # Every option is checked before a file is written or the last demo's store removed.
    check_exposures(n_exposures)
    check_batch_options(kernel, pixfrac, (512, 512), (512, 512))
    check_preview_options(stretch, preview_of)
    if scheduler != "local-cluster":
        check_scheduler(scheduler)
    t0 = time.perf_counter()
    os.makedirs(workdir, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths, stars = write_exposures(workdir, n_exposures, rng, detector=detector)
    t_files = time.perf_counter() - t0
    exposures = [
        # Exposure-time weights: inverse-variance weights from an ERR that holds the
        # sources' own Poisson noise would weigh bright pixels down and bias star fluxes
        # low (pipelines take ivm from sky and read noise only).
        FitsExposure(p, err_ext="ERR", dq_ext="DQ", bad_bits=HOT_PIXEL, weight="exptime")
        for p in paths
    ]
    for e in exposures:
        e.describe()
    out_wcs = fit_output_wcs([e.wcs for e in exposures], pixel_scale=0.1, padding=4)
    store = os.path.join(workdir, "mosaic.zarr")
    shutil.rmtree(store, ignore_errors=True)
    cluster = client = None
    if scheduler == "local-cluster":
        cluster, client = _local_cluster()
        scheduler = client
    try:
        t1 = time.perf_counter()
        result = mosaic(exposures, store, wcs=out_wcs, kernel=kernel, pixfrac=pixfrac,
                        tile_shape=(512, 512), scheduler=scheduler)  # fmt: skip
        t_mosaic = time.perf_counter() - t1
    finally:
        if client is not None:
            client.close()
            cluster.close()
    summary = _summary(result, out_wcs, stars)
    preview = os.path.join(workdir, "mosaic.png")
    ph, pw = preview_png(result.store, preview, stretch=stretch, array=preview_of,
                         zoom=summary["zoom"], zoom_size=ZOOM_SIZE)  # fmt: skip
    ny, nx = result.plan.grid.shape
    rep = result.report
    det_y, det_x = _detector(detector)
    print(f"tiledrizzle demo: {n_exposures} exposures of {det_x}x{det_y} "
          f"-> {nx}x{ny} mosaic, kernel={kernel}, pixfrac={pixfrac}")  # fmt: skip
    print(f"  files           : {workdir}/demo_*.fits ({t_files:.1f} s to make)")
    print(f"  scheduler       : {rep['scheduler']}")
    print(f"  tiles written   : {rep['tiles_written']} of {result.plan.grid.n_tiles}, "
          f"{rep['tasks']} tasks")  # fmt: skip
    print(f"  exposure time   : {rep['total_exptime']:.0f} s in total")
    print(f"  coverage        : {summary['coverage']:.1%} of the grid")
    print(f"  star fluxes     : median recovered/true {summary['flux_ratio']:.3f} "
          f"({summary['n_stars']} isolated stars)")  # fmt: skip
    zy, zx = summary["zoom"]
    print(f"  store           : {store}")
    print(f"  preview         : {preview} ({pw}x{ph}: {preview_of}, {stretch} stretch; "
          f"whole mosaic | {ZOOM_SIZE} px around a bright star at x={zx}, y={zy}, "
          "pixels enlarged)")  # fmt: skip
    print(f"  time            : {t_mosaic:.1f} s mosaic, {time.perf_counter() - t0:.1f} s total")
    return result, summary


def check_preview_options(stretch, preview_of):
    """``InputError`` for a stretch or a preview array the demo cannot show."""
    from tiledrizzle.core.errors import InputError
    from tiledrizzle.products.preview import STRETCHES

    if stretch not in STRETCHES:
        raise InputError(f"the stretch must be one of {', '.join(STRETCHES)}, got {stretch!r}")
    if preview_of not in PREVIEW_ARRAYS:
        raise InputError(
            f"the preview must be of one of {', '.join(PREVIEW_ARRAYS)}, got {preview_of!r}"
        )


def _summary(result, out_wcs, stars, aperture=6):
    """Coverage and aperture photometry of isolated, well covered stars vs. their true flux."""
    img = result.img.compute()
    wht = result.wht.compute()
    ra, dec, flux = stars
    x, y = out_wcs.all_world2pix(ra, dec, 0)
    ny, nx = img.shape
    ratios = []
    yy, xx = np.mgrid[-aperture : aperture + 1, -aperture : aperture + 1]
    disk = xx**2 + yy**2 <= aperture**2
    for k in np.argsort(flux)[::-1][:200]:
        xi, yi = int(round(x[k])), int(round(y[k]))
        if not (aperture <= xi < nx - aperture and aperture <= yi < ny - aperture):
            continue
        near = np.hypot(x - x[k], y - y[k]) < 3 * aperture
        if near.sum() > 1:
            continue
        box = (slice(yi - aperture, yi + aperture + 1), slice(xi - aperture, xi + aperture + 1))
        if not (wht[box][disk] > 0).all():
            continue
        # Output pixels have the input's size (0.1"): the sum of the surface brightness
        # over the aperture is the flux.
        ratios.append(float(np.nansum(img[box][disk])) / flux[k])
    # The preview's crop: around one of the brightest stars on pixels with data, the one
    # whose crop is covered best, then holds the most other stars.
    zoom, best = (ny // 2, nx // 2), None
    half = ZOOM_SIZE // 2
    on_data = [
        k
        for k in np.argsort(flux)[::-1]
        if 0 <= round(x[k]) < nx and 0 <= round(y[k]) < ny and wht[round(y[k]), round(x[k])] > 0
    ]
    for k in on_data[:ZOOM_CANDIDATES]:
        yi, xi = int(round(y[k])), int(round(x[k]))
        window = wht[max(yi - half, 0) : yi + half, max(xi - half, 0) : xi + half]
        covered = window.size == ZOOM_SIZE**2 and (window > 0).mean() > 0.95
        crowd = int(((np.abs(x - x[k]) < half - 8) & (np.abs(y - y[k]) < half - 8)).sum())
        if best is None or (covered, crowd) > best:
            zoom, best = (yi, xi), (covered, crowd)
    return {
        "zoom": zoom,
        "coverage": float((wht > 0).mean()),
        "flux_ratio": float(np.median(ratios)) if ratios else float("nan"),
        "n_stars": len(ratios),
    }
