"""Numba kernels for blot: sample an input image at the positions given by a pixel map.

Blot is the inverse of drizzle: every *output* pixel ``(i, j)`` looks up its
position ``pixmap[j, i] = (x, y)`` in the *input* image (0-based pixel
coordinates, pixel centres on integers) and receives the input image
interpolated there, multiplied by a constant ``scale``.  Nothing is spread
over areas, so blot is **not** flux conserving: use ``scale`` to convert units
(e.g. surface brightness to counts per pixel).

A position is "on the input" when ``0 <= x < nx`` and ``0 <= y < ny`` after the
coordinate has been rounded to float32 (as the reference C core does); any
other position, and a NaN position, gives ``fillval`` (not scaled).

Every arithmetic step of the reference interpolators (``cdrizzleblot.c`` of
``drizzle`` 3.0) is done in the same precision and order, so results agree to
the last bit, except in two places where the reference reads memory it does
not own (see :func:`_nearest_at` and :func:`_fill_poly_window`).  ``"sinc"``
is not in drizzle 3.0; it follows the legacy drizzle / IRAF 15-tap sinc.

Tiling
------
:func:`blot_region` fills a rectangle of the output grid.  The input may be
any rectangular block of the full input image (a tile plus a halo): the block
origin and the full input shape are passed separately, so border handling is
that of the full image.  :data:`FOOTPRINT` gives, per interpolator, how far the
pixels a point reads extend around ``floor(x)``; the kernel raises
``IndexError`` rather than read outside the block it was given.

Implementation notes: array elements are addressed through :func:`_px` with
unsigned indices (all indices are non-negative), which spares Numba's
negative-index wrap-around code in the inner loops.
"""

import math

import numpy as np

from ._jit import jit, jit_inline, round_half_away
from .lanczos import LANCZOS_LUT_STEP

# Interpolator codes understood by :func:`blot_region`.
NEAREST = 0
LINEAR = 1
POLY3 = 2
POLY5 = 3
LANCZOS3 = 4
LANCZOS5 = 5
SINC = 6

SINC_HALF_WIDTH = 7
"""The sinc interpolant uses ``2 * 7 + 1 = 15`` taps per axis (legacy drizzle ``nconv``)."""

FOOTPRINT = {
    NEAREST: (0, 1),
    LINEAR: (0, 1),
    POLY3: (2, 2),
    POLY5: (3, 3),
    # floor(x - a) + 1 .. floor(x + a); float32 rounding of x + a can add one.
    LANCZOS3: (2, 4),
    LANCZOS5: (4, 6),
    # round(x) -/+ 7
    SINC: (SINC_HALF_WIDTH, SINC_HALF_WIDTH + 1),
}
"""Per interpolator ``(before, after)``: a point at ``x`` reads input pixels in
``[floor(x) - before, floor(x) + after]`` (clipped to the image), same in ``y``."""

SINC_EXACT_TOLERANCE = 0.001
"""Sinc returns the nearest pixel when both scaled offsets are below this."""

# float32 constants: the polynomial interpolants run in single precision
# exactly as the reference's ``float`` code does.
_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F2 = np.float32(2.0)
_F3 = np.float32(3.0)
_F4 = np.float32(4.0)
_F6 = np.float32(6.0)
_M1 = np.float32(-1.0)
_SIXTH = np.float32(1.0) / np.float32(6.0)
_ONE_120TH = np.float32(1.0) / np.float32(120.0)


def sinc_taper():
    """Signed taper of the 15-tap sinc interpolant, index ``k + 7`` for offset ``k``.

    ``(-1)**k * (1 + a2 u + a4 u**2)**2`` with ``u = (pi / 2 / 7)**2 k**2`` (the
    IRAF/legacy drizzle polynomial approximation of a cosine bell); the sign
    carries the alternation of ``sin(pi (dx - k))`` so that the sinc weight of
    offset ``k`` is ``taper[k] / (k - dx)`` up to a common factor.
    """
    a2 = -0.49670
    a4 = 0.03705
    sconst = (0.5 * math.pi / SINC_HALF_WIDTH) ** 2
    k = np.arange(-SINC_HALF_WIDTH, SINC_HALF_WIDTH + 1, dtype=np.float64)
    u = sconst * k * k
    sign = np.where(k % 2 == 0, 1.0, -1.0)
    return sign * (1.0 + a2 * u + a4 * u * u) ** 2


