"""Output footprints of input blocks, read off the pixel map (used by the planner)."""

import math

import numpy as np

from ._jit import jit


@jit
def block_footprints(pixmap, row_first, row_last, x_first, x_last, block_ny, block_nx, halo):
    """Per block of the input: ``(x_min, x_max, y_min, y_max, step)`` on the output.

    ``pixmap`` is the whole input's (ny, nx, 2) map; blocks of ``block_ny x
    block_nx`` pixels are numbered row-major from the input's origin. The
    extremes run over the block's pixels widened by ``halo`` neighbours on
    every side (the square kernel's corners lie between a pixel and its
    neighbours), skipping NaNs. ``step`` is the largest change of either output
    coordinate between adjacent input pixels in that area: the output size of
    one input pixel, to turn a kernel reach in input pixels into output pixels.

    Only blocks with pixels that the scan visits count (row ``j`` is visited
    from ``x_first[j]`` to ``x_last[j]`` for ``row_first <= j <= row_last``);
    other blocks, and blocks without a finite pixmap value, get NaNs.
    """
    ny, nx = pixmap.shape[0], pixmap.shape[1]
    nby = (ny + block_ny - 1) // block_ny
    nbx = (nx + block_nx - 1) // block_nx
    out = np.full((nby, nbx, 5), np.nan)
    for by in range(nby):
        j0 = by * block_ny
        j1 = min(j0 + block_ny, ny) - 1
        for bx in range(nbx):
            i0 = bx * block_nx
            i1 = min(i0 + block_nx, nx) - 1
            visited = False
            for j in range(max(j0, row_first), min(j1, row_last) + 1):
                if max(x_first[j], i0) <= min(x_last[j], i1):
                    visited = True
                    break
            if not visited:
                continue
            x_min = math.inf
            x_max = -math.inf
            y_min = math.inf
            y_max = -math.inf
            step = 0.0
            for j in range(max(j0 - halo, 0), min(j1 + halo, ny - 1) + 1):
                for i in range(max(i0 - halo, 0), min(i1 + halo, nx - 1) + 1):
                    x = pixmap[j, i, 0]
                    y = pixmap[j, i, 1]
                    if math.isnan(x) or math.isnan(y):
                        continue
                    x_min = min(x_min, x)
                    x_max = max(x_max, x)
                    y_min = min(y_min, y)
                    y_max = max(y_max, y)
                    # Comparisons with a NaN neighbour are False: it leaves ``step`` alone.
                    if i + 1 < nx:
                        d = max(abs(pixmap[j, i + 1, 0] - x), abs(pixmap[j, i + 1, 1] - y))
                        if d > step:
                            step = d
                    if j + 1 < ny:
                        d = max(abs(pixmap[j + 1, i, 0] - x), abs(pixmap[j + 1, i, 1] - y))
                        if d > step:
                            step = d
            if x_min <= x_max and y_min <= y_max:
                out[by, bx, 0] = x_min
                out[by, bx, 1] = x_max
                out[by, bx, 2] = y_min
                out[by, bx, 3] = y_max
                out[by, bx, 4] = step
    return out



@jit
def window_columns(
    pixmap, px0, py0, row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    wx_lo, wx_hi, wy_lo, wy_hi, reach, reach_steps, halo,
):  # fmt: skip
    """Per-row column limits of the band's pixels that can put weight in a window.

    ``pixmap`` holds the map of input pixels from ``(py0, px0)`` on (the whole
    input, or a band with a halo around it); the band is rows ``row_lo..row_hi``,
    columns ``col_lo..col_hi`` (inclusive, input coordinates), visited per row
    from ``x_first[j]`` to ``x_last[j]``. The window is ``wx_lo..wx_hi`` x
    ``wy_lo..wy_hi`` (output pixel centres, inclusive). A pixel is kept when its
    mapped centre lies within ``reach + reach_steps * step`` output pixels of
    the window, or when its centre is NaN; ``step`` is the largest change of an
    output coordinate between adjacent pixels over the band widened by ``halo``
    (as the planner measures it). Returns copies of ``x_first``/``x_last``
    narrowed on the band's rows to the first and last kept pixel (an empty row
    gets ``first > last``). The pixels still visited are visited in the same
    order, and a dropped pixel cannot reach the window, so the sums are
    unchanged bit for bit: only the work shrinks.
    """
    ny, nx = pixmap.shape[0], pixmap.shape[1]
    step = 0.0
    for j in range(max(row_lo - halo - py0, 0), min(row_hi + halo - py0, ny - 1) + 1):
        for i in range(max(col_lo - halo - px0, 0), min(col_hi + halo - px0, nx - 1) + 1):
            x = pixmap[j, i, 0]
            y = pixmap[j, i, 1]
            if i + 1 < nx:
                d = max(abs(pixmap[j, i + 1, 0] - x), abs(pixmap[j, i + 1, 1] - y))
                if d > step:  # False for NaN
                    step = d
            if j + 1 < ny:
                d = max(abs(pixmap[j + 1, i, 0] - x), abs(pixmap[j + 1, i, 1] - y))
                if d > step:
                    step = d
    margin = reach + reach_steps * step
    x_lo, x_hi = wx_lo - margin, wx_hi + margin
    y_lo, y_hi = wy_lo - margin, wy_hi + margin
    first = x_first.copy()
    last = x_last.copy()
    for j in range(row_lo, row_hi + 1):
        i0 = max(col_lo, x_first[j])
        i1 = min(col_hi, x_last[j])
        lo = i0
        while lo <= i1 and not _may_reach(pixmap, j - py0, lo - px0, x_lo, x_hi, y_lo, y_hi):
            lo += 1
        hi = i1
        while hi > lo and not _may_reach(pixmap, j - py0, hi - px0, x_lo, x_hi, y_lo, y_hi):
            hi -= 1
        if lo > i1:
            first[j] = col_hi + 1
            last[j] = col_lo - 1
        else:
            first[j] = lo
            last[j] = hi
    return first, last


@jit
def _may_reach(pixmap, j, i, x_lo, x_hi, y_lo, y_hi):
    x = pixmap[j, i, 0]
    y = pixmap[j, i, 1]
    if math.isnan(x) or math.isnan(y):
        return True
    return x_lo <= x <= x_hi and y_lo <= y <= y_hi
