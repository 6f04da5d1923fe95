"""Piecewise-cubic interpolation of a pixmap sampled on a sparse grid of nodes.

A pixmap maps input pixel ``(i, j)`` to an output position ``(x, y)``. For a
WCS pair the map is smooth (an affine frame change, a projection, polynomial
distortion), so it can be sampled exactly at a sparse lattice of *nodes* and
filled in between. These kernels do the filling.

Scheme: tensor-product cubic Lagrange interpolation. Along each axis, a
coordinate inside the *cell* ``[nodes[c], nodes[c + 1]]`` is interpolated from
the four nodes ``c - 1 .. c + 2`` (shifted inwards at the edges of the grid,
fewer when the grid has fewer than four nodes). Why this scheme:

* it reproduces cubics exactly, so its error is O(h⁴ · f⁗) for node spacing
  ``h`` (Catmull-Rom is O(h³), bilinear O(h²)): a coarse grid suffices for
  smooth distortions, and nodes are the expensive part (each one is an exact
  WCS evaluation, ~0.3 µs);
* its weights depend on one coordinate only, so a row's weights are computed
  once and a pixel costs 2 × 4 multiply-adds after one 1-D pass per row;
* it interpolates (reproduces node values bit for bit) and works on
  non-uniform node spacings (the last cell of an image is usually shorter);
* it is continuous across cell edges (on an edge both neighbouring stencils
  reduce to the same 1-D interpolation along the edge); the derivative may
  jump there, by at most about tolerance / h, which drizzle never sees.

For a smooth map the error inside a cell peaks near its centre and edge
midpoints (the extrema of the nodal polynomial ``(t+1) t (t-1) (t-2)``), which
is where ``pixmap.py`` checks it. All kernels are pure functions over NumPy
arrays; the sums run in a fixed order, so equal inputs give equal bits.
"""

import math

import numpy as np

from ._jit import jit

STENCIL = 4
"""Nodes per axis in a cubic Lagrange stencil."""


@jit
def lagrange_taps(coords, nodes, cell_lo, cell_hi, cells, starts, weights):
    """Cell, stencil start and Lagrange weights of each coordinate along one axis.

    ``nodes`` is increasing (at least two entries); ``coords`` lie in
    ``[nodes[cell_lo], nodes[cell_hi + 1]]``. For ``coords[q]`` this writes
    ``cells[q]`` (the ``c`` with ``nodes[c] <= coords[q] < nodes[c + 1]``,
    clipped to ``[cell_lo, cell_hi]``: a point on the upper edge of
    ``cell_hi`` belongs to it), ``starts[q]`` (first node of its stencil) and
    ``weights[q, :width]`` with ``width = min(4, len(nodes))``; unused weight
    columns are set to zero. A coordinate equal to a node gets weight exactly 1
    on it and 0 on the others. Returns ``width``.
    """
    n_nodes = nodes.shape[0]
    width = min(STENCIL, n_nodes)
    for q in range(coords.shape[0]):
        t = coords[q]
        c = np.searchsorted(nodes, t, side="right") - 1
        c = min(max(c, cell_lo), cell_hi)
        s = min(max(c - 1, 0), n_nodes - width)
        cells[q] = c
        starts[q] = s
        for m in range(STENCIL):
            weights[q, m] = 0.0
        for m in range(width):
            w = 1.0
            for k in range(width):
                if k != m:
                    w *= (t - nodes[s + k]) / (nodes[s + m] - nodes[s + k])
            weights[q, m] = w
    return width