@jit
def _px(a, r, c):
    """``a[r, c]`` for non-negative ``r, c`` (unsigned: no wrap-around code)."""
    return a[np.uint64(r), np.uint64(c)]


# ---------------------------------------------------------------------------
# Point interpolants.  ``data`` is a block of the input whose element [0, 0] is
# input pixel (ox, oy); (nx, ny) is the shape of the FULL input image.
# (x, y) are float32 with 0 <= x < nx, 0 <= y < ny.


@jit
def _nearest_at(data, ox, oy, nx, ny, x, y):
    """Value of the input pixel whose centre is nearest to (x, y).

    ``int(x + 0.5)`` (halves go up).  For ``x >= nx - 0.5`` this is ``nx``, one
    past the last column: the reference then reads beyond the row (the first
    pixel of the next row, or memory past the array on the last row).  Here the
    index is clipped to the last column/row, the pixel actually nearest.
    """
    ix = min(int(np.float64(x) + 0.5), nx - 1)
    iy = min(int(np.float64(y) + 0.5), ny - 1)
    return _px(data, iy - oy, ix - ox)


@jit
def _linear_at(data, ox, oy, nx, ny, x, y):
    """Bilinear interpolation; on the last column/row only the other axis is interpolated."""
    ix = int(x)
    iy = int(y)
    r = iy - oy
    c = ix - ox
    f00 = _px(data, r, c)
    if ix < nx - 1 and iy < ny - 1:
        sx = x - np.float32(ix)
        tx = _F1 - sx
        sy = y - np.float32(iy)
        ty = _F1 - sy
        return (
            tx * ty * f00
            + sx * ty * _px(data, r, c + 1)
            + sy * tx * _px(data, r + 1, c)
            + sx * sy * _px(data, r + 1, c + 1)
        )
    if ix < nx - 1:  # last row: along x only
        sx = x - np.float32(ix)
        return (_F1 - sx) * f00 + sx * _px(data, r, c + 1)
    if iy < ny - 1:  # last column: along y only
        sy = y - np.float32(iy)
        return (_F1 - sy) * f00 + sy * _px(data, r + 1, c)
    return f00


# --- poly3 / poly5 -------------------------------------------------------------


@jit
def _load_row_reflected(data, ox, oy, nx, row, col0, ncol, win, win_row):
    """Copy input pixels ``[row, col0 : col0 + ncol]`` into ``win[win_row]``.

    Columns left of 0 or right of ``nx - 1`` are odd reflections about the edge
    pixel, ``2 f(edge) - f(mirror)``, which continue the data linearly.
    """
    r = row - oy
    for k in range(ncol):
        c = col0 + k
        if c < 0:
            v = _F2 * _px(data, r, -ox) - _px(data, r, min(-c, nx - 1) - ox)
        elif c >= nx:
            v = _F2 * _px(data, r, nx - 1 - ox) - _px(data, r, max(2 * nx - 2 - c, 0) - ox)
        else:
            v = _px(data, r, c - ox)
        win[win_row, k] = v


@jit
def _reflect_row(win, dst, edge, mirror, n):
    """``win[dst] = 2 win[edge] - win[mirror]`` (odd reflection of a window row)."""
    for k in range(n):
        win[dst, k] = win[edge, k] * _F2 + win[mirror, k] * _M1


