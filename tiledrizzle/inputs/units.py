"""What the numbers of a FITS input mean, and what they mean in the mosaic.

Drizzle's output pixel is a weighted mean of the input values that land on it,
so values keep the *input* pixel's units. That is right for surface brightness
(``MJy/sr``: per solid angle, whatever the pixel) and wrong for counts and
count rates per pixel (``DN/s``, ``electron``): drizzled from 0.063" onto
0.031" pixels, an aperture sum would be 4x the flux. For those, tiledrizzle
multiplies the input by the ratio of the output pixel's area to the input
pixel's (``pixel_area_ratio``), as AstroDrizzle's products are per output
pixel, so aperture sums conserve flux; ``pixel_units='input'`` keeps the
reference's per-input-pixel values.

The unit comes from ``BUNIT`` (science header, else primary header), read
with ``astropy.units``; a missing ``BUNIT`` is taken as a per-pixel quantity.
"""

from __future__ import annotations

import numpy as np

PIXEL_UNITS = ("output", "input")
"""``'output'``: counts and rates per output pixel (scaled by the pixel-area ratio);
``'input'``: values per input pixel, as the reference leaves them."""

SURFACE_BRIGHTNESS = "surface brightness"
PER_OUTPUT_PIXEL = "output pixel"
PER_INPUT_PIXEL = "input pixel"


def is_surface_brightness(bunit) -> bool:
    """Whether ``bunit`` is per solid angle (``MJy/sr``, ``erg/s/cm2/Hz/arcsec2``): its
    decomposition has angle to the power -2 or lower. Unknown units are per pixel."""
    if not bunit:
        return False
    import astropy.units as u

    unit = _parse(bunit)
    if unit is None:
        return False
    try:
        dec = unit.decompose()
    except u.UnitsError:
        return False
    return dict(zip(dec.bases, dec.powers, strict=True)).get(u.rad, 0) <= -2


def flux_per(bunit, pixel_units) -> str:
    """What one value of the mosaic is: ``'surface brightness'`` (unchanged),
    ``'output pixel'`` or ``'input pixel'``."""
    if is_surface_brightness(bunit):
        return SURFACE_BRIGHTNESS
    return PER_OUTPUT_PIXEL if pixel_units == "output" else PER_INPUT_PIXEL


def pixel_area_ratio(in_wcs, out_wcs, shape) -> float:
    """The output pixel's area over the input pixel's, at the input's centre: 1 / |det J|
    of the map from input to output pixels (distortion included, through astropy)."""
    ny, nx = shape
    x = np.array([0.0, 1.0, 0.0]) + (nx - 1) / 2
    y = np.array([0.0, 0.0, 1.0]) + (ny - 1) / 2
    ox, oy = out_wcs.world_to_pixel_values(*in_wcs.pixel_to_world_values(x, y))
    det = (ox[1] - ox[0]) * (oy[2] - oy[0]) - (ox[2] - ox[0]) * (oy[1] - oy[0])
    return float(1.0 / abs(det))


def output_bunit(bunit, in_units) -> str | None:
    """The mosaic's ``BUNIT``: the input's, per second when ``in_units='counts'`` (the
    engine divides by the exposure time)."""
    if not bunit:
        return None
    if in_units != "counts":
        return str(bunit).strip()
    import astropy.units as u

    unit = _parse(bunit)
    if unit is None:
        return f"({str(bunit).strip()})/s"
    return (unit / u.s).to_string()


UNIT_FACTS = {"bunit": "BUNIT", "flux_per": "values per"}
"""What a mosaic's values are, as the store records it (``attrs["units"]``), and how
messages name each."""


def unit_difference(a, b):
    """``(key, value of a, value of b)`` for the first unit fact (``UNIT_FACTS``) that both
    state and that differs, or None: two sets of values of one mosaic must agree (an
    unstated BUNIT takes the other's)."""
    for key in UNIT_FACTS:
        if a.get(key) is not None and b.get(key) is not None and a[key] != b[key]:
            return key, a[key], b[key]
    return None


def describe_units(units) -> str:
    """One line for people: ``'DN/s per output pixel (aperture sums conserve flux)'``."""
    units = units or {}
    bunit = units.get("bunit") or "no BUNIT"
    per = units.get("flux_per") or PER_INPUT_PIXEL
    if per == SURFACE_BRIGHTNESS:
        return f"{bunit} (surface brightness, unchanged by the pixel size)"
    if per == PER_OUTPUT_PIXEL:
        return f"{bunit} per output pixel (scaled by the pixel-area ratio: sums conserve flux)"
    return f"{bunit} per input pixel (not scaled to the output pixel size)"


def _parse(bunit):
    """``bunit`` as an astropy unit (FITS spelling first, then astropy's), or None."""
    import astropy.units as u

    for fmt in ("fits", None):
        unit = u.Unit(str(bunit).strip(), format=fmt, parse_strict="silent")
        if not isinstance(unit, u.UnrecognizedUnit):
            return unit
    return None
