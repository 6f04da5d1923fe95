"""The tightest input box whose every edge has a valid (non-NaN) pixmap value."""

import math

from ._jit import jit


@jit
def valid_pixmap_box(pixmap, xmin, xmax, ymin, ymax):
    """Shrink the inclusive box to the valid part of ``pixmap`` (NaN = invalid).

    Scans rows from the bottom for the first valid pixel of each row (and from
    the top for the last), so a valid pixmap costs one pixel per row. Returns
    ``(xmin, xmax, ymin, ymax, ok)``; ``ok`` is False when fewer than two
    distinct valid columns or rows remain.
    """
    imin = xmax
    jmin = ymax
    for j in range(ymin, ymax + 1):
        for i in range(xmin, xmax + 1):
            if not (math.isnan(pixmap[j, i, 0]) or math.isnan(pixmap[j, i, 1])):
                if i < imin:
                    imin = i
                if j < jmin:
                    jmin = j
                break
    imax = imin
    jmax = jmin
    for j in range(ymax, ymin - 1, -1):
        for i in range(xmax, xmin - 1, -1):
            if not (math.isnan(pixmap[j, i, 0]) or math.isnan(pixmap[j, i, 1])):
                if i > imax:
                    imax = i
                if j > jmax:
                    jmax = j
                break
    return imin, imax, jmin, jmax, not (imin >= imax or jmin >= jmax)
