"""Exact overlap areas between input-pixel footprints and output pixels.

``quad_pixel_overlap`` is the square kernel's geometry: the signed area common
to a quadrilateral (the input pixel, shrunk by ``pixfrac`` and mapped to the
output frame) and one output pixel. It sums, over the quadrilateral's edges,
the signed area under each edge inside the unit pixel (the "boxer" method of
the original drizzle); the sign follows the quadrilateral's orientation, and
the Jacobian used to normalise it carries the same sign, so orientation never
matters to the result.

The arithmetic follows the reference step for step, because parity on edge
pixels (collinear edges, corners just outside the output, nearly degenerate
quadrilaterals) depends on it: the reference's tiny areas (down to ~1e-30) and
its exact zeros decide which output pixels get a weight and a context bit.

``quad_block_areas`` is the fast path of the square kernel: when a quadrilateral's
box spans at most 2x2 output pixels, their areas follow from three clipped areas
(left of the inner column line, below the inner row line, and the quadrant
below-left of both) by inclusion-exclusion, about twice as fast as four boxer
calls. Mathematically the same signed (winding-number weighted) areas; in
floating point they differ from the boxer's by ~1e-16 absolute, so the kernel
takes them only for areas of at least ``BLOCK_AREA_MIN`` (where that is below
1e-9 relative: same sign, same float32 weight but for a rare last-bit rounding)
and falls back to ``quad_pixel_overlap`` for smaller ones, whose exact
reference bits (or zero) matter.

These helpers are ordinary compiled functions (``jit_c``: the square kernel's
C division semantics), called from the kernel and inlined there by LLVM, not
inlined at Numba-IR level: the square kernel then compiles in about 4 s instead
of 22 s on first use, with the same bits and, within the noise of the shared
machine, the same speed (``bench_kernels``).
"""

from ._jit import jit_c


@jit_c
def edge_area_in_unit_square(x1, y1, x2, y2):
    """Signed area under the segment (x1, y1)-(x2, y2) within the unit square [0,1]x[0,1].

    Positive for segments running in +x, negative for -x; vertical segments give 0.
    """
    dx = x2 - x1
    dy = y2 - y1
    if dx == 0.0:
        return 0.0
    if dx < 0.0:
        sgn_dx = -1.0
        xlo = x2
        xhi = x1
    else:
        sgn_dx = 1.0
        xlo = x1
        xhi = x2
    if xlo >= 1.0 or xhi <= 0.0:
        return 0.0
    xlo = max(xlo, 0.0)
    xhi = min(xhi, 1.0)
    slope = dy / dx
    ylo = y1 + slope * (xlo - x1)
    yhi = y1 + slope * (xhi - x1)
    if ylo <= 0.0 and yhi <= 0.0:
        return 0.0
    if ylo >= 1.0 and yhi >= 1.0:
        return sgn_dx * (xhi - xlo)
    det = x1 * y2 - y1 * x2
    if ylo < 0.0:
        ylo = 0.0
        xlo = det / dy
    if yhi < 0.0:
        yhi = 0.0
        xhi = det / dy
    if ylo <= 1.0:
        if yhi <= 1.0:
            return sgn_dx * 0.5 * (xhi - xlo) * (yhi + ylo)
        xtop = (dx + det) / dy
        return sgn_dx * (0.5 * (xtop - xlo) * (1.0 + ylo) + xhi - xtop)
    xtop = (dx + det) / dy
    return sgn_dx * (0.5 * (xhi - xtop) * (1.0 + yhi) + xtop - xlo)


@jit_c
def quad_pixel_overlap(ii, jj, x0, x1, x2, x3, y0, y1, y2, y3):
    """Signed area common to quadrilateral (x0,y0)..(x3,y3) and output pixel (ii, jj).

    The output pixel spans [ii-0.5, ii+0.5] x [jj-0.5, jj+0.5]. Scalars only:
    per-pixel helpers take no arrays, so inner loops carry no reference counting.
    """
    ox = ii - 0.5
    oy = jj - 0.5
    px0 = x0 - ox
    px1 = x1 - ox
    px2 = x2 - ox
    px3 = x3 - ox
    py0 = y0 - oy
    py1 = y1 - oy
    py2 = y2 - oy
    py3 = y3 - oy
    area = 0.0
    area += edge_area_in_unit_square(px0, py0, px1, py1)
    area += edge_area_in_unit_square(px1, py1, px2, py2)
    area += edge_area_in_unit_square(px2, py2, px3, py3)
    area += edge_area_in_unit_square(px3, py3, px0, py0)
    return area


@jit_c
def box_pixel_overlap(ii, jj, xlo, xhi, ylo, yhi):
    """Area common to the axis-aligned box [xlo, xhi] x [ylo, yhi] and output pixel (ii, jj)."""
    dx = min(xhi, ii + 0.5) - max(xlo, ii - 0.5)
    dy = min(yhi, jj + 0.5) - max(ylo, jj - 0.5)
    if dx > 0.0 and dy > 0.0:
        return dx * dy
    return 0.0