@jit
def _fill_poly_window(data, ox, oy, nx, ny, ix, iy, half, win):
    """The ``n x n`` (``n = 2 half``) neighbourhood of pixel (ix, iy) for poly3/poly5.

    Rows/columns ``i - half + 1 .. i + half``; beyond the image the data are
    continued by odd reflection about the edge pixel, with the reference's
    quirks:

    * poly5: when the top window row lies above the image it is *not*
      reflected but copied from input row ``ny - 4`` (reproduced);
    * poly3: on the last input row the reference reflects the top window row
      about the last row using a window row that does not exist (it reads
      uninitialised stack memory, giving arbitrary values).  Here the intended
      mirror row, input row ``iy - 2``, is used.
    * a window row reflected onto itself still goes through ``2 v - v``.

    ``win`` needs ``n + 1`` rows (the last is scratch).  Tiny images (< 4
    pixels a side) have their reflection indices clipped instead of reading out
    of bounds as the reference does.
    """
    n = 2 * half
    top = n - 1
    row0 = iy - half + 1
    col0 = ix - half + 1
    for r in range(n):
        row = row0 + r
        if 0 <= row < ny:
            _load_row_reflected(data, ox, oy, nx, row, col0, n, win, r)
        elif r == top and half == 3:
            _load_row_reflected(data, ox, oy, nx, max(ny - 4, 0), col0, n, win, r)
        else:  # set below by reflection (zeroed only so tiny images stay deterministic)
            win[r, :n] = _F0

    # rows below the image: reflect about the first image row
    first = max(0, half - 1 - iy)
    if first > 0:
        stop = first if half == 2 else first + 1
        for r in range(stop):
            _reflect_row(win, r, first, 2 * first - r, n)

    # rows above the image: reflect about the last image row
    last = min(top, ny - 1 - iy + half - 1)
    if last < top:
        stop = top if half == 2 else top - 1
        for r in range(last + 1, stop + 1):
            mirror = 2 * last - r
            if mirror >= 0:
                _reflect_row(win, r, last, mirror, n)
            else:  # poly3 on the last input row (see above)
                _load_row_reflected(data, ox, oy, nx, max(row0 + mirror, 0), col0, n, win, n)
                _reflect_row(win, r, last, n, n)
    else:
        _reflect_row(win, top, top, top, n)


@jit
def _top_row_noop(v):
    """``2 v - v``: the reference "reflects" an in-image top window row onto itself.

    An identity for finite ``|v| <= FLT_MAX / 2``; kept so that infinities and
    huge values become NaN/inf exactly as in the reference.
    """
    return v * _F2 + v * _M1


@jit
def _everett3(c0, c1, c2, c3, s, t, s2m1, t2m1):
    """Cubic (Everett) interpolation between c1 and c2 at fraction s (t = 1 - s)."""
    cd20 = _SIXTH * (c2 - _F2 * c1 + c0)
    cd21 = _SIXTH * (c3 - _F2 * c2 + c1)
    return s * (c2 + s2m1 * cd21) + t * (c1 + t2m1 * cd20)


@jit
def _everett5(c0, c1, c2, c3, c4, c5, s, t, s2m1, t2m1, s2m4, t2m4):
    """Quintic (Everett) interpolation between c2 and c3 at fraction s (t = 1 - s)."""
    cd20 = _SIXTH * (c3 - _F2 * c2 + c1)
    cd21 = _SIXTH * (c4 - _F2 * c3 + c2)
    cd40 = _ONE_120TH * (c0 - _F4 * c1 + _F6 * c2 - _F4 * c3 + c4)
    cd41 = _ONE_120TH * (c1 - _F4 * c2 + _F6 * c3 - _F4 * c4 + c5)
    return s * (c3 + s2m1 * (cd21 + s2m4 * cd41)) + t * (c2 + t2m1 * (cd20 + t2m4 * cd40))


@jit
def _poly3_row(src, r, c, sx, tx, sx2m1, tx2m1, reflect):
    """Cubic interpolation along row ``r`` of ``src[:, c:c + 4]`` (``reflect``: ``2v - v``)."""
    v0 = _px(src, r, c)
    v1 = _px(src, r, c + 1)
    v2 = _px(src, r, c + 2)
    v3 = _px(src, r, c + 3)
    if reflect:
        v0 = _top_row_noop(v0)
        v1 = _top_row_noop(v1)
        v2 = _top_row_noop(v2)
        v3 = _top_row_noop(v3)
    return _everett3(v0, v1, v2, v3, sx, tx, sx2m1, tx2m1)


