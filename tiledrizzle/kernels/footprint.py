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
