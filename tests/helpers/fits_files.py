"""Small FITS exposures with a SIP distortion, written with astropy, and the output grid
they share: the inputs of the FITS-reader and command-line tests."""

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, Sip

from tiledrizzle import FitsExposure

SHAPE = (60, 70)
SCALE = 0.2 / 3600


def detector_wcs(ra, dec, roll=0.0):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [35.5, 30.5]
    t = np.deg2rad(roll)
    w.wcs.cd = SCALE * np.array([[-np.cos(t), np.sin(t)], [np.sin(t), np.cos(t)]])
    a, b = np.zeros((3, 3)), np.zeros((3, 3))
    a[2, 0], b[0, 2], a[1, 1] = 3e-4, -2e-4, 1e-4
    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.array_shape = SHAPE
    return w


def output_wcs(shape=(110, 120)):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [10.0, -30.0]
    w.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    w.wcs.cdelt = [-SCALE, SCALE]
    w.array_shape = shape
    return w


def write_exposure(path, k, seed=0, exptime=100.0, header_extra=None, **overrides):
    rng = np.random.default_rng(seed + k)
    ra = 10.0 + (k - 1) * 15 * SCALE
    dec = -30.0 + (k % 2) * 10 * SCALE
    wcs = detector_wcs(ra, dec, roll=5.0 * k)
    sci = rng.normal(2.0, 0.3, SHAPE).astype(np.float32)
    err = rng.uniform(0.1, 0.3, SHAPE).astype(np.float32)
    dq = np.zeros(SHAPE, np.uint16)
    dq[rng.integers(0, SHAPE[0], 30), rng.integers(0, SHAPE[1], 30)] = 8
    dq[rng.integers(0, SHAPE[0], 30), rng.integers(0, SHAPE[1], 30)] = 1
    sci[dq == 8] = 1e4  # bad pixels: must get no weight when bit 8 is masked
    h = wcs.to_header(relax=True)
    primary = fits.Header([("EXPTIME", exptime)] + list((header_extra or {}).items()))
    hdus = [fits.PrimaryHDU(header=primary)]
    for name, arr in (("SCI", sci), ("ERR", err), ("DQ", dq)):
        arr = overrides.get(name, arr)
        if arr is not None:
            hdus.append(fits.ImageHDU(arr, header=h, name=name))
    fits.HDUList(hdus).writeto(path)
    return path


def fits_inputs(files, **kw):
    opts = dict(err_ext="ERR", dq_ext="DQ", bad_bits=8, weight="ivm", pixmap_mode="exact")
    opts.update(kw)
    return [FitsExposure(p, **opts) for p in files]