@jit_inline
def _poly3_eval(src, r, c, sx, sy, reflect_top):
    """Everett bicubic on ``src[r:r + 4, c:c + 4]`` at fractions (sx, sy) from ``[r + 1, c + 1]``.

    ``reflect_top``: the top row goes through ``2 v - v`` first (see :func:`_top_row_noop`).
    """
    tx = _F1 - sx
    sx2m1 = sx * sx - _F1
    tx2m1 = tx * tx - _F1
    ty = _F1 - sy
    z0 = _poly3_row(src, r, c, sx, tx, sx2m1, tx2m1, False)
    z1 = _poly3_row(src, r + 1, c, sx, tx, sx2m1, tx2m1, False)
    z2 = _poly3_row(src, r + 2, c, sx, tx, sx2m1, tx2m1, False)
    z3 = _poly3_row(src, r + 3, c, sx, tx, sx2m1, tx2m1, reflect_top)
    return _everett3(z0, z1, z2, z3, sy, ty, sy * sy - _F1, ty * ty - _F1)


@jit
def _poly5_row(src, r, c, sx, tx, sx2m1, tx2m1, sx2m4, tx2m4, reflect):
    """Quintic interpolation along row ``r`` of ``src[:, c:c + 6]`` (``reflect``: ``2v - v``)."""
    v0 = _px(src, r, c)
    v1 = _px(src, r, c + 1)
    v2 = _px(src, r, c + 2)
    v3 = _px(src, r, c + 3)
    v4 = _px(src, r, c + 4)
    v5 = _px(src, r, c + 5)
    if reflect:
        v0 = _top_row_noop(v0)
        v1 = _top_row_noop(v1)
        v2 = _top_row_noop(v2)
        v3 = _top_row_noop(v3)
        v4 = _top_row_noop(v4)
        v5 = _top_row_noop(v5)
    return _everett5(v0, v1, v2, v3, v4, v5, sx, tx, sx2m1, tx2m1, sx2m4, tx2m4)


@jit_inline
def _poly5_eval(src, r, c, sx, sy, reflect_top):
    """Everett biquintic on ``src[r:r + 6, c:c + 6]`` at fractions (sx, sy) from ``[r + 2, c + 2]``.

    ``reflect_top``: the top row goes through ``2 v - v`` first (see :func:`_top_row_noop`).
    """
    tx = _F1 - sx
    sx2 = sx * sx
    tx2 = tx * tx
    sx2m1 = sx2 - _F1
    sx2m4 = sx2 - _F4
    tx2m1 = tx2 - _F1
    tx2m4 = tx2 - _F4
    ty = _F1 - sy
    sy2 = sy * sy
    ty2 = ty * ty
    z0 = _poly5_row(src, r, c, sx, tx, sx2m1, tx2m1, sx2m4, tx2m4, False)
    z1 = _poly5_row(src, r + 1, c, sx, tx, sx2m1, tx2m1, sx2m4, tx2m4, False)
    z2 = _poly5_row(src, r + 2, c, sx, tx, sx2m1, tx2m1, sx2m4, tx2m4, False)
    z3 = _poly5_row(src, r + 3, c, sx, tx, sx2m1, tx2m1, sx2m4, tx2m4, False)
    z4 = _poly5_row(src, r + 4, c, sx, tx, sx2m1, tx2m1, sx2m4, tx2m4, False)
    z5 = _poly5_row(src, r + 5, c, sx, tx, sx2m1, tx2m1, sx2m4, tx2m4, reflect_top)
    return _everett5(z0, z1, z2, z3, z4, z5, sy, ty, sy2 - _F1, ty2 - _F1, sy2 - _F4, ty2 - _F4)


# --- Lanczos -------------------------------------------------------------------


@jit
def _floor_int(v):
    """``floor(v)`` as an int (exact for float32 ``v``), without a libm call."""
    k = int(v)
    return k - 1 if v < k else k


# --- sinc ----------------------------------------------------------------------


@jit
def _sinc_weights(d, taper, w):
    """Unnormalised sinc weights ``taper[k] / (k - d)`` for offsets ``k = -7..7``; their sum.

    A zero distance gives weight 1; ``d == 0`` gives a pure delta (legacy rules).
    """
    total = 0.0
    for m in range(2 * SINC_HALF_WIDTH + 1):
        a = np.float64(m - SINC_HALF_WIDTH) - d
        if a == 0.0:
            p = 1.0
        elif d == 0.0:
            p = 0.0
        else:
            p = taper[m] / a
        w[m] = p
        total += p
    return total


