"""Real instrument WCS headers (read from ../shared/data/wcs, never copied).

``WCS_DIR`` is ``$TILEDRIZZLE_WCS_DIR`` or ``<repo>/../shared/data/wcs``.
"""

import functools
import os
import pathlib
import warnings

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]  # tests/helpers/wcs_data.py
WCS_DIR = pathlib.Path(
    os.environ.get("TILEDRIZZLE_WCS_DIR", REPO.parent / "shared" / "data" / "wcs")
)

NIRCAM_INPUT = WCS_DIR / "nrcb5_sip_wcs.hdr"
NIRCAM_OUTPUTS = {
    0.55: WCS_DIR / "nrcb5_output_wcs_psr_0p55.hdr",
    1.0: WCS_DIR / "nrcb5_output_wcs_psr_1p0.hdr",
    1.2: WCS_DIR / "nrcb5_output_wcs_psr_1p2.hdr",
}

requires_wcs_data = pytest.mark.skipif(
    not NIRCAM_INPUT.exists(),
    reason=f"real WCS headers not found in {WCS_DIR} (shared test data is absent)",
)


def read_header_wcs(path):
    """An astropy WCS (with SIP) from a plain-text FITS header file; pixel_shape set."""
    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    header = fits.Header.fromtextfile(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        w = WCS(header)
    if header.get("NAXIS1") and header.get("NAXIS2"):
        w.pixel_shape = (header["NAXIS1"], header["NAXIS2"])
    return w


@functools.lru_cache(maxsize=8)
def nircam_pixmap(ratio=1.0, step=1):
    """Pixmap of the NIRCam SIP detector onto the output frame at pixel-scale ratio ``ratio``.

    ``step`` > 1 subsamples the input grid (a smaller, still distorted, pixmap).
    Computed with astropy directly (exact transform at every pixel).
    """
    win = read_header_wcs(NIRCAM_INPUT)
    wout = read_header_wcs(NIRCAM_OUTPUTS[ratio])
    ny, nx = win.array_shape
    y, x = np.mgrid[0:ny:step, 0:nx:step].astype(np.float64)
    ra, dec = win.all_pix2world(x, y, 0)
    ox, oy = wout.all_world2pix(ra, dec, 0)
    out_shape = wout.array_shape
    return np.dstack([ox, oy]), tuple(out_shape)
