"""``tiledrizzle demo``: synthetic exposures -> FITS files -> mosaic on a local cluster -> preview.

The sky is a field of stars (Gaussian PSFs) around RA 150.1, Dec +2.2. A
made-up camera of 512 x 512 pixels of 0.1 arcsec, with this project's own
distortion (a SIP polynomial of second and third order, a few pixels at the
corners), observes it at several overlapping pointings with small dithers.
Each exposure is written as a FITS file with SCI (counts/s), ERR and DQ
extensions (a few hot pixels flagged) and EXPTIME. The files are then
mosaicked exactly as ``tiledrizzle mosaic`` does: output WCS fitted to the
inputs (north up), inverse-variance weights, bad DQ bits masked, on a local
Dask cluster of worker processes by default; a PNG preview and a summary
(including how well star fluxes are recovered) are written.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

from tiledrizzle.core.options import check_batch_options
from tiledrizzle.engine.schedulers import check_scheduler

PIXEL_SCALE = 0.1 / 3600.0  # degrees per pixel
DETECTOR = (512, 512)
FIELD_CENTRE = (150.1, 2.2)
HOT_PIXEL = 4  # DQ bit of the flagged pixels


def camera_wcs(ra, dec, roll_deg):
    """The demo camera: TAN with a SIP distortion of our own, pointed at (ra, dec)."""
    from astropy.wcs import WCS, Sip

    ny, nx = DETECTOR
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
    w.array_shape = DETECTOR
    return w


def star_catalogue(rng, n_stars, radius_deg):
    ra0, dec0 = FIELD_CENTRE
    ra = ra0 + rng.uniform(-radius_deg, radius_deg, n_stars) / np.cos(np.deg2rad(dec0))
    dec = dec0 + rng.uniform(-radius_deg, radius_deg, n_stars)
    flux = rng.lognormal(4.0, 1.0, n_stars)  # counts/s
    return ra, dec, flux


def observe(wcs, stars, rng, exptime, psf_sigma_pix=1.2, sky=0.05):
    """SCI (counts/s), ERR and DQ of one exposure of the star field through ``wcs``."""
    ra, dec, flux = stars
    ny, nx = DETECTOR
    sx, sy = wcs.all_world2pix(ra, dec, 0)
    inside = (sx > -10) & (sx < nx + 10) & (sy > -10) & (sy < ny + 10)
    image = np.full(DETECTOR, sky)
    r = int(np.ceil(5 * psf_sigma_pix))
    for x, y, f in zip(sx[inside], sy[inside], flux[inside], strict=True):
        x0, x1 = max(int(x) - r, 0), min(int(x) + r + 1, nx)
        y0, y1 = max(int(y) - r, 0), min(int(y) + r + 1, ny)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        g = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * psf_sigma_pix**2))
        image[y0:y1, x0:x1] += f * g / (2 * np.pi * psf_sigma_pix**2)
    counts = rng.poisson(np.clip(image * exptime, 0, None)) + rng.normal(0, 3.0, DETECTOR)
    sci = (counts / exptime - sky).astype(np.float32)
    err = (np.sqrt(np.clip(image * exptime, 0, None) + 9.0) / exptime).astype(np.float32)
    dq = np.zeros(DETECTOR, np.uint32)
    hot = rng.integers(0, ny, 40), rng.integers(0, nx, 40)
    sci[hot] += 500.0
    dq[hot] = HOT_PIXEL
    return sci, err, dq


def write_exposures(workdir, n_exposures, rng, exptime=300.0):
    """Write ``n_exposures`` FITS files (2 rows of pointings, dithered); return paths, stars."""
    from astropy.io import fits

    ny, nx = DETECTOR
    step = 0.8 * nx * PIXEL_SCALE  # pointings overlap by 20 percent
    stars = star_catalogue(rng, 60 * n_exposures, radius_deg=step * (n_exposures / 2 + 1))
    paths = []
    per_row = max((n_exposures + 1) // 2, 1)
    for k in range(n_exposures):
        row, col = divmod(k, per_row)
        dra = (col - (per_row - 1) / 2) * step + rng.uniform(-3, 3) * PIXEL_SCALE
        ddec = (row - 0.5) * step + rng.uniform(-3, 3) * PIXEL_SCALE
        ra = FIELD_CENTRE[0] + dra / np.cos(np.deg2rad(FIELD_CENTRE[1]))
        wcs = camera_wcs(ra, FIELD_CENTRE[1] + ddec, roll_deg=rng.uniform(-5, 5))
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
             scheduler="local-cluster", seed=42):  # fmt: skip
    """Make the exposures, mosaic them, write a preview; print and return the summary."""
    import shutil

    from tiledrizzle.engine.batch import mosaic
    from tiledrizzle.inputs.fits import FitsExposure
    from tiledrizzle.inputs.output_wcs import fit_output_wcs
    from tiledrizzle.products.preview import preview_png

    # Every option is checked before a file is written or the last demo's store removed.
    check_batch_options(kernel, pixfrac, (512, 512), (512, 512))
    if scheduler != "local-cluster":
        check_scheduler(scheduler)
    t0 = time.perf_counter()
    os.makedirs(workdir, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths, stars = write_exposures(workdir, n_exposures, rng)
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
    preview = os.path.join(workdir, "mosaic.png")
    preview_png(result.store, preview)
    summary = _summary(result, out_wcs, stars)
    ny, nx = result.plan.grid.shape
    rep = result.report
    print(f"tiledrizzle demo: {n_exposures} exposures of {DETECTOR[1]}x{DETECTOR[0]} "
          f"-> {nx}x{ny} mosaic, kernel={kernel}, pixfrac={pixfrac}")  # fmt: skip
    print(f"  files           : {workdir}/demo_*.fits ({t_files:.1f} s to make)")
    print(f"  scheduler       : {rep['scheduler']}")
    print(f"  tiles written   : {rep['tiles_written']} of {result.plan.grid.n_tiles}, "
          f"{rep['tasks']} tasks")  # fmt: skip
    print(f"  exposure time   : {rep['total_exptime']:.0f} s in total")
    print(f"  coverage        : {summary['coverage']:.1%} of the grid")
    print(f"  star fluxes     : median recovered/true {summary['flux_ratio']:.3f} "
          f"({summary['n_stars']} isolated stars)")  # fmt: skip
    print(f"  store, preview  : {store}, {preview}")
    print(f"  time            : {t_mosaic:.1f} s mosaic, {time.perf_counter() - t0:.1f} s total")
    return result, summary


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
    return {
        "coverage": float((wht > 0).mean()),
        "flux_ratio": float(np.median(ratios)) if ratios else float("nan"),
        "n_stars": len(ratios),
    }
