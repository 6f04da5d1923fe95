"""The compiled half of the reference's input scan (``tiledrizzle.engine.scan``).

Bilinear pixmap interpolation and its golden-section inversion, and the walk
up the overlap polygon's edge chains that gives each input row its columns.
"""

import math

from ._jit import jit

MAX_INV_ERR = 0.03
"""Accuracy (input pixels) of the pixmap inversion and margin of the scan limits."""

SCAN_OK, SCAN_ENDED, SCAN_ROW_OUTSIDE, SCAN_ROW_EMPTY = 0, 1, 2, 3


@jit
def interpolate(pixmap, xin, yin):
    """Bilinear interpolation of the pixmap at a fractional input position: ``(x, y, ok)``.

    Outside the grid it extrapolates from the nearest 2x2 cell; ``ok`` is False
    when the result is NaN. Compiled: the inversion calls it hundreds of times
    per input (IEEE arithmetic in the same order as the reference's C).
    """
    ny, nx = pixmap.shape[0], pixmap.shape[1]
    i0 = min(max(int(xin), 0), nx - 2)
    j0 = min(max(int(yin), 0), ny - 2)
    x = xin - i0
    y = yin - j0
    x1 = 1.0 - x
    y1 = 1.0 - y
    xo = (
        pixmap[j0, i0, 0] * x1 * y1 + pixmap[j0, i0 + 1, 0] * x * y1
        + pixmap[j0 + 1, i0, 0] * x1 * y + pixmap[j0 + 1, i0 + 1, 0] * x * y
    )  # fmt: skip
    yo = (
        pixmap[j0, i0, 1] * x1 * y1 + pixmap[j0, i0 + 1, 1] * x * y1
        + pixmap[j0 + 1, i0, 1] * x1 * y + pixmap[j0 + 1, i0 + 1, 1] * x * y
    )  # fmt: skip
    return xo, yo, not (math.isnan(xo) or math.isnan(yo))


@jit
def _dist2(pixmap, x, y, xout, yout):
    """Squared distance from the pixmap at input ``(x, y)`` to ``(xout, yout)``; ``(d2, ok)``."""
    xo, yo, ok = interpolate(pixmap, x, y)
    ddx = xo - xout
    ddy = yo - yout
    return ddx * ddx + ddy * ddy, ok


@jit
def golden_section(pixmap, xmin, xmax, ymin, ymax, xout, yout):
    """The golden-section search of ``scan._invert_pixmap`` (compiled): ``(x, y, ok)``."""
    gr = 0.6180339887498948482
    nmax_iter = 50
    dx = xmax - xmin
    dy = ymax - ymin
    niter = 0
    while (dx > MAX_INV_ERR or dy > MAX_INV_ERR) and niter < nmax_iter:
        niter += 1
        x1 = xmax - gr * dx
        x2 = xmin + gr * dx
        y1 = ymax - gr * dy
        y2 = ymin + gr * dy
        d11, ok = _dist2(pixmap, x1, y1, xout, yout)
        if not ok:
            return 0.0, 0.0, False
        d12, ok = _dist2(pixmap, x1, y2, xout, yout)
        if not ok:
            return 0.0, 0.0, False
        d21, ok = _dist2(pixmap, x2, y1, xout, yout)
        if not ok:
            return 0.0, 0.0, False
        d22, ok = _dist2(pixmap, x2, y2, xout, yout)
        if not ok:
            return 0.0, 0.0, False
        if d11 < d12 and d11 < d21 and d11 < d22:
            xmax, ymax = x2, y2
        elif d12 < d11 and d12 < d21 and d12 < d22:
            xmax, ymin = x2, y1
        elif d21 < d11 and d21 < d12 and d21 < d22:
            xmin, ymax = x1, y2
        else:
            xmin, ymin = x1, y1
        dx = xmax - xmin
        dy = ymax - ymin
    if niter == nmax_iter:
        return 0.0, 0.0, False
    return 0.5 * (xmin + xmax), 0.5 * (ymin + ymax), True