@jit
def _sinc_at(data, ox, oy, nx, ny, x, y, sinscl, taper, wx, wy):
    """Tapered 15x15 sinc interpolation around the nearest pixel, double precision.

    ``(dx, dy) = (x - round(x), y - round(y)) * sinscl``; if both are below
    0.001 the nearest pixel is returned.  Otherwise the separable weights of
    :func:`_sinc_weights` are applied to the neighbourhood, pixels beyond the
    image border being replaced by the nearest edge pixel, and the result is
    divided by the sums of the x and of the y weights.  (The legacy C port
    returned 0 for ``round(x) == nx``; here the edge pixel is used.)
    """
    cx = round_half_away(x)
    cy = round_half_away(y)
    dx = (np.float64(x) - cx) * sinscl
    dy = (np.float64(y) - cy) * sinscl
    if abs(dx) < SINC_EXACT_TOLERANCE and abs(dy) < SINC_EXACT_TOLERANCE:
        return _px(data, min(cy, ny - 1) - oy, min(cx, nx - 1) - ox)
    sumx = _sinc_weights(dx, taper, wx)
    sumy = _sinc_weights(dy, taper, wy)
    total = 0.0
    for m in range(2 * SINC_HALF_WIDTH + 1):
        r = min(max(cy + m - SINC_HALF_WIDTH, 0), ny - 1) - oy
        acc = 0.0
        for k in range(2 * SINC_HALF_WIDTH + 1):
            c = min(max(cx + k - SINC_HALF_WIDTH, 0), nx - 1) - ox
            acc += wx[k] * _px(data, r, c)
        total += wy[m] * acc
    return np.float32(total / sumx / sumy)


# ---------------------------------------------------------------------------
# One loop per interpolator over the output rectangle, so that each compiles
# to a tight loop around its own (inlined) point interpolant.


@jit
def _position(pixmap, j, i, nxf, nyf):
    """float32 (x, y) of output pixel (i, j) and whether it lies on the input image."""
    x = np.float32(pixmap[np.uint64(j), np.uint64(i), 0])
    y = np.float32(pixmap[np.uint64(j), np.uint64(i), 1])
    inside = x >= _F0 and x < nxf and y >= _F0 and y < nyf  # False for NaN
    return x, y, inside


@jit
def _store(out, j, i, v):
    out[np.uint64(j), np.uint64(i)] = v


@jit
def _is_whole_image(data, ox, oy, nx, ny):
    return ox == 0 and oy == 0 and data.shape[1] == nx and data.shape[0] == ny


@jit
def _check_footprint(data, ox, oy, nx, ny, x, y, before, after):
    """Raise unless ``data`` holds every input pixel that a point at (x, y) may read."""
    ix = int(x)
    iy = int(y)
    if (
        max(ix - before, 0) < ox
        or min(ix + after, nx - 1) >= ox + data.shape[1]
        or max(iy - before, 0) < oy
        or min(iy + after, ny - 1) >= oy + data.shape[0]
    ):
        raise IndexError("blot: the input block does not cover the interpolation footprint")


@jit
def _loop_nearest(data, ox, oy, nx, ny, pixmap, out, x0, x1, y0, y1, scale, fillval):
    check = not _is_whole_image(data, ox, oy, nx, ny)
    nxf = np.float32(nx)
    nyf = np.float32(ny)
    nmiss = 0
    for j in range(y0, y1):
        for i in range(x0, x1):
            x, y, inside = _position(pixmap, j, i, nxf, nyf)
            if not inside:
                _store(out, j, i, fillval)
                nmiss += 1
                continue
            if check:
                _check_footprint(data, ox, oy, nx, ny, x, y, 0, 1)
            _store(out, j, i, _nearest_at(data, ox, oy, nx, ny, x, y) * scale)
    return nmiss


