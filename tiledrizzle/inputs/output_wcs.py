"""The output grid of a mosaic: fit a TAN WCS to the inputs, read and write WCS headers.

``fit_output_wcs`` makes a celestial, distortion-free gnomonic (TAN) WCS whose
pixel grid covers the footprints of all inputs. Each input's footprint is
traced along its pixel boundary (pixel edges -0.5 and n-0.5, sampled densely
enough that SIP or lookup-table distortion is followed) with the full
``all_pix2world`` transform, projected on the output's tangent plane, and the
grid is the bounding box of those points (plus ``padding``).

``wcs_from_header_file`` reads a WCS (with its array shape) from a FITS file or
a plain-text header; ``wcs_to_header_string`` / ``wcs_from_header_string``
turn a WCS into the header string kept in a mosaic store and back.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from tiledrizzle.core.errors import InputError, InputTypeError

EDGE_STEP = 4
"""Spacing, in input pixels, of the samples taken along each input's boundary."""

WIDTH_TOLERANCE = 1e-3
"""Output pixels by which a footprint may exceed a whole number of pixels and still fit.

An input lying exactly on a grid (up to rounding) then gets that grid, not one
pixel more; its edges overhang by at most half this on each side, which no
drizzle kernel can see.
"""

MAX_FIELD_RADIUS = 80.0
"""Degrees from the tangent point beyond which a footprint cannot go on one TAN grid."""


# -- fitting -----------------------------------------------------------------------------