@jit
def _advance(tops, k, limit_y, bottom):
    """Index of the first edge from ``k`` on whose top is not below ``limit_y``, or -1.

    The top of an edge is its upper vertex's y (``bottom``) or that plus
    ``0.5 + MAX_INV_ERR``; -1 when ``limit_y`` is above the last edge.
    """
    n = tops.shape[0]
    while True:
        top = tops[k] if bottom else tops[k] + 0.5 + MAX_INV_ERR
        if not (limit_y > top):
            return k
        if k == n - 1:
            return -1
        k += 1


@jit
def _c_round_int(x):
    """``(int) round(x)`` as C does it (halves away from zero); NaN -> 0, +-inf -> int32 limits."""
    if math.isnan(x):
        return 0
    if math.isinf(x):
        return 2**31 - 1 if x > 0 else -(2**31)
    a = abs(x)
    f = math.floor(a)
    if a - f >= 0.5:
        f += 1.0
    return int(f) if x >= 0 else -int(f)


@jit
def scan_rows(
    l_top, l_m, l_c, r_top, r_m, r_c, min_y, max_y, xmin, xmax, ymin, ymax,
    row_first, row_last, nskip, nmiss, x_first, x_last,
):  # fmt: skip
    """Walk the left/right edge chains upwards: fill each row's column limits, count skips.

    Edges are ``x = m*y + c`` with upper-vertex y ``top``, bottom to top. Fills
    ``x_first``/``x_last`` of the drizzled rows; returns ``(nskip, nmiss)``
    updated from the given starting counts.
    """
    width = xmax - xmin
    li = 0
    ri = 0
    active = l_top.shape[0] > 0 and r_top.shape[0] > 0
    for y in range(row_first, row_last + 1):
        # -- the row's status and column limits (x1, x2)
        status = SCAN_OK
        x1 = 0
        x2 = -1
        pyb = y - 0.5
        pyt = y + 0.5
        if ymax >= ymin and (y < 0 or y > ymax):
            status = SCAN_ROW_OUTSIDE
        elif pyt <= min_y or pyb >= max_y + 1:
            status = SCAN_ROW_OUTSIDE
        elif not active:
            status = SCAN_ENDED
        else:
            el = _advance(l_top, li, pyb, True)
            er = -1 if el < 0 else _advance(r_top, ri, pyb, True)
            if el < 0 or er < 0:
                status = SCAN_ENDED
            else:
                li = el
                ri = er
                xlb = l_m[el] * y + l_c[el] - MAX_INV_ERR
                xrb = r_m[er] * y + r_c[er] + MAX_INV_ERR
                el = _advance(l_top, li, pyt, False)
                er = -1 if el < 0 else _advance(r_top, ri, pyt, False)
                if el < 0 or er < 0:
                    status = SCAN_ENDED
                else:
                    li = el
                    ri = er
                    xlt = l_m[el] * y + l_c[el] - MAX_INV_ERR
                    xrt = r_m[er] * y + r_c[er] + MAX_INV_ERR
                    if xmax >= xmin:
                        xlb = xmin if xlb < xmin else xlb
                        xlt = xmin if xlt < xmin else xlt
                        xrb = xmax if xrb > xmax else xrb
                        xrt = xmax if xrt > xmax else xrt
                    if xlt >= xrt:
                        x1 = _c_round_int(xlb)
                        x2 = _c_round_int(xrb)
                        if xlb >= xrb:
                            status = SCAN_ROW_EMPTY
                    elif xlb >= xrb:
                        x1 = _c_round_int(xlt)
                        x2 = _c_round_int(xrt)
                    else:
                        # Explicit comparisons, not min/max: with a NaN limit (horizontal
                        # edge) the comparison is False and the other limit is taken.
                        x_left = xlb if xlb > xlt else xlt
                        x_right = xrb if xrb < xrt else xrt
                        x1 = _c_round_int(x_left)
                        x2 = _c_round_int(x_right)
        # -- the reference's counters
        if status == SCAN_ENDED:
            active = False
            nskip += row_last + 1 - y
            nmiss += (row_last + 1 - y) * width
            break
        if status == SCAN_ROW_OUTSIDE or status == SCAN_ROW_EMPTY:
            nmiss += width
            nskip += 1
            continue
        nmiss += width - (x2 + 1 - x1)
        x_first[y] = x1
        x_last[y] = x2
    return nskip, nmiss