@jit
def _loop_linear(data, ox, oy, nx, ny, pixmap, out, x0, x1, y0, y1, scale, fillval):
    check = not _is_whole_image(data, ox, oy, nx, ny)
    nxf = np.float32(nx)
    nyf = np.float32(ny)
    nmiss = 0
    for j in range(y0, y1):
        for i in range(x0, x1):
            x, y, inside = _position(pixmap, j, i, nxf, nyf)
            if not inside:
                _store(out, j, i, fillval)
                nmiss += 1
                continue
            if check:
                _check_footprint(data, ox, oy, nx, ny, x, y, 0, 1)
            _store(out, j, i, _linear_at(data, ox, oy, nx, ny, x, y) * scale)
    return nmiss


@jit
def _poly_fraction(x, ix, h):
    """Offset ``x - ix`` formed as ``(h + (x - ix)) - h`` in float32, as the reference.

    (The reference evaluates the polynomial at ``h + frac`` in a window, which
    rounds the offset to a multiple of 2**-22.)
    """
    return (h + (x - np.float32(ix))) - h


@jit
def _loop_poly3(data, ox, oy, nx, ny, pixmap, out, x0, x1, y0, y1, scale, fillval):
    """Bicubic interpolating polynomial (Everett central differences, float32).

    Points whose 4x4 window lies in the image are evaluated straight from
    ``data``; the others from a reflected copy (:func:`_fill_poly_window`).
    """
    check = not _is_whole_image(data, ox, oy, nx, ny)
    nxf = np.float32(nx)
    nyf = np.float32(ny)
    win = np.empty((5, 4), dtype=np.float32)  # window + one scratch row
    nmiss = 0
    for j in range(y0, y1):
        for i in range(x0, x1):
            x, y, inside = _position(pixmap, j, i, nxf, nyf)
            if not inside:
                _store(out, j, i, fillval)
                nmiss += 1
                continue
            if check:
                _check_footprint(data, ox, oy, nx, ny, x, y, 2, 2)
            ix = int(x)
            iy = int(y)
            sx = _poly_fraction(x, ix, _F2)
            sy = _poly_fraction(y, iy, _F2)
            if ix >= 1 and ix + 2 < nx and iy >= 1 and iy + 2 < ny:
                v = _poly3_eval(data, iy - 1 - oy, ix - 1 - ox, sx, sy, True)
            else:
                _fill_poly_window(data, ox, oy, nx, ny, ix, iy, 2, win)
                v = _poly3_eval(win, 0, 0, sx, sy, False)
            _store(out, j, i, v * scale)
    return nmiss


@jit
def _loop_poly5(data, ox, oy, nx, ny, pixmap, out, x0, x1, y0, y1, scale, fillval):
    """Biquintic interpolating polynomial (Everett central differences, float32).

    As :func:`_loop_poly3` with a 6x6 window.
    """
    check = not _is_whole_image(data, ox, oy, nx, ny)
    nxf = np.float32(nx)
    nyf = np.float32(ny)
    win = np.empty((7, 6), dtype=np.float32)  # window + one scratch row
    nmiss = 0
    for j in range(y0, y1):
        for i in range(x0, x1):
            x, y, inside = _position(pixmap, j, i, nxf, nyf)
            if not inside:
                _store(out, j, i, fillval)
                nmiss += 1
                continue
            if check:
                _check_footprint(data, ox, oy, nx, ny, x, y, 3, 3)
            ix = int(x)
            iy = int(y)
            sx = _poly_fraction(x, ix, _F3)
            sy = _poly_fraction(y, iy, _F3)
            if ix >= 2 and ix + 3 < nx and iy >= 2 and iy + 3 < ny:
                v = _poly5_eval(data, iy - 2 - oy, ix - 2 - ox, sx, sy, True)
            else:
                _fill_poly_window(data, ox, oy, nx, ny, ix, iy, 3, win)
                v = _poly5_eval(win, 0, 0, sx, sy, False)
            _store(out, j, i, v * scale)
    return nmiss


@jit
def _lanczos_box(x, a, n):
    """First tap and tap count along one axis: ``floor(x - a) + 1 .. floor(x + a)`` clipped."""
    lo = max(_floor_int(x - a) + 1, 0)
    hi = min(_floor_int(x + a), n - 1)
    return lo, hi + 1 - lo