def fit_output_wcs(
    input_wcses,
    input_shapes=None,
    *,
    pixel_scale=None,
    rotation=None,
    padding=0,
    crval=None,
):
    """A celestial TAN WCS whose pixel grid covers the footprints of all inputs.

    ``input_wcses``: astropy WCS objects (2-D celestial, SIP or lookup-table
    distortion allowed). ``input_shapes``: their array shapes (ny, nx); when
    omitted (or an entry is None) the WCS's ``array_shape`` is used.
    ``pixel_scale``: output pixel size in arcsec (default: the smallest input
    pixel scale, measured at each input's centre from the Jacobian of its full
    transform). ``rotation``: position angle, degrees east of north, of the
    output's +y axis (None or 0: north up, east left, CDELT1 < 0).
    ``padding``: extra output pixels on every side. ``crval``: (lon, lat) of
    the tangent point in degrees (default: the centre of the combined
    footprint).

    Returns an ``astropy.wcs.WCS`` with ``array_shape`` = (ny, nx) set.
    """
    wcses = _as_wcs_list(input_wcses)
    shapes = _input_shapes(wcses, input_shapes)
    lngtyp, lattyp = _celestial_types(wcses)
    if pixel_scale is None:
        pixel_scale = min(_centre_pixel_scale(w, s) for w, s in zip(wcses, shapes, strict=True))
    pixel_scale = _positive_number(pixel_scale, "pixel_scale")
    rotation = 0.0 if rotation is None else _finite_number(rotation, "rotation")
    padding = _padding(padding)

    lon, lat = _footprints(wcses, shapes)
    if crval is None:
        centre = _mean_direction(lon, lat)
        auto_centre = True
    else:
        centre = _check_crval(crval)
        auto_centre = False

    scale_deg = pixel_scale / 3600.0
    out = _tan_wcs(wcses[0], lngtyp, lattyp, centre, scale_deg, rotation)
    px, py = _project(out, lon, lat, centre)
    if auto_centre:
        # Put the tangent point at the centre of the footprint's bounding box, then redo.
        mid = ((px.min() + px.max()) / 2, (py.min() + py.max()) / 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ra_c, dec_c = out.wcs_pix2world(np.array([mid[0]]), np.array([mid[1]]), 0)
        centre = (float(ra_c[0]) % 360.0, float(dec_c[0]))
        out = _tan_wcs(wcses[0], lngtyp, lattyp, centre, scale_deg, rotation)
        px, py = _project(out, lon, lat, centre)

    crpix, shape = [], []
    for p in (px, py):
        lo, hi = float(p.min()), float(p.max())
        width = hi - lo
        n = max(1, math.ceil(width - WIDTH_TOLERANCE))
        slack = n - width  # in (-tol, 1): split evenly so the footprint sits in the middle
        # Pixel i covers [i - 0.5, i + 0.5]; the low edge ``lo`` goes to -0.5 + padding + slack/2.
        origin = -0.5 + padding + slack / 2 - lo  # 0-based pixel of the tangent point
        crpix.append(origin + 1.0)
        shape.append(n + 2 * padding)
    out.wcs.crpix = crpix
    out.wcs.set()
    out.pixel_shape = (shape[0], shape[1])
    return out


def _as_wcs_list(input_wcses):
    from astropy.wcs import WCS

    if isinstance(input_wcses, WCS):
        input_wcses = [input_wcses]
    try:
        wcses = list(input_wcses)
    except TypeError:
        raise InputTypeError(
            f"'input_wcses' must be a sequence of astropy WCS, got {type(input_wcses).__name__}"
        ) from None
    if not wcses:
        raise InputError("no input WCS given: nothing to fit an output grid to")
    for k, w in enumerate(wcses):
        if not isinstance(w, WCS):
            raise InputTypeError(f"input {k}: expected an astropy WCS, got {type(w).__name__}")
        if w.naxis != 2 or not w.has_celestial:
            raise InputError(
                f"input {k}: the WCS is not a 2-D celestial WCS (axes {list(w.wcs.ctype)})"
            )
    return wcses


def _input_shapes(wcses, input_shapes):
    if input_shapes is None:
        input_shapes = [None] * len(wcses)
    input_shapes = list(input_shapes)
    if len(input_shapes) != len(wcses):
        raise InputError(
            f"{len(input_shapes)} input shapes given for {len(wcses)} input WCS objects"
        )
    shapes = []
    for k, (w, s) in enumerate(zip(wcses, input_shapes, strict=True)):
        if s is None:
            s = w.array_shape
        if s is None:
            raise InputError(
                f"input {k}: the array shape is unknown (set wcs.array_shape or pass "
                "'input_shapes')"
            )
        try:
            ny, nx = (int(v) for v in s)
        except (TypeError, ValueError):
            raise InputError(f"input {k}: shape must be (ny, nx), got {s!r}") from None
        if ny < 1 or nx < 1:
            raise InputError(f"input {k}: shape must be positive, got {(ny, nx)}")
        shapes.append((ny, nx))
    return shapes


def _celestial_types(wcses):
    types = {(w.wcs.lngtyp, w.wcs.lattyp) for w in wcses}
    if len(types) > 1:
        raise InputError(
            f"the inputs use different celestial systems {sorted(types)}; convert them to one"
        )
    return types.pop()


def _positive_number(value, name):
    value = _finite_number(value, name)
    if value <= 0:
        raise InputError(f"'{name}' must be positive, got {value!r}")
    return value


def _finite_number(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"'{name}' must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise InputError(f"'{name}' must be finite, got {value!r}")
    return value


def _padding(padding):
    if isinstance(padding, bool) or int(padding) != padding or padding < 0:
        raise InputError(f"'padding' must be a non-negative integer, got {padding!r}")
    return int(padding)


def _check_crval(crval):
    try:
        lon, lat = (float(v) for v in crval)
    except (TypeError, ValueError):
        raise InputError(f"'crval' must be (lon, lat) in degrees, got {crval!r}") from None
    if not (math.isfinite(lon) and math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise InputError(f"'crval' must be finite with -90 <= lat <= 90, got {crval!r}")
    return lon % 360.0, lat


def _world(w, x, y):
    """(lon, lat) in degrees of 0-based pixel positions, full transform (distortion included)."""
    world = w.all_pix2world(np.column_stack([x, y]), 0)
    return world[:, w.wcs.lng], world[:, w.wcs.lat]


def _edge_positions(n):
    """Pixel-edge positions -0.5 .. n-0.5, every ``EDGE_STEP`` pixels, both ends included."""
    return np.linspace(-0.5, n - 0.5, max(2, math.ceil(n / EDGE_STEP) + 1))


def _boundary(shape):
    ny, nx = shape
    xs, ys = _edge_positions(nx), _edge_positions(ny)
    x = np.concatenate([xs, xs, np.full(ys.size, -0.5), np.full(ys.size, nx - 0.5)])
    y = np.concatenate([np.full(xs.size, -0.5), np.full(xs.size, ny - 0.5), ys, ys])
    return x, y


def _footprints(wcses, shapes):
    lons, lats = [], []
    for k, (w, shape) in enumerate(zip(wcses, shapes, strict=True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lon, lat = _world(w, *_boundary(shape))
        if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
            raise InputError(f"input {k}: the WCS gives no sky position for part of its boundary")
        lons.append(lon)
        lats.append(lat)
    return np.concatenate(lons), np.concatenate(lats)


def _unit(lon, lat):
    a, d = np.deg2rad(lon), np.deg2rad(lat)
    return np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)], axis=-1)


def _mean_direction(lon, lat):
    v = _unit(lon, lat).mean(axis=0)
    norm = np.linalg.norm(v)
    if norm < 1e-6:
        raise InputError("the inputs are spread over the whole sky: no centre for a TAN grid")
    x, y, z = v / norm
    return float(np.rad2deg(np.arctan2(y, x)) % 360.0), float(np.rad2deg(np.arcsin(z)))


def _tangent_plane(lon, lat, centre):
    """Standard coordinates (xi east, eta north), in degrees, about ``centre``."""
    a0, d0 = np.deg2rad(centre[0]), np.deg2rad(centre[1])
    c = np.array([np.cos(d0) * np.cos(a0), np.cos(d0) * np.sin(a0), np.sin(d0)])
    east = np.array([-np.sin(a0), np.cos(a0), 0.0])
    north = np.array([-np.sin(d0) * np.cos(a0), -np.sin(d0) * np.sin(a0), np.cos(d0)])
    p = _unit(lon, lat)
    cos_dist = p @ c
    return p @ east, p @ north, cos_dist


def _project(out, lon, lat, centre):
    """0-based pixel positions of sky points on the (provisional) output WCS."""
    _, _, cos_dist = _tangent_plane(lon, lat, centre)
    if cos_dist.min() < math.cos(math.radians(MAX_FIELD_RADIUS)):
        far = math.degrees(math.acos(max(-1.0, float(cos_dist.min()))))
        raise InputError(
            f"the inputs reach {far:.1f} deg from the grid centre {centre}; a TAN grid "
            f"is limited to {MAX_FIELD_RADIUS:.0f} deg (mosaic them on several grids)"
        )
    world = np.zeros((lon.size, 2))
    world[:, 0], world[:, 1] = lon, lat
    pix = out.wcs_world2pix(world, 0)
    return pix[:, 0], pix[:, 1]


def _tan_wcs(template, lngtyp, lattyp, centre, scale_deg, rotation):
    """A TAN WCS (CRPIX 1, 1) at ``centre``: +y at position angle ``rotation``, east left."""
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        w = WCS(naxis=2)
    t = math.radians(rotation)
    w.wcs.ctype = [lngtyp.ljust(4, "-") + "-TAN", lattyp.ljust(4, "-") + "-TAN"]
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.crval = list(centre)
    w.wcs.crpix = [1.0, 1.0]
    w.wcs.cdelt = [-scale_deg, scale_deg]
    # CD = cdelt * PC = s * [[-cos t, sin t], [sin t, cos t]] (xi east, eta north).
    w.wcs.pc = [[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]
    tw = template.wcs
    if lngtyp == "RA":
        if tw.radesys:
            w.wcs.radesys = tw.radesys
        if np.isfinite(tw.equinox):
            w.wcs.equinox = tw.equinox
    w.wcs.set()
    return w


def _centre_pixel_scale(w, shape):
    """Pixel scale (arcsec) at the input's centre: sqrt|det J| of its full transform."""
    ny, nx = shape
    cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
    h = 0.5
    x = np.array([cx, cx + h, cx - h, cx, cx])
    y = np.array([cy, cy, cy, cy + h, cy - h])
    lon, lat = _world(w, x, y)
    xi, eta, _ = _tangent_plane(lon, lat, (lon[0], lat[0]))
    jac = np.array(
        [
            [xi[1] - xi[2], xi[3] - xi[4]],
            [eta[1] - eta[2], eta[3] - eta[4]],
        ]
    ) / (2 * h)
    scale = math.degrees(math.sqrt(abs(np.linalg.det(jac)))) * 3600.0
    if not (math.isfinite(scale) and scale > 0):
        raise InputError("an input WCS has a degenerate pixel scale at its centre")
    return scale


# -- headers -----------------------------------------------------------------------------


def wcs_to_header(wcs):
    """The WCS keywords of ``wcs`` as an ``astropy.io.fits.Header`` (SIP kept, full precision).

    Numbers are written with 17 significant digits, so reading the header back
    gives the same WCS exactly. Lookup-table distortions cannot live in a
    header and are refused.
    """
    from astropy.wcs import WCSHDO_P17, WCSHDO_all
    from astropy.wcs.wcs import WCSHDO_SIP

    for name in ("cpdis1", "cpdis2", "det2im1", "det2im2"):
        if getattr(wcs, name, None) is not None:
            raise InputError("the WCS has lookup-table distortion, which a FITS header cannot hold")
    return wcs.to_header(relax=WCSHDO_all | WCSHDO_P17 | WCSHDO_SIP)


def wcs_to_header_string(wcs) -> str:
    """The FITS header string (80-character cards) of ``wcs``, with NAXIS1/2 when known.

    ``wcs_from_header_string`` reads it back to an equal WCS with the same array shape.
    """
    header = wcs_to_header(wcs)
    if wcs.pixel_shape is not None:
        nx, ny = (int(v) for v in wcs.pixel_shape)
        header.insert(0, ("NAXIS", 2, "number of array dimensions"))
        header.insert(1, ("NAXIS1", nx))
        header.insert(2, ("NAXIS2", ny))
    return header.tostring()


def wcs_from_header_string(s, shape=None):
    """A WCS from a header string (80-character cards, or one card per line).

    The array shape comes from ``shape`` (ny, nx) when given, else NAXIS1/2
    when the header has them.
    """
    from astropy.io import fits

    if not isinstance(s, str):
        raise InputTypeError(f"expected a header string, got {type(s).__name__}")
    try:
        header = fits.Header.fromstring(s, sep="\n" if "\n" in s else "")
    except Exception as exc:  # astropy raises several types for malformed cards
        raise InputError(f"cannot parse the WCS header string: {exc}") from None
    w = _celestial_wcs(header, "the WCS header string")
    if shape is not None:
        w.array_shape = tuple(int(v) for v in shape)
    else:
        axes = _header_shape(header)
        if axes is not None:
            w.array_shape = axes
    return w


def wcs_from_header_file(path):
    """A WCS (array shape from NAXIS1/NAXIS2) read from a FITS file or a text header.

    A FITS file (possibly gzipped) gives the header of its primary HDU when that
    holds an image or a WCS, else of its first image extension; lookup-table
    distortions in the file are read too. A text file holds one card per line
    (as ``Header.totextfile`` writes) or 80-character cards in a row (as
    ``wcs_to_header_string`` gives). When NAXISn are absent, WCSNAXn are used.
    """
    from astropy.io import fits
    from astropy.io.fits.verify import VerifyWarning

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"WCS header file {path!r} not found")
    what = f"WCS header file {path!r}"
    try:
        if _looks_like_fits(path):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", VerifyWarning)
                with fits.open(path) as hdul:
                    hdu = _header_hdu(hdul)
                    if hdu is None:
                        raise InputError(f"{what}: no image HDU with a WCS in the file")
                    header = hdu.header.copy()
                    w = _celestial_wcs(header, what, fobj=hdul)
        else:
            with open(path, encoding="ascii", errors="replace") as f:
                text = f.read()
            # One card per line (Header.totextfile) or 80-character cards in a row.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # malformed cards warn before they raise
                try:
                    header = fits.Header.fromstring(text, sep="\n" if "\n" in text.strip() else "")
                except Exception as exc:  # astropy raises several types for bad cards
                    raise InputError(f"not a FITS header ({exc})") from None
            w = _celestial_wcs(header, what)
    except ValueError as exc:
        if str(exc).startswith(what):
            raise
        raise InputError(f"{what}: unreadable ({exc})") from None
    except OSError as exc:
        raise InputError(f"{what}: unreadable ({exc})") from None
    shape = _header_shape(header)
    if shape is None:
        raise InputError(f"{what}: no NAXIS1/NAXIS2 (array shape) in the header")
    w.array_shape = shape
    return w


def _looks_like_fits(path):
    with open(path, "rb") as f:
        start = f.read(2880)
    if start[:2] == b"\x1f\x8b":  # gzip
        return True
    return start.startswith(b"SIMPLE  =") and b"\n" not in start


def _header_hdu(hdul):
    from astropy.io import fits

    for k, hdu in enumerate(hdul):
        if k > 0 and not isinstance(hdu, fits.ImageHDU | fits.CompImageHDU):
            continue
        h = hdu.header
        if h.get("NAXIS", 0) >= 2 or "CTYPE1" in h:
            return hdu
    return None


def _celestial_wcs(header, what, fobj=None):
    return read_celestial_wcs(header, what, fobj=fobj)


_UNREADABLE_VALUE = "value was expected"
"""How astropy's FITSFixedWarning says it could not read a keyword's value (it then uses
the keyword's default, e.g. CDELT = 1 degree, silently changing the transform)."""


def read_celestial_wcs(
    header, what, fobj=None, error=InputError,
    missing="the WCS is missing or not a 2-D celestial WCS",
):  # fmt: skip
    """The 2-D celestial WCS of ``header``; ``error`` (naming ``what`` and the keyword)
    when it is missing, unusable, or when astropy could not read a keyword's value.

    The standard fixes wcslib applies (dates, units, RADECSYS) stay silent; a value it
    had to replace by a default is refused, because that changes the transform.
    """
    from astropy.wcs import WCS, FITSFixedWarning

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FITSFixedWarning)
            w = WCS(header, fobj=fobj)
    except Exception as exc:  # astropy raises many types for bad WCS keywords
        raise error(f"{what}: unusable WCS ({exc})") from None
    for warning in caught:
        text = str(warning.message)
        if issubclass(warning.category, FITSFixedWarning) and _UNREADABLE_VALUE in text:
            card = " ".join(text.split())
            keyword = card.split("=")[0].strip() or "a keyword"
            raise error(f"{what}: the header keyword {keyword} cannot be read ({card})")
    if w.naxis != 2 or not w.has_celestial:
        raise error(f"{what}: {missing}")
    return w


def _header_shape(header):
    """(ny, nx) from NAXIS1/2 (or WCSNAX1/2), None when absent."""
    for key in ("NAXIS", "WCSNAX"):
        nx, ny = header.get(f"{key}1"), header.get(f"{key}2")
        if isinstance(nx, int) and isinstance(ny, int) and nx > 0 and ny > 0:
            return (ny, nx)
    return None
