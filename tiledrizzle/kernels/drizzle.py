"""The six drizzle kernels: square, point, turbo, gaussian, lanczos2, lanczos3.

All kernels visit the same input pixels and share one accumulate step; they
differ only in an input pixel's footprint on the output and in the overlap
weight ``dover`` of each output pixel in it:

* square   : exact area of the input pixel (shrunk by ``pixfrac``, corners
             mapped through the pixmap) inside the output pixel, divided by the
             quadrilateral's area (Jacobian). Flux conserving.
* point    : all weight on the output pixel under the input pixel's centre.
* turbo    : an output-aligned square of side pixfrac/pscale_ratio. Flux
             conserving, approximate under rotation/shear.
* gaussian : a Gaussian of FWHM pixfrac input pixels. Not flux conserving.
* lanczos2/3 : separable Lanczos of 2/3 input pixels (pixfrac ignored). Not
             flux conserving; weights can be negative.

Each kernel has its own loop (one compiled loop per kernel, no branches of the
others); the scan over input pixels and the accumulate step are written out
identically in each. Per-pixel helpers take scalars only: passing arrays to a
helper costs reference-count atomics per call even when it is inlined. The
separable kernels (turbo, gaussian, lanczos) evaluate their x and y factors once
per footprint column/row, not once per output pixel. Each entry point inlines
its loop twice, once for inputs without ``data2``/``dq`` (so that copy carries
no variance or DQ work), and uses C division semantics (``_jit.jit_c``).

Speed (what the inner loops rely on): array indices are unsigned (``_u``), so
Numba emits no negative-index wraparound (a branch and a register per access,
which made the loops spill); every index is in range by construction. The
window arrays are addressed through flat views. The square kernel slides its
3x3 pixmap neighbourhood along a row (one new column per pixel). Rounding uses
truncation-based exact forms of C ``round`` (``_jit``). The square kernel takes
the areas of small boxes from inclusion-exclusion of clipped areas
(``overlap.quad_block_areas``). The gaussian kernel's exponentials are inlined
(``_jit.exp_nonpos``, within a few ulp of libm's).

The accumulate step deposits *partial sums* into an output window (a band of
output rows for the facade, one tile for the tiled engine):

* ``acc_flux``  += w * d            (float64)
* ``acc_wht``   += w                (float64)
* ``acc_var[k]`` += w**2 * d2[k]    (float64, variance-like arrays)
* ``ctx``       |= ctx_bit where w > 0
* ``acc_dq``    |= dq where w != 0

with ``d = data * iscale`` (float32) and ``w = float32(dover * weight * wscale)``,
rounded exactly where the reference rounds. ``acc_flux/acc_wht`` is the
reference's running weighted mean and ``acc_var/acc_wht**2`` its squared-weight
co-add; dividing once at the end makes results independent of the order in
which tiles and inputs are visited.

Arguments shared by all kernels
-------------------------------
data, weights : 2-D float32; data2 : 3-D float32 (k, ny, nx), k may be 0;
dq : 2-D uint32, or (0, 0) when absent; pixmap : (ny, nx, 2) float64.
All input arrays share one origin: index ``[j - in_y0, i - in_x0]`` holds input
pixel ``(i, j)``. ``in_nx, in_ny`` are the full input dimensions (the square
kernel's corner interpolation depends on them).
row_lo..row_hi, col_lo..col_hi : inclusive input box to visit; within it, row
``j`` is visited from ``x_first[j]`` to ``x_last[j]`` (global scan limits).
out_nx, out_ny : full output dimensions; win_x0, win_y0 : origin of the
window covered by ``acc_*``/``ctx`` (their shape is the window's).
ctx : int32 window, or (0, 0) to skip context; ctx_bit : int32 bit value.
``acc_flux``, ``acc_wht`` and ``ctx`` must be C-contiguous (the kernels address
them through flat views: one index per output pixel).
iscale, wscale : float32; pixfrac : float64; pscale_ratio : float32.
hits : uint8 with the input arrays' origin, or (0, 0): set to 1 for every visited
input pixel that is not a miss (lets a caller count misses over many windows).

Returns the number of visited input pixels that put no weight in the window
(the reference's per-pixel ``nmiss`` when the window is the whole output).
"""

import math

import numpy as np

from ._jit import (
    exp_nonpos,
    exp_tables,
    jit_c,
    jit_inline,
    round_above_half,
    round_half_away,
)
from .lanczos import LANCZOS_LUT_STEP, lanczos_lut
from .overlap import BLOCK_AREA_MIN, quad_block_areas, quad_pixel_overlap

_u = np.uint64
"""Array indices are converted to unsigned: Numba then skips the negative-index
wraparound (a branch and extra registers per access). Every index is in range
by construction (window-clamped), as before."""
_U0 = np.uint64(0)
_U1 = np.uint64(1)

GAUSSIAN_NSIG = 2.5
FWHM_PER_SIGMA = 2.3548


@jit_inline
def _flat_outputs(acc_flux, acc_wht, ctx):
    """1-D views of the (C-contiguous) window arrays: one flat index per output pixel."""
    return acc_flux.reshape(-1), acc_wht.reshape(-1), ctx.reshape(-1)


