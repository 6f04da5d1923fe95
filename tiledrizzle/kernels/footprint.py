"""Output footprints of input blocks, read off the pixel map (used by the planner)."""

import math

import numpy as np

from ._jit import jit, jit_inline


@jit
def block_footprints(pixmap, row_first, row_last, x_first, x_last, block_ny, block_nx, halo):
    """Per block of the input: ``(x_min, x_max, y_min, y_max, step, has_nan)`` on the output.

    ``pixmap`` is the whole input's (ny, nx, 2) map; blocks of ``block_ny x
    block_nx`` pixels are numbered row-major from the input's origin. The
    extremes run over the block's pixels widened by ``halo`` neighbours on
    every side (the square kernel's corners lie between a pixel and its
    neighbours), skipping NaN coordinates. ``step`` is the largest change of
    either output coordinate between adjacent input pixels in that area: the
    output size of one input pixel, to turn a kernel reach in input pixels into
    output pixels. ``has_nan`` is 1.0 where that area holds a NaN, else 0.0.

    Only blocks with pixels that the scan visits count (row ``j`` is visited
    from ``x_first[j]`` to ``x_last[j]`` for ``row_first <= j <= row_last``);
    other blocks, and blocks without a finite pixmap value, get NaNs.
    """
    ny, nx = pixmap.shape[0], pixmap.shape[1]
    nby = (ny + block_ny - 1) // block_ny
    nbx = (nx + block_nx - 1) // block_nx
    out = np.full((nby, nbx, 6), np.nan)
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
            # Comparisons with NaN are False: NaNs leave every extreme alone.
            x_min = math.inf
            x_max = -math.inf
            y_min = math.inf
            y_max = -math.inf
            step = 0.0
            nans = 0
            ja, jb = max(j0 - halo, 0), min(j1 + halo, ny - 1)
            ia, ib = max(i0 - halo, 0), min(i1 + halo, nx - 1)
            for j in range(ja, jb + 1):
                down = j + 1 < ny
                for i in range(ia, ib + 1):
                    x = pixmap[j, i, 0]
                    y = pixmap[j, i, 1]
                    if x < x_min:
                        x_min = x
                    if x > x_max:
                        x_max = x
                    if y < y_min:
                        y_min = y
                    if y > y_max:
                        y_max = y
                    nans += (x != x) | (y != y)
                    if i + 1 < nx:
                        step = _larger_step(step, pixmap[j, i + 1, 0] - x, pixmap[j, i + 1, 1] - y)
                    if down:
                        step = _larger_step(step, pixmap[j + 1, i, 0] - x, pixmap[j + 1, i, 1] - y)
            if x_min <= x_max and y_min <= y_max:
                out[by, bx, 0] = x_min
                out[by, bx, 1] = x_max
                out[by, bx, 2] = y_min
                out[by, bx, 3] = y_max
                out[by, bx, 4] = step
                out[by, bx, 5] = 1.0 if nans else 0.0
    return out


@jit_inline
def _larger_step(step, dx, dy):
    """``max(step, |dx|, |dy|)`` where NaN differences count for nothing."""
    dx = abs(dx)
    dy = abs(dy)
    if dx > step:
        step = dx
    if dy > step:
        step = dy
    return step