@jit_inline
def _lanczos_weights(coord, lo, count, lut, w, row):
    """``w[row, t] = lut[int(|coord - (lo + t)| / 0.003)]`` for ``t < count`` (double).

    Table indices never exceed ``a / 0.003 + 1`` (< table length) but are
    clipped so that no read can leave the table.
    """
    last = lut.shape[0] - 1
    cd = np.float64(coord)
    for t in range(count):
        k = min(int(abs((cd - np.float64(lo + t)) / LANCZOS_LUT_STEP)), last)
        w[np.uint64(row), np.uint64(t)] = lut[np.uint64(k)]


@jit
def _lanczos_one(data, ox, oy, nx, ny, x, y, order, lut, w):
    """Lanczos value at one point: ``sum_j sum_i f[j, i] wx[i] wy[j]`` in the reference's order."""
    a = np.float32(order)
    c0, ncol = _lanczos_box(x, a, nx)
    r0, nrow = _lanczos_box(y, a, ny)
    _lanczos_weights(x, c0, ncol, lut, w, 0)
    _lanczos_weights(y, r0, nrow, lut, w, 1)
    total = 0.0
    for r in range(nrow):
        wy = w[1, np.uint64(r)]
        for c in range(ncol):
            total += np.float64(_px(data, r0 + r - oy, c0 + c - ox)) * w[0, np.uint64(c)] * wy
    return np.float32(total)


@jit
def _loop_lanczos(data, ox, oy, nx, ny, pixmap, out, x0, x1, y0, y1, scale, fillval, order, lut):
    """Lanczos interpolation from the tabulated kernel (nearest-below table entry).

    For a point (x, y) with ``a`` the order: taps ``floor(x - a) + 1 <= i <=
    floor(x + a)`` (float32 arithmetic) clipped to the image, weight
    ``lut[int(|x - i| / 0.003)]`` (double), same in y; the value is
    ``sum_j sum_i f[j, i] * wx[i] * wy[j]`` accumulated in double in the
    reference's order, with no renormalisation at the image border.

    Speed: two neighbouring output pixels with equal tap-box sizes (the usual
    case) are summed together, each in its own order (so bit-identical), which
    gives the CPU two independent addition chains.
    """
    check = not _is_whole_image(data, ox, oy, nx, ny)
    nxf = np.float32(nx)
    nyf = np.float32(ny)
    a = np.float32(order)
    w = np.empty((4, 2 * order + 2), dtype=np.float64)  # wx, wy of pixel A; wx, wy of B
    nmiss = 0
    for j in range(y0, y1):
        i = x0
        while i < x1:
            xa, ya, inside = _position(pixmap, j, i, nxf, nyf)
            if not inside:
                _store(out, j, i, fillval)
                nmiss += 1
                i += 1
                continue
            if check:
                _check_footprint(data, ox, oy, nx, ny, xa, ya, order - 1, order + 1)
            if i + 1 < x1:
                xb, yb, inside = _position(pixmap, j, i + 1, nxf, nyf)
                if inside:
                    ca, ncol = _lanczos_box(xa, a, nx)
                    ra, nrow = _lanczos_box(ya, a, ny)
                    cb, ncol_b = _lanczos_box(xb, a, nx)
                    rb, nrow_b = _lanczos_box(yb, a, ny)
                    if ncol_b == ncol and nrow_b == nrow:
                        if check:
                            _check_footprint(data, ox, oy, nx, ny, xb, yb, order - 1, order + 1)
                        _lanczos_weights(xa, ca, ncol, lut, w, 0)
                        _lanczos_weights(ya, ra, nrow, lut, w, 1)
                        _lanczos_weights(xb, cb, ncol, lut, w, 2)
                        _lanczos_weights(yb, rb, nrow, lut, w, 3)
                        ta = 0.0
                        tb = 0.0
                        for r in range(nrow):
                            wya = w[1, np.uint64(r)]
                            wyb = w[3, np.uint64(r)]
                            for c in range(ncol):
                                ta += (
                                    np.float64(_px(data, ra + r - oy, ca + c - ox))
                                    * w[0, np.uint64(c)]
                                    * wya
                                )
                                tb += (
                                    np.float64(_px(data, rb + r - oy, cb + c - ox))
                                    * w[2, np.uint64(c)]
                                    * wyb
                                )
                        _store(out, j, i, np.float32(ta) * scale)
                        _store(out, j, i + 1, np.float32(tb) * scale)
                        i += 2
                        continue
            v = _lanczos_one(data, ox, oy, nx, ny, xa, ya, order, lut, w)
            _store(out, j, i, v * scale)
            i += 1
    return nmiss