@jit_inline
def _window_bounds(out_nx, out_ny, win_x0, win_y0, win_nx, win_ny):
    """Inclusive output pixel range ``(x_lo, x_hi, y_lo, y_hi)`` of the window inside the output."""
    x_lo = max(win_x0, 0)
    x_hi = min(win_x0 + win_nx - 1, out_nx - 1)
    y_lo = max(win_y0, 0)
    y_hi = min(win_y0 + win_ny - 1, out_ny - 1)
    return x_lo, x_hi, y_lo, y_hi


@jit_inline
def _rounds_into(lo, hi):
    """Open interval ``(f_lo, f_hi)`` of the x with C ``round(x)`` in ``lo..hi`` (ints).

    ``round`` takes halves away from zero, so ``lo - 0.5`` is in when ``lo >= 1``
    and ``hi + 0.5`` is in when ``hi <= -1``; those ends are moved out by one ulp.
    A NaN is in no interval.
    """
    f_lo = lo - 0.5
    if lo >= 1:
        f_lo = np.nextafter(f_lo, -np.inf)
    f_hi = hi + 0.5
    if hi <= -1:
        f_hi = np.nextafter(f_hi, np.inf)
    return f_lo, f_hi


@jit_inline
def _footprint_capacity(pfo, limit):
    """Room for the columns/rows of a footprint of half-width ``pfo``: at most ``limit``.

    Written with a float comparison so a NaN half-width gives ``limit``.
    """
    cap = 2.0 * pfo + 3.0
    if cap < limit:
        return int(cap)
    return max(limit, 1)


@jit_inline
def _bilinear_cell(xin, yin, in_nx, in_ny):
    """Grid cell ``(i0, j0)`` and offsets ``(x, y)`` to interpolate the pixmap at ``(xin, yin)``.

    Positions off the grid use the nearest edge cell (extrapolation).
    """
    i0 = min(max(int(xin), 0), in_nx - 2)
    j0 = min(max(int(yin), 0), in_ny - 2)
    return i0, j0, xin - i0, yin - j0


@jit_inline
def _bilinear(p00, p10, p01, p11, x, y):
    """Bilinear interpolation of cell values ``p<dx><dy>`` at offsets ``(x, y)`` in the cell."""
    x1 = 1.0 - x
    y1 = 1.0 - y
    return p00 * x1 * y1 + p10 * x * y1 + p01 * x1 * y + p11 * x * y


@jit_inline
def _corners_from_3x3(f00, f10, f20, f01, f11, f21, f02, f12, f22, hh, he, hc):
    """One coordinate of the 4 shrunken-pixel corners from the 3x3 pixmap neighbours.

    ``f<dx><dy>`` is the pixmap coordinate at offset ``(dx, dy)`` from the
    lower-left neighbour; ``hh = dh*dh``, ``he = (1-dh)*dh``, ``hc = (1-dh)*(1-dh)``.
    Corners run (-dh,+dh), (+dh,+dh), (+dh,-dh), (-dh,-dh) in input (x, y).
    """
    f00 = f00 * hh
    f10 = f10 * he
    f20 = f20 * hh
    f01 = f01 * he
    f11 = f11 * hc
    f21 = f21 * he
    f02 = f02 * hh
    f12 = f12 * he
    f22 = f22 * hh
    return (
        f01 + f11 + f02 + f12,
        f11 + f21 + f12 + f22,
        f10 + f20 + f11 + f21,
        f00 + f10 + f01 + f11,
    )


# The accumulate step, written out in every kernel (arrays cannot go through a
# helper without reference counting), for one output pixel (ii, jj) with
# weight ``dow`` (float32), input value ``dd = float64(d)`` and ``d2[k]``:
#
#     if dow != 0.0:
#         wy = jj - win_y0
#         wx = ii - win_x0
#         if has_ctx and dow > 0.0:
#             ctx[wy, wx] |= ctx_bit
#         wd = np.float64(dow)
#         acc_flux[wy, wx] += wd * dd
#         acc_wht[wy, wx] += wd
#         for k in range(n_var):
#             acc_var[k, wy, wx] += (wd * wd) * d2[k]
#         if has_dq:
#             acc_dq[wy, wx] |= dqval