@jit
def window_columns(
    pixmap, px0, py0, row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    wx_lo, wx_hi, wy_lo, wy_hi, reach, reach_steps, halo, step, nan_free,
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
    (as the planner measures it), measured here when ``step`` is negative (the
    planner's value for the band's blocks otherwise). Returns copies of
    ``x_first``/``x_last`` narrowed on the band's rows to the first and last kept
    pixel (an empty row gets ``first > last``). The pixels still visited are visited in the same
    order, and a dropped pixel cannot reach the window, so the sums are
    unchanged bit for bit: only the work shrinks.

    ``nan_free`` says the band's map holds no NaN: then a pixel whose centre
    lies ``e`` beyond the widened window proves its next ``e / step - 1``
    neighbours along the row lie beyond it too (each moves at most ``step``), and
    the search jumps over them.
    """
    if step < 0.0:
        step = map_step(pixmap, px0, py0, row_lo, row_hi, col_lo, col_hi, halo)
    margin = reach + reach_steps * step
    x_lo, x_hi = wx_lo - margin, wx_hi + margin
    y_lo, y_hi = wy_lo - margin, wy_hi + margin
    first = x_first.copy()
    last = x_last.copy()
    for j in range(row_lo, row_hi + 1):
        i0 = max(col_lo, x_first[j])
        i1 = min(col_hi, x_last[j])
        lo = i0
        while lo <= i1:
            e = _excess(pixmap, j - py0, lo - px0, x_lo, x_hi, y_lo, y_hi)
            if e <= 0.0:  # may reach (NaN centres too)
                break
            lo += _jump(e, step, nan_free)
        hi = i1
        while hi > lo:
            e = _excess(pixmap, j - py0, hi - px0, x_lo, x_hi, y_lo, y_hi)
            if e <= 0.0:
                break
            hi -= _jump(e, step, nan_free)
        if hi < lo and lo <= i1:
            hi = lo
        if lo > i1:
            first[j] = col_hi + 1
            last[j] = col_lo - 1
        else:
            first[j] = lo
            last[j] = hi
    return first, last


@jit
def map_step(pixmap, px0, py0, row_lo, row_hi, col_lo, col_hi, halo):
    """Largest change of an output coordinate between adjacent pixels of the band
    ``row_lo..row_hi`` x ``col_lo..col_hi`` widened by ``halo`` (NaNs skipped);
    ``pixmap`` holds the map from input pixel ``(py0, px0)`` on."""
    ny, nx = pixmap.shape[0], pixmap.shape[1]
    step = 0.0
    for j in range(max(row_lo - halo - py0, 0), min(row_hi + halo - py0, ny - 1) + 1):
        for i in range(max(col_lo - halo - px0, 0), min(col_hi + halo - px0, nx - 1) + 1):
            x = pixmap[j, i, 0]
            y = pixmap[j, i, 1]
            if i + 1 < nx:
                step = _larger_step(step, pixmap[j, i + 1, 0] - x, pixmap[j, i + 1, 1] - y)
            if j + 1 < ny:
                step = _larger_step(step, pixmap[j + 1, i, 0] - x, pixmap[j + 1, i, 1] - y)
    return step


@jit_inline
def _excess(pixmap, j, i, x_lo, x_hi, y_lo, y_hi):
    """How far the pixel's mapped centre lies outside the box (<= 0: inside or NaN)."""
    x = pixmap[j, i, 0]
    y = pixmap[j, i, 1]
    if math.isnan(x) or math.isnan(y):
        return -1.0
    return max(x_lo - x, x - x_hi, y_lo - y, y - y_hi)


@jit_inline
def _jump(excess, step, nan_free):
    """Pixels to move on from one ``excess`` beyond the box: all closer ones lie beyond too."""
    if nan_free and step > 0.0:
        k = excess / step
        if k >= 2.0:
            return int(min(k, 1.0e9))
    return 1


@jit
def band_row_extent(pixmap, row_first, row_last, band_rows, halo, step_mode):
    """Per band of ``band_rows`` input rows: ``(y_min, y_max, step)`` of its output rows.

    Band ``b`` holds input rows ``b * band_rows ..`` (clipped to
    ``row_first..row_last``); the extremes run over its rows widened by ``halo``
    rows on each side and over all columns, skipping NaNs (a comparison with NaN
    is False). ``step`` is the largest change of the output y between adjacent
    input pixels there: over all of them (``step_mode`` 2), only along the
    input's edges (1: the two outermost columns on each side, and the two
    outermost rows), or not at all (0, step 0). A band without a finite value
    gets ``y_min = inf, y_max = -inf``.
    """
    ny, nx = pixmap.shape[0], pixmap.shape[1]
    first_band = row_first // band_rows
    n_bands = max(row_last // band_rows - first_band + 1, 0)
    out = np.empty((n_bands, 3))
    for k in range(n_bands):
        b = first_band + k
        j_lo = max(max(b * band_rows, row_first) - halo, 0)
        j_hi = min(min((b + 1) * band_rows - 1, row_last) + halo, ny - 1)
        lo = np.inf
        hi = -np.inf
        step = 0.0
        for j in range(j_lo, j_hi + 1):
            jr = np.uint64(j)
            for i in range(nx):
                y = pixmap[jr, np.uint64(i), np.uint64(1)]
                if y < lo:
                    lo = y
                if y > hi:
                    hi = y
        if step_mode > 0:
            for j in range(j_lo, j_hi + 1):
                edge_row = j < 2 or j >= ny - 2
                for i in range(nx):
                    if not (step_mode == 2 or edge_row or i < 2 or i >= nx - 2):
                        continue
                    y = pixmap[np.uint64(j), np.uint64(i), np.uint64(1)]
                    # Comparisons with a NaN neighbour are False: it leaves ``step`` alone.
                    if i + 1 < nx:
                        d = abs(pixmap[np.uint64(j), np.uint64(i + 1), np.uint64(1)] - y)
                        if d > step:
                            step = d
                    if j + 1 < ny:
                        d = abs(pixmap[np.uint64(j + 1), np.uint64(i), np.uint64(1)] - y)
                        if d > step:
                            step = d
        out[k, 0] = lo
        out[k, 1] = hi
        out[k, 2] = step
    return out