@jit
def _loop_sinc(data, ox, oy, nx, ny, pixmap, out, x0, x1, y0, y1, scale, fillval, taper, sinscl):
    check = not _is_whole_image(data, ox, oy, nx, ny)
    nxf = np.float32(nx)
    nyf = np.float32(ny)
    wx = np.empty(2 * SINC_HALF_WIDTH + 1, dtype=np.float64)
    wy = np.empty(2 * SINC_HALF_WIDTH + 1, dtype=np.float64)
    nmiss = 0
    for j in range(y0, y1):
        for i in range(x0, x1):
            x, y, inside = _position(pixmap, j, i, nxf, nyf)
            if not inside:
                _store(out, j, i, fillval)
                nmiss += 1
                continue
            if check:
                _check_footprint(data, ox, oy, nx, ny, x, y, SINC_HALF_WIDTH, SINC_HALF_WIDTH + 1)
            v = _sinc_at(data, ox, oy, nx, ny, x, y, sinscl, taper, wx, wy)
            _store(out, j, i, v * scale)
    return nmiss


@jit
def blot_region(
    data,
    in_x0,
    in_y0,
    in_nx,
    in_ny,
    pixmap,
    out,
    x0,
    x1,
    y0,
    y1,
    method,
    scale,
    fillval,
    table,
    sinscl,
):
    """Blot output pixels ``out[y0:y1, x0:x1]`` from the pixel map ``pixmap[y0:y1, x0:x1]``.

    Parameters
    ----------
    data : 2-D float32 array
        Block of the input image; ``data[0, 0]`` is input pixel
        ``(in_x0, in_y0)`` (x = column).  It must contain every pixel the
        interpolator reads (see :data:`FOOTPRINT`), else ``IndexError``.
    in_x0, in_y0 : int
        Origin of ``data`` in the full input image.
    in_nx, in_ny : int
        Shape (columns, rows) of the FULL input image: decides what is
        "outside" and how borders are treated.
    pixmap : 3-D float64 array ``(rows, cols, 2)``
        Input-image ``(x, y)`` of each output pixel, same frame as ``out``.
    out : 2-D float32 array
        Written in ``[y0:y1, x0:x1]`` only (``0 <= y0``, ``0 <= x0``).
    method : int
        One of the interpolator codes (``NEAREST`` ... ``SINC``).
    scale : float32
        Multiplies every interpolated value (``iscale``); not applied to ``fillval``.
    fillval : float32
        Value for positions off the input image or NaN.
    table : 1-D float64 array
        Lanczos look-up table (:func:`lanczos_lut`) or sinc taper
        (:func:`sinc_taper`); ignored by the other methods.
    sinscl : float
        Scale of the sub-pixel offsets for sinc (legacy drizzle ``sinscl``).

    Returns
    -------
    int
        Number of output pixels set to ``fillval``.
    """
    args = (data, in_x0, in_y0, in_nx, in_ny, pixmap, out, x0, x1, y0, y1, scale, fillval)
    if method == NEAREST:
        return _loop_nearest(*args)
    if method == LINEAR:
        return _loop_linear(*args)
    if method == POLY3:
        return _loop_poly3(*args)
    if method == POLY5:
        return _loop_poly5(*args)
    if method == LANCZOS3:
        return _loop_lanczos(*args, 3, table)
    if method == LANCZOS5:
        return _loop_lanczos(*args, 5, table)
    if method == SINC:
        return _loop_sinc(*args, table, sinscl)
    raise ValueError("blot: unknown interpolator code")