@jit
def interpolate_tensor(
    node_xy,
    row_starts,
    row_weights,
    row_width,
    col_starts,
    col_weights,
    col_width,
    row_cells,
    col_cells,
    skip_cell,
    out,
):
    """Interpolate ``node_xy`` at every (row, column) pair of a tensor grid of points.

    ``node_xy`` (n_row_nodes, n_col_nodes, 2) holds the exact map at the nodes;
    the per-row and per-column taps come from :func:`lagrange_taps` (starts
    index ``node_xy``). ``out[j, i]`` receives the interpolated ``(x, y)`` of
    point (row ``j``, column ``i``) unless ``skip_cell[row_cells[j],
    col_cells[i]]`` is set, in which case ``out[j, i]`` is left untouched (the
    caller fills it exactly). A non-finite node makes every point whose stencil
    contains it non-finite (``0 × NaN`` is NaN): such a stencil never produces
    a finite garbage value.
    """
    n_col_nodes = node_xy.shape[1]
    along_row = np.empty((n_col_nodes, 2))
    for j in range(out.shape[0]):
        s = row_starts[j]
        # 1-D pass: the map on row j at every node column.
        for c in range(n_col_nodes):
            ax = 0.0
            ay = 0.0
            for m in range(row_width):
                w = row_weights[j, m]
                ax += w * node_xy[s + m, c, 0]
                ay += w * node_xy[s + m, c, 1]
            along_row[c, 0] = ax
            along_row[c, 1] = ay
        skip_row = skip_cell[row_cells[j]]
        if col_width == STENCIL:
            # The usual case, written out (the same sums in the same order as below).
            for i in range(out.shape[1]):
                if skip_row[col_cells[i]]:
                    continue
                s2 = col_starts[i]
                w0 = col_weights[i, 0]
                w1 = col_weights[i, 1]
                w2 = col_weights[i, 2]
                w3 = col_weights[i, 3]
                out[j, i, 0] = (
                    (((0.0 + w0 * along_row[s2, 0]) + w1 * along_row[s2 + 1, 0])
                     + w2 * along_row[s2 + 2, 0]) + w3 * along_row[s2 + 3, 0]
                )  # fmt: skip
                out[j, i, 1] = (
                    (((0.0 + w0 * along_row[s2, 1]) + w1 * along_row[s2 + 1, 1])
                     + w2 * along_row[s2 + 2, 1]) + w3 * along_row[s2 + 3, 1]
                )  # fmt: skip
            continue
        for i in range(out.shape[1]):
            if skip_row[col_cells[i]]:
                continue
            s2 = col_starts[i]
            ax = 0.0
            ay = 0.0
            for m in range(col_width):
                w = col_weights[i, m]
                ax += w * along_row[s2 + m, 0]
                ay += w * along_row[s2 + m, 1]
            out[j, i, 0] = ax
            out[j, i, 1] = ay


@jit
def cell_max_errors(approx, exact, sub, errors):
    """Largest interpolation error of each cell, measured on its check lattice.

    ``approx`` and ``exact`` (n_rows, n_cols, 2) are the interpolated and exact
    map on a lattice with ``sub`` intervals per cell along each axis, so cell
    ``(a, b)`` owns lattice points ``[a*sub, (a+1)*sub] × [b*sub, (b+1)*sub]``
    (its edges and corners are shared with its neighbours).
    ``errors[a, b]`` receives the largest distance ``|approx - exact|`` in
    output pixels over those points, ``inf`` if any value is not finite.
    """
    for a in range(errors.shape[0]):
        for b in range(errors.shape[1]):
            worst = 0.0
            for j in range(a * sub, (a + 1) * sub + 1):
                for i in range(b * sub, (b + 1) * sub + 1):
                    dx = approx[j, i, 0] - exact[j, i, 0]
                    dy = approx[j, i, 1] - exact[j, i, 1]
                    d = math.sqrt(dx * dx + dy * dy)
                    if not math.isfinite(d):
                        worst = math.inf
                    elif d > worst:
                        worst = d
            errors[a, b] = worst


@jit
def nonfinite_cells(exact, sub, flags):
    """Mark the cells whose check lattice holds a non-finite exact value.

    Same lattice layout as :func:`cell_max_errors`: ``flags[a, b]`` is True when
    any of ``exact[a*sub:(a+1)*sub + 1, b*sub:(b+1)*sub + 1]`` is NaN or inf.
    """
    for a in range(flags.shape[0]):
        for b in range(flags.shape[1]):
            bad = False
            for j in range(a * sub, (a + 1) * sub + 1):
                for i in range(b * sub, (b + 1) * sub + 1):
                    if not (math.isfinite(exact[j, i, 0]) and math.isfinite(exact[j, i, 1])):
                        bad = True
            flags[a, b] = bad