@jit_inline
def _square_loop(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """Loop of the square kernel (see the module docstring); returns the per-pixel miss count.

    Interior pixels take their corners from the 3x3 pixmap neighbourhood; along
    a row the neighbourhood slides by one column, so each step loads only the
    new column (the values are the same loads as a fresh 3x3 read: the corners
    do not depend on where a row's scan starts). A quadrilateral whose box spans
    at most 2x2 output pixels (nearly all of them at pixel-scale ratios near 1)
    gets its areas from ``overlap.quad_block_areas``, the boxer's
    (``quad_pixel_overlap``) where they are below ``BLOCK_AREA_MIN``; larger
    boxes use the boxer throughout. Both depend on the quadrilateral and the
    pixel only, never on the window, so tiles see the same weights.
    """
    win_ny, win_nx = acc_wht.shape
    x_lo, x_hi, y_lo, y_hi = _window_bounds(out_nx, out_ny, win_x0, win_y0, win_nx, win_ny)
    n_var = data2.shape[0]
    has_dq = dq.shape[0] > 0
    has_ctx = ctx.shape[0] > 0
    has_hits = hits.shape[0] > 0
    flux_f, wht_f, ctx_f = _flat_outputs(acc_flux, acc_wht, ctx)
    iscale2 = iscale * iscale
    d2 = np.zeros(n_var, dtype=np.float64)
    dqval = np.uint32(0)
    cx = np.zeros(4, dtype=np.float64)
    cy = np.zeros(4, dtype=np.float64)

    dh = 0.5 * pixfrac
    hc = (1.0 - dh) * (1.0 - dh)
    he = (1.0 - dh) * dh
    hh = dh * dh

    nmiss = 0
    for j in range(row_lo, row_hi + 1):
        i_lo = max(x_first[j], col_lo)
        i_hi = min(x_last[j], col_hi)
        jr = _u(j - in_y0)
        interior_row = j > 0 and j < in_ny - 2
        r0 = _u(max(j - 1 - in_y0, 0))  # used on interior rows only; never wraps
        r2 = _u(j + 1 - in_y0)
        # the 3x3 neighbourhood: columns L, M, R; rows 0 (j-1), 1 (j), 2 (j+1)
        xl0 = xl1 = xl2 = xm0 = xm1 = xm2 = xr0 = xr1 = xr2 = 0.0
        yl0 = yl1 = yl2 = ym0 = ym1 = ym2 = yr0 = yr1 = yr2 = 0.0
        slid = False  # True when L, M, R hold the neighbourhood of the previous pixel
        for i in range(i_lo, i_hi + 1):
            ic = _u(i - in_x0)
            # -- corners of the shrunken input pixel on the output
            if interior_row and i > 0 and i < in_nx - 2:
                if slid:
                    xl0, xl1, xl2, yl0, yl1, yl2 = xm0, xm1, xm2, ym0, ym1, ym2
                    xm0, xm1, xm2, ym0, ym1, ym2 = xr0, xr1, xr2, yr0, yr1, yr2
                else:
                    cl = _u(i - 1 - in_x0)
                    xl0, yl0 = pixmap[r0, cl, _U0], pixmap[r0, cl, _U1]
                    xl1, yl1 = pixmap[jr, cl, _U0], pixmap[jr, cl, _U1]
                    xl2, yl2 = pixmap[r2, cl, _U0], pixmap[r2, cl, _U1]
                    xm0, ym0 = pixmap[r0, ic, _U0], pixmap[r0, ic, _U1]
                    xm1, ym1 = pixmap[jr, ic, _U0], pixmap[jr, ic, _U1]
                    xm2, ym2 = pixmap[r2, ic, _U0], pixmap[r2, ic, _U1]
                    slid = True
                cr = _u(i + 1 - in_x0)
                xr0, yr0 = pixmap[r0, cr, _U0], pixmap[r0, cr, _U1]
                xr1, yr1 = pixmap[jr, cr, _U0], pixmap[jr, cr, _U1]
                xr2, yr2 = pixmap[r2, cr, _U0], pixmap[r2, cr, _U1]
                x0, x1, x2, x3 = _corners_from_3x3(
                    xl0, xm0, xr0, xl1, xm1, xr1, xl2, xm2, xr2, hh, he, hc
                )
                y0, y1, y2, y3 = _corners_from_3x3(
                    yl0, ym0, yr0, yl1, ym1, yr1, yl2, ym2, yr2, hh, he, hc
                )
            else:
                # Edge pixels: interpolate the pixmap at the corners (rare, not hot).
                slid = False
                for c in range(4):
                    xin = i - dh if (c == 0 or c == 3) else i + dh
                    yin = j + dh if c < 2 else j - dh
                    i0, j0, fx, fy = _bilinear_cell(xin, yin, in_nx, in_ny)
                    a = _u(j0 - in_y0)
                    a1 = _u(j0 + 1 - in_y0)
                    b = _u(i0 - in_x0)
                    b1 = _u(i0 + 1 - in_x0)
                    cx[c] = _bilinear(
                        pixmap[a, b, _U0], pixmap[a, b1, _U0],
                        pixmap[a1, b, _U0], pixmap[a1, b1, _U0], fx, fy,
                    )  # fmt: skip
                    cy[c] = _bilinear(
                        pixmap[a, b, _U1], pixmap[a, b1, _U1],
                        pixmap[a1, b, _U1], pixmap[a1, b1, _U1], fx, fy,
                    )  # fmt: skip
                x0, x1, x2, x3 = cx[0], cx[1], cx[2], cx[3]
                y0, y1, y2, y3 = cy[0], cy[1], cy[2], cy[3]
            # One test for the common case: a sum is NaN if any term is NaN (or for
            # inf - inf, which the exact test below then tells apart).
            if math.isnan(x0 + x1 + x2 + x3 + y0 + y1 + y2 + y3) and (
                math.isnan(x0) or math.isnan(x1) or math.isnan(x2) or math.isnan(x3)
                or math.isnan(y0) or math.isnan(y1) or math.isnan(y2) or math.isnan(y3)
            ):  # fmt: skip
                nmiss += 1
                continue
            jaco = 0.5 * ((x1 - x3) * (y0 - y2) - (x0 - x2) * (y1 - y3))
            w = (weights[jr, ic] * wscale) / jaco
            # the quadrilateral's box of output pixels, then clipped to the window
            bi_lo = round_half_away(min(min(x0, x1), min(x2, x3)))
            bi_hi = round_half_away(max(max(x0, x1), max(x2, x3)))
            bj_lo = round_half_away(min(min(y0, y1), min(y2, y3)))
            bj_hi = round_half_away(max(max(y0, y1), max(y2, y3)))
            ii_lo = max(bi_lo, x_lo)
            ii_hi = min(bi_hi, x_hi)
            jj_lo = max(bj_lo, y_lo)
            jj_hi = min(bj_hi, y_hi)
            if ii_lo > ii_hi or jj_lo > jj_hi:
                nmiss += 1
                continue

            dd = np.float64(data[jr, ic] * iscale)
            for k in range(n_var):
                d2[k] = data2[k, jr, ic] * iscale2
            if has_dq:
                dqval = dq[jr, ic]

            # A box of at most 2x2 pixels (the usual case): all its areas at once
            # (``quad_block_areas``), the boxer's exact ones below BLOCK_AREA_MIN.
            block = bi_hi - bi_lo <= 1 and bj_hi - bj_lo <= 1
            a00 = a10 = a01 = a11 = 0.0
            if block:
                a00, a10, a01, a11 = quad_block_areas(
                    bi_lo, bj_lo, bi_hi - bi_lo + 1, bj_hi - bj_lo + 1,
                    x0, x1, x2, x3, y0, y1, y2, y3,
                )  # fmt: skip

            nhit = 0
            for jj in range(jj_lo, jj_hi + 1):
                wy = _u(jj - win_y0)
                row = (jj - win_y0) * win_nx - win_x0
                for ii in range(ii_lo, ii_hi + 1):
                    dover = 0.0
                    if block:
                        if jj == bj_lo:
                            dover = a00 if ii == bi_lo else a10
                        else:
                            dover = a01 if ii == bi_lo else a11
                    if not abs(dover) >= BLOCK_AREA_MIN:
                        dover = quad_pixel_overlap(ii, jj, x0, x1, x2, x3, y0, y1, y2, y3)
                    if dover == 0.0:
                        continue
                    nhit += 1
                    dow = np.float32(dover * w)
                    if dow != 0.0:
                        p = _u(row + ii)
                        if has_ctx and dow > 0.0:
                            ctx_f[p] |= ctx_bit
                        wd = np.float64(dow)
                        flux_f[p] += wd * dd
                        wht_f[p] += wd
                        if n_var > 0 or has_dq:
                            wx = _u(ii - win_x0)
                            for k in range(n_var):
                                acc_var[k, wy, wx] += (wd * wd) * d2[k]
                            if has_dq:
                                acc_dq[wy, wx] |= dqval
            if nhit == 0:
                nmiss += 1
            elif has_hits:
                hits[jr, ic] = 1
    return nmiss


@jit_inline
def _point_loop(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """Loop of the point kernel (see the module docstring); returns the per-pixel miss count."""
    win_ny, win_nx = acc_wht.shape
    x_lo, x_hi, y_lo, y_hi = _window_bounds(out_nx, out_ny, win_x0, win_y0, win_nx, win_ny)
    n_var = data2.shape[0]
    has_dq = dq.shape[0] > 0
    has_ctx = ctx.shape[0] > 0
    has_hits = hits.shape[0] > 0
    flux_f, wht_f, ctx_f = _flat_outputs(acc_flux, acc_wht, ctx)
    iscale2 = iscale * iscale
    # round(ox) in x_lo..x_hi <=> fx_lo < ox < fx_hi (False for NaN): one test per axis.
    fx_lo, fx_hi = _rounds_into(x_lo, x_hi)
    fy_lo, fy_hi = _rounds_into(y_lo, y_hi)

    nmiss = 0
    for j in range(row_lo, row_hi + 1):
        i_lo = max(x_first[j], col_lo)
        i_hi = min(x_last[j], col_hi)
        jr = _u(j - in_y0)
        for i in range(i_lo, i_hi + 1):
            ic = _u(i - in_x0)
            ox = pixmap[jr, ic, _U0]
            oy = pixmap[jr, ic, _U1]
            if not (ox > fx_lo and ox < fx_hi and oy > fy_lo and oy < fy_hi):
                nmiss += 1
                continue
            if has_hits:
                hits[jr, ic] = 1
            # ox > fx_lo >= -0.5 here (x_lo >= 0), and likewise oy.
            ii = round_above_half(ox)
            jj = round_above_half(oy)
            # dover = 1: the weight is float32(weight * wscale) itself.
            dow = np.float32(weights[jr, ic] * wscale)
            if dow != 0.0:
                p = _u((jj - win_y0) * win_nx + (ii - win_x0))
                if has_ctx and dow > 0.0:
                    ctx_f[p] |= ctx_bit
                wd = np.float64(dow)
                flux_f[p] += wd * np.float64(data[jr, ic] * iscale)
                wht_f[p] += wd
                if n_var > 0 or has_dq:
                    wy = _u(jj - win_y0)
                    wx = _u(ii - win_x0)
                    for k in range(n_var):
                        acc_var[k, wy, wx] += (wd * wd) * np.float64(data2[k, jr, ic] * iscale2)
                    if has_dq:
                        acc_dq[wy, wx] |= dq[jr, ic]
    return nmiss


@jit_inline
def _turbo_loop(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """Loop of the turbo kernel (see the module docstring); returns the per-pixel miss count.

    The overlap of the box [ox-pfo, ox+pfo] x [oy-pfo, oy+pfo] with output pixel
    (ii, jj) is ``dx(ii) * dy(jj)``; ``dx`` is computed once per column. A 2x2
    footprint without variance or DQ arrays (the usual case) takes a loop of fixed
    length instead of the nested ones: the same arithmetic, fewer branches.
    """
    win_ny, win_nx = acc_wht.shape
    x_lo, x_hi, y_lo, y_hi = _window_bounds(out_nx, out_ny, win_x0, win_y0, win_nx, win_ny)
    n_var = data2.shape[0]
    has_dq = dq.shape[0] > 0
    has_ctx = ctx.shape[0] > 0
    has_hits = hits.shape[0] > 0
    flux_f, wht_f, ctx_f = _flat_outputs(acc_flux, acc_wht, ctx)
    iscale2 = iscale * iscale
    d2 = np.zeros(n_var, dtype=np.float64)
    dqval = np.uint32(0)

    psr = np.float64(pscale_ratio)
    pfo = pixfrac / psr / 2.0
    dover_scale = (1.0 / (pixfrac * pixfrac)) * psr * psr
    bx = np.zeros(_footprint_capacity(pfo, win_nx), dtype=np.float64)

    nmiss = 0
    for j in range(row_lo, row_hi + 1):
        i_lo = max(x_first[j], col_lo)
        i_hi = min(x_last[j], col_hi)
        jr = _u(j - in_y0)
        for i in range(i_lo, i_hi + 1):
            ic = _u(i - in_x0)
            ox = pixmap[jr, ic, _U0]
            oy = pixmap[jr, ic, _U1]
            if math.isnan(ox) or math.isnan(oy):
                nmiss += 1
                continue
            bxlo = ox - pfo
            bxhi = ox + pfo
            bylo = oy - pfo
            byhi = oy + pfo
            ii_lo = max(round_half_away(bxlo), x_lo)
            ii_hi = min(round_half_away(bxhi), x_hi)
            jj_lo = max(round_half_away(bylo), y_lo)
            jj_hi = min(round_half_away(byhi), y_hi)
            if ii_lo > ii_hi or jj_lo > jj_hi:
                nmiss += 1
                continue
            w = np.float64(weights[jr, ic] * wscale)
            dd = np.float64(data[jr, ic] * iscale)
            for k in range(n_var):
                d2[k] = data2[k, jr, ic] * iscale2
            if has_dq:
                dqval = dq[jr, ic]
            nhit = 0
            if ii_hi - ii_lo == 1 and jj_hi - jj_lo == 1 and n_var == 0 and not has_dq:
                # The usual footprint (pixfrac / pscale_ratio near 1): 2x2 output pixels,
                # in a loop of fixed length that LLVM unrolls (same arithmetic as below).
                dx0 = min(bxhi, ii_lo + 0.5) - max(bxlo, ii_lo - 0.5)
                dx1 = min(bxhi, ii_hi + 0.5) - max(bxlo, ii_hi - 0.5)
                dy0 = min(byhi, jj_lo + 0.5) - max(bylo, jj_lo - 0.5)
                dy1 = min(byhi, jj_hi + 0.5) - max(bylo, jj_hi - 0.5)
                p0 = (jj_lo - win_y0) * win_nx + (ii_lo - win_x0)
                for k in range(4):
                    ddx = dx0 if k == 0 or k == 2 else dx1
                    ddy = dy0 if k < 2 else dy1
                    if ddy > 0.0 and ddx > 0.0:
                        dover = ddx * ddy
                        if dover > 0.0:
                            nhit += 1
                            dow = np.float32((dover * dover_scale) * w)
                            if dow != 0.0:
                                p = _u(p0 + (k & 1) + (win_nx if k >= 2 else 0))
                                if has_ctx and dow > 0.0:
                                    ctx_f[p] |= ctx_bit
                                wd = np.float64(dow)
                                flux_f[p] += wd * dd
                                wht_f[p] += wd
                if nhit == 0:
                    nmiss += 1
                elif has_hits:
                    hits[jr, ic] = 1
                continue
            for ii in range(ii_lo, ii_hi + 1):
                bx[_u(ii - ii_lo)] = min(bxhi, ii + 0.5) - max(bxlo, ii - 0.5)

            for jj in range(jj_lo, jj_hi + 1):
                ddy = min(byhi, jj + 0.5) - max(bylo, jj - 0.5)
                if not ddy > 0.0:
                    continue
                wy = _u(jj - win_y0)
                row = (jj - win_y0) * win_nx - win_x0
                for ii in range(ii_lo, ii_hi + 1):
                    ddx = bx[_u(ii - ii_lo)]
                    if not ddx > 0.0:
                        continue
                    dover = ddx * ddy
                    if not dover > 0.0:
                        continue
                    dover = dover * dover_scale
                    nhit += 1
                    dow = np.float32(dover * w)
                    if dow != 0.0:
                        p = _u(row + ii)
                        if has_ctx and dow > 0.0:
                            ctx_f[p] |= ctx_bit
                        wd = np.float64(dow)
                        flux_f[p] += wd * dd
                        wht_f[p] += wd
                        if n_var > 0 or has_dq:
                            wx = _u(ii - win_x0)
                            for k in range(n_var):
                                acc_var[k, wy, wx] += (wd * wd) * d2[k]
                            if has_dq:
                                acc_dq[wy, wx] |= dqval
            if nhit == 0:
                nmiss += 1
            elif has_hits:
                hits[jr, ic] = 1
    return nmiss


@jit_inline
def _gaussian_loop(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """Loop of the gaussian kernel (see the module docstring); returns the per-pixel miss count.

    The weight ``es * exp(-(dx^2 + dy^2) * efac)`` is evaluated in the separable
    form ``(es * exp(-dy^2 efac)) * exp(-dx^2 efac)`` with the factors computed
    once per column and row (all of them before the accumulation, so that the
    exponentials overlap): equal to the reference's value to ~1e-15 relative.
    """
    win_ny, win_nx = acc_wht.shape
    x_lo, x_hi, y_lo, y_hi = _window_bounds(out_nx, out_ny, win_x0, win_y0, win_nx, win_ny)
    n_var = data2.shape[0]
    has_dq = dq.shape[0] > 0
    has_ctx = ctx.shape[0] > 0
    has_hits = hits.shape[0] > 0
    flux_f, wht_f, ctx_f = _flat_outputs(acc_flux, acc_wht, ctx)
    iscale2 = iscale * iscale
    d2 = np.zeros(n_var, dtype=np.float64)
    dqval = np.uint32(0)

    psr = np.float64(pscale_ratio)
    pfo = GAUSSIAN_NSIG * pixfrac / FWHM_PER_SIGMA / psr
    if pfo < 1.2 / psr:
        pfo = 1.2 / psr
    efac = (FWHM_PER_SIGMA * FWHM_PER_SIGMA) * (psr * psr) * (1.0 / (pixfrac * pixfrac))
    efac = efac / 2.0
    es = efac / math.pi
    gx = np.zeros(_footprint_capacity(pfo, win_nx), dtype=np.float64)
    gys = np.zeros(_footprint_capacity(pfo, win_ny), dtype=np.float64)
    efrac, epow2 = exp_tables()

    nmiss = 0
    for j in range(row_lo, row_hi + 1):
        i_lo = max(x_first[j], col_lo)
        i_hi = min(x_last[j], col_hi)
        jr = _u(j - in_y0)
        for i in range(i_lo, i_hi + 1):
            ic = _u(i - in_x0)
            ox = pixmap[jr, ic, _U0]
            oy = pixmap[jr, ic, _U1]
            if math.isnan(ox) or math.isnan(oy):
                nmiss += 1
                continue
            ii_lo = max(round_half_away(ox - pfo), x_lo)
            ii_hi = min(round_half_away(ox + pfo), x_hi)
            jj_lo = max(round_half_away(oy - pfo), y_lo)
            jj_hi = min(round_half_away(oy + pfo), y_hi)
            if ii_lo > ii_hi or jj_lo > jj_hi:
                nmiss += 1
                continue
            if has_hits:
                hits[jr, ic] = 1
            w = np.float64(weights[jr, ic] * wscale)
            dd = np.float64(data[jr, ic] * iscale)
            for k in range(n_var):
                d2[k] = data2[k, jr, ic] * iscale2
            if has_dq:
                dqval = dq[jr, ic]
            # All factors first, in one loop: the exponentials are independent, so
            # they overlap in the pipeline.
            nx_f = ii_hi - ii_lo + 1
            ny_f = jj_hi - jj_lo + 1
            for k in range(max(nx_f, ny_f)):
                ku = _u(k)
                if k < nx_f:
                    ddx = ox - (ii_lo + k)
                    gx[ku] = exp_nonpos(-(ddx * ddx) * efac, efrac, epow2)
                if k < ny_f:
                    ddy = oy - (jj_lo + k)
                    gys[ku] = es * exp_nonpos(-(ddy * ddy) * efac, efrac, epow2)

            for jj in range(jj_lo, jj_hi + 1):
                gy = gys[_u(jj - jj_lo)]
                wy = _u(jj - win_y0)
                row = (jj - win_y0) * win_nx - win_x0
                for ii in range(ii_lo, ii_hi + 1):
                    dow = np.float32((gy * gx[_u(ii - ii_lo)]) * w)
                    if dow != 0.0:
                        p = _u(row + ii)
                        if has_ctx and dow > 0.0:
                            ctx_f[p] |= ctx_bit
                        wd = np.float64(dow)
                        flux_f[p] += wd * dd
                        wht_f[p] += wd
                        if n_var > 0 or has_dq:
                            wx = _u(ii - win_x0)
                            for k in range(n_var):
                                acc_var[k, wy, wx] += (wd * wd) * d2[k]
                            if has_dq:
                                acc_dq[wy, wx] |= dqval
    return nmiss


@jit_inline
def _lanczos_loop(
    order,
    data, weights, data2, dq, pixmap, in_x0, in_y0,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The lanczos kernel of ``order`` 2 or 3 (see the module docstring).

    The weight ``lut[ix] * lut[iy]`` is separable: the x factors are looked up
    once per column. Columns whose LUT index falls off the table get no weight;
    ``|ox - ii|`` is convex in ``ii`` and the index is monotone in it, so the
    columns that keep a weight form one contiguous range ``vx_lo..vx_hi``.
    It takes no ``in_nx, in_ny`` (unused here): CPython compiles calls with more
    than 30 positional arguments as ``f(*args)``, which Numba cannot inline.
    """
    win_ny, win_nx = acc_wht.shape
    x_lo, x_hi, y_lo, y_hi = _window_bounds(out_nx, out_ny, win_x0, win_y0, win_nx, win_ny)
    n_var = data2.shape[0]
    has_dq = dq.shape[0] > 0
    has_ctx = ctx.shape[0] > 0
    has_hits = hits.shape[0] > 0
    flux_f, wht_f, ctx_f = _flat_outputs(acc_flux, acc_wht, ctx)
    iscale2 = iscale * iscale
    d2 = np.zeros(n_var, dtype=np.float64)
    dqval = np.uint32(0)

    psr = np.float64(pscale_ratio)
    pfo = order / psr
    sdp = psr / LANCZOS_LUT_STEP
    lut = lanczos_lut(order)
    nlut = lut.shape[0]
    lx = np.zeros(_footprint_capacity(pfo, win_nx), dtype=np.float64)

    nmiss = 0
    for j in range(row_lo, row_hi + 1):
        i_lo = max(x_first[j], col_lo)
        i_hi = min(x_last[j], col_hi)
        jr = _u(j - in_y0)
        for i in range(i_lo, i_hi + 1):
            ic = _u(i - in_x0)
            ox = pixmap[jr, ic, _U0]
            oy = pixmap[jr, ic, _U1]
            if math.isnan(ox) or math.isnan(oy):
                nmiss += 1
                continue
            ii_lo = max(int(math.floor(ox - pfo)) + 1, x_lo)
            ii_hi = min(int(math.floor(ox + pfo)), x_hi)
            jj_lo = max(int(math.floor(oy - pfo)) + 1, y_lo)
            jj_hi = min(int(math.floor(oy + pfo)), y_hi)
            vx_lo = ii_hi + 1
            vx_hi = ii_hi  # empty (vx_lo > vx_hi) unless a column keeps a weight
            for ii in range(ii_lo, ii_hi + 1):
                ix = round_above_half(abs((ox - ii) * sdp))
                if ix < nlut:
                    lx[_u(ii - ii_lo)] = lut[_u(ix)]
                    if ii < vx_lo:
                        vx_lo = ii
                    vx_hi = ii
            if vx_lo > vx_hi or jj_lo > jj_hi:
                nmiss += 1
                continue
            w = np.float64(weights[jr, ic] * wscale)
            dd = np.float64(data[jr, ic] * iscale)
            for k in range(n_var):
                d2[k] = data2[k, jr, ic] * iscale2
            if has_dq:
                dqval = dq[jr, ic]

            nhit = 0
            for jj in range(jj_lo, jj_hi + 1):
                iy = round_above_half(abs((oy - jj) * sdp))
                if iy >= nlut:
                    continue
                ly = lut[_u(iy)]
                nhit += 1
                wy = _u(jj - win_y0)
                row = (jj - win_y0) * win_nx - win_x0
                for ii in range(vx_lo, vx_hi + 1):
                    dow = np.float32((lx[_u(ii - ii_lo)] * ly) * w)
                    if dow != 0.0:
                        p = _u(row + ii)
                        if has_ctx and dow > 0.0:
                            ctx_f[p] |= ctx_bit
                        wd = np.float64(dow)
                        flux_f[p] += wd * dd
                        wht_f[p] += wd
                        if n_var > 0 or has_dq:
                            wx = _u(ii - win_x0)
                            for k in range(n_var):
                                acc_var[k, wy, wx] += (wd * wd) * d2[k]
                            if has_dq:
                                acc_dq[wy, wx] |= dqval
            if nhit == 0:
                nmiss += 1
            elif has_hits:
                hits[jr, ic] = 1
    return nmiss


def _by_planes(plain, full, args):
    """Call ``plain`` for an input without variance or DQ planes, else ``full``.

    Each kernel is compiled as two copies of its loop, each on first use: in the
    plain copy a test tells LLVM there is no variance or DQ work and it drops it
    (about 15 % faster). One function holding both copies took twice as long to
    compile (the square kernel: about 40 s on the development machine).
    """
    data2, dq = args[2], args[3]
    if data2.shape[0] == 0 and dq.shape[0] == 0:
        return plain(*args)
    return full(*args)


# --- entry points: generated by tools/kernel_entry_points.py; do not edit ---


@jit_c
def _drizzle_square_plain(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The square loop for inputs without variance or DQ planes (see ``_by_planes``)."""
    if data2.shape[0] == 0 and dq.shape[0] == 0:
        return _square_loop(
            data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
            row_lo, row_hi, col_lo, col_hi, x_first, x_last,
            out_nx, out_ny, win_x0, win_y0,
            acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
            iscale, wscale, pixfrac, pscale_ratio, hits,
        )  # fmt: skip
    return -1


@jit_c
def _drizzle_square_full(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The square loop for any input."""
    return _square_loop(
        data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
        row_lo, row_hi, col_lo, col_hi, x_first, x_last,
        out_nx, out_ny, win_x0, win_y0,
        acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
        iscale, wscale, pixfrac, pscale_ratio, hits,
    )  # fmt: skip


def drizzle_square(*args):
    """The square kernel (see the module docstring); returns the per-pixel miss count."""
    return _by_planes(_drizzle_square_plain, _drizzle_square_full, args)


@jit_c
def _drizzle_point_plain(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The point loop for inputs without variance or DQ planes (see ``_by_planes``)."""
    if data2.shape[0] == 0 and dq.shape[0] == 0:
        return _point_loop(
            data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
            row_lo, row_hi, col_lo, col_hi, x_first, x_last,
            out_nx, out_ny, win_x0, win_y0,
            acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
            iscale, wscale, pixfrac, pscale_ratio, hits,
        )  # fmt: skip
    return -1


@jit_c
def _drizzle_point_full(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The point loop for any input."""
    return _point_loop(
        data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
        row_lo, row_hi, col_lo, col_hi, x_first, x_last,
        out_nx, out_ny, win_x0, win_y0,
        acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
        iscale, wscale, pixfrac, pscale_ratio, hits,
    )  # fmt: skip


def drizzle_point(*args):
    """The point kernel (see the module docstring); returns the per-pixel miss count."""
    return _by_planes(_drizzle_point_plain, _drizzle_point_full, args)


@jit_c
def _drizzle_turbo_plain(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The turbo loop for inputs without variance or DQ planes (see ``_by_planes``)."""
    if data2.shape[0] == 0 and dq.shape[0] == 0:
        return _turbo_loop(
            data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
            row_lo, row_hi, col_lo, col_hi, x_first, x_last,
            out_nx, out_ny, win_x0, win_y0,
            acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
            iscale, wscale, pixfrac, pscale_ratio, hits,
        )  # fmt: skip
    return -1


@jit_c
def _drizzle_turbo_full(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The turbo loop for any input."""
    return _turbo_loop(
        data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
        row_lo, row_hi, col_lo, col_hi, x_first, x_last,
        out_nx, out_ny, win_x0, win_y0,
        acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
        iscale, wscale, pixfrac, pscale_ratio, hits,
    )  # fmt: skip


def drizzle_turbo(*args):
    """The turbo kernel (see the module docstring); returns the per-pixel miss count."""
    return _by_planes(_drizzle_turbo_plain, _drizzle_turbo_full, args)


@jit_c
def _drizzle_gaussian_plain(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The gaussian loop for inputs without variance or DQ planes (see ``_by_planes``)."""
    if data2.shape[0] == 0 and dq.shape[0] == 0:
        return _gaussian_loop(
            data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
            row_lo, row_hi, col_lo, col_hi, x_first, x_last,
            out_nx, out_ny, win_x0, win_y0,
            acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
            iscale, wscale, pixfrac, pscale_ratio, hits,
        )  # fmt: skip
    return -1


@jit_c
def _drizzle_gaussian_full(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The gaussian loop for any input."""
    return _gaussian_loop(
        data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
        row_lo, row_hi, col_lo, col_hi, x_first, x_last,
        out_nx, out_ny, win_x0, win_y0,
        acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
        iscale, wscale, pixfrac, pscale_ratio, hits,
    )  # fmt: skip


def drizzle_gaussian(*args):
    """The gaussian kernel (see the module docstring); returns the per-pixel miss count."""
    return _by_planes(_drizzle_gaussian_plain, _drizzle_gaussian_full, args)


@jit_c
def _drizzle_lanczos2_plain(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The lanczos2 loop for inputs without variance or DQ planes (see ``_by_planes``)."""
    if data2.shape[0] == 0 and dq.shape[0] == 0:
        return _lanczos_loop(
            2,
            data, weights, data2, dq, pixmap, in_x0, in_y0,
            row_lo, row_hi, col_lo, col_hi, x_first, x_last,
            out_nx, out_ny, win_x0, win_y0,
            acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
            iscale, wscale, pixfrac, pscale_ratio, hits,
        )  # fmt: skip
    return -1


@jit_c
def _drizzle_lanczos2_full(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The lanczos2 loop for any input."""
    return _lanczos_loop(
        2,
        data, weights, data2, dq, pixmap, in_x0, in_y0,
        row_lo, row_hi, col_lo, col_hi, x_first, x_last,
        out_nx, out_ny, win_x0, win_y0,
        acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
        iscale, wscale, pixfrac, pscale_ratio, hits,
    )  # fmt: skip


def drizzle_lanczos2(*args):
    """The lanczos2 kernel (see the module docstring); returns the per-pixel miss count."""
    return _by_planes(_drizzle_lanczos2_plain, _drizzle_lanczos2_full, args)


@jit_c
def _drizzle_lanczos3_plain(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The lanczos3 loop for inputs without variance or DQ planes (see ``_by_planes``)."""
    if data2.shape[0] == 0 and dq.shape[0] == 0:
        return _lanczos_loop(
            3,
            data, weights, data2, dq, pixmap, in_x0, in_y0,
            row_lo, row_hi, col_lo, col_hi, x_first, x_last,
            out_nx, out_ny, win_x0, win_y0,
            acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
            iscale, wscale, pixfrac, pscale_ratio, hits,
        )  # fmt: skip
    return -1


@jit_c
def _drizzle_lanczos3_full(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio, hits,
):  # fmt: skip
    """The lanczos3 loop for any input."""
    return _lanczos_loop(
        3,
        data, weights, data2, dq, pixmap, in_x0, in_y0,
        row_lo, row_hi, col_lo, col_hi, x_first, x_last,
        out_nx, out_ny, win_x0, win_y0,
        acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
        iscale, wscale, pixfrac, pscale_ratio, hits,
    )  # fmt: skip


def drizzle_lanczos3(*args):
    """The lanczos3 kernel (see the module docstring); returns the per-pixel miss count."""
    return _by_planes(_drizzle_lanczos3_plain, _drizzle_lanczos3_full, args)


# --- end of generated entry points ---