BLOCK_AREA_MIN = 1.0e-6
"""Smallest area the square kernel takes from ``quad_block_areas``; below it, the boxer's."""


@jit_c
def _left_integral(ua, va, ub, vb):
    """Integral of v du along the segment (ua, va)-(ub, vb), over its part with u <= 0."""
    if ua <= 0.0 and ub <= 0.0:
        return (ub - ua) * (va + vb) * 0.5
    if ua > 0.0 and ub > 0.0:
        return 0.0
    vc = va + (vb - va) * (ua / (ua - ub))  # v where the segment crosses u = 0
    if ua <= 0.0:
        return (0.0 - ua) * (va + vc) * 0.5
    return ub * (vc + vb) * 0.5


@jit_c
def _quadrant_integral(ua, va, ub, vb):
    """Integral of v du along the segment, over its part with u <= 0 and v <= 0."""
    du = ub - ua
    dv = vb - va
    t0 = 0.0
    t1 = 1.0
    if du == 0.0:
        if ua > 0.0:
            return 0.0
    elif du > 0.0:
        t1 = min(t1, -ua / du)
    else:
        t0 = max(t0, -ua / du)
    if dv == 0.0:
        if va > 0.0:
            return 0.0
    elif dv > 0.0:
        t1 = min(t1, -va / dv)
    else:
        t0 = max(t0, -va / dv)
    if t0 >= t1:
        return 0.0
    return (t1 - t0) * du * ((va + t0 * dv) + (va + t1 * dv)) * 0.5


@jit_c
def quad_block_areas(ii, jj, ncols, nrows, x0, x1, x2, x3, y0, y1, y2, y3):
    """Signed areas of the quadrilateral in the (at most 2x2) output pixels from (ii, jj).

    The quadrilateral must lie within ``ncols`` (1 or 2) columns from ``ii`` and
    ``nrows`` (1 or 2) rows from ``jj``. Returns ``(a00, a10, a01, a11)``: the
    areas in pixels (ii, jj), (ii + 1, jj), (ii, jj + 1), (ii + 1, jj + 1), with
    the sign convention of ``quad_pixel_overlap`` (0 for pixels outside the
    block). Computed in coordinates relative to the block's inner corner
    ``(ii + 0.5, jj + 0.5)``: the area left of it (``A_l``, by the integral of
    v du over the edges' parts left of it, whose closing segment along the line
    adds nothing), below it (``A_b``, likewise with u dv) and in the quadrant
    below-left (``A_lb``, v du again: both closing segments add nothing), then
    ``a00 = A_lb``, ``a01 = A_l - A_lb``, ``a10 = A_b - A_lb`` and
    ``a11 = total - A_l - A_b + A_lb``.
    """
    cx = ii + 0.5
    cy = jj + 0.5
    u0 = x0 - cx
    u1 = x1 - cx
    u2 = x2 - cx
    u3 = x3 - cx
    v0 = y0 - cy
    v1 = y1 - cy
    v2 = y2 - cy
    v3 = y3 - cy
    total = 0.5 * (
        (u1 - u0) * (v0 + v1) + (u2 - u1) * (v1 + v2) + (u3 - u2) * (v2 + v3)
        + (u0 - u3) * (v3 + v0)
    )  # fmt: skip
    if ncols == 1 and nrows == 1:
        return total, 0.0, 0.0, 0.0
    if nrows == 1:
        left = (
            _left_integral(u0, v0, u1, v1) + _left_integral(u1, v1, u2, v2)
            + _left_integral(u2, v2, u3, v3) + _left_integral(u3, v3, u0, v0)
        )  # fmt: skip
        return left, total - left, 0.0, 0.0
    # u dv over the parts below v = 0: the same integral with u and v swapped, negated
    below = -(
        _left_integral(v0, u0, v1, u1) + _left_integral(v1, u1, v2, u2)
        + _left_integral(v2, u2, v3, u3) + _left_integral(v3, u3, v0, u0)
    )  # fmt: skip
    if ncols == 1:
        return below, 0.0, total - below, 0.0
    left = (
        _left_integral(u0, v0, u1, v1) + _left_integral(u1, v1, u2, v2)
        + _left_integral(u2, v2, u3, v3) + _left_integral(u3, v3, u0, v0)
    )  # fmt: skip
    corner = (
        _quadrant_integral(u0, v0, u1, v1) + _quadrant_integral(u1, v1, u2, v2)
        + _quadrant_integral(u2, v2, u3, v3) + _quadrant_integral(u3, v3, u0, v0)
    )  # fmt: skip
    return corner, below - corner, left - corner, total - left - below + corner
