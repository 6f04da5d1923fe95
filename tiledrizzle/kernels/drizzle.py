"""The six drizzle kernels: square, point, turbo, gaussian, lanczos2, lanczos3.

All kernels share one loop (``drizzle_kernel``) and one accumulate step; they
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

The accumulate step deposits *partial sums* into an output window (the whole
output for the facade, one tile for the tiled engine):

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
iscale, wscale : float32; pixfrac : float64; pscale_ratio : float32.

Returns the number of visited input pixels that put no weight in the window
(the reference's per-pixel ``nmiss`` when the window is the whole output).
"""

import math

import numpy as np

from ._jit import jit, jit_inline, round_half_away
from .overlap import box_pixel_overlap, quad_pixel_overlap

SQUARE, POINT, TURBO, GAUSSIAN, LANCZOS2, LANCZOS3 = 0, 1, 2, 3, 4, 5

KERNELS_NEEDING_SCALE = ("turbo", "gaussian", "lanczos2", "lanczos3")
"""Kernels whose footprint size depends on the pixel scale ratio."""

NON_FLUX_CONSERVING = ("gaussian", "lanczos2", "lanczos3")

LANCZOS_LUT_STEP = 0.003
GAUSSIAN_NSIG = 2.5
FWHM_PER_SIGMA = 2.3548


@jit_inline
def _bilinear_pixmap(pixmap, px0, py0, in_nx, in_ny, xin, yin):
    """Pixmap interpolated at a fractional input position (extrapolated from the edge cell)."""
    i0 = min(max(int(xin), 0), in_nx - 2)
    j0 = min(max(int(yin), 0), in_ny - 2)
    x = xin - i0
    y = yin - j0
    x1 = 1.0 - x
    y1 = 1.0 - y
    a = j0 - py0
    b = i0 - px0
    xo = (
        pixmap[a, b, 0] * x1 * y1
        + pixmap[a, b + 1, 0] * x * y1
        + pixmap[a + 1, b, 0] * x1 * y
        + pixmap[a + 1, b + 1, 0] * x * y
    )
    yo = (
        pixmap[a, b, 1] * x1 * y1
        + pixmap[a, b + 1, 1] * x * y1
        + pixmap[a + 1, b, 1] * x1 * y
        + pixmap[a + 1, b + 1, 1] * x * y
    )
    return xo, yo


@jit_inline
def _corners_interior(pixmap, a, b, c, dh):
    """One coordinate (c = 0: x, 1: y) of the 4 shrunken-pixel corners from the 3x3 neighbours.

    ``(a, b)`` is the array index of the lower-left neighbour. Corners run
    (-dh,+dh), (+dh,+dh), (+dh,-dh), (-dh,-dh) in input (x, y).
    """
    hc = (1.0 - dh) * (1.0 - dh)
    he = (1.0 - dh) * dh
    hh = dh * dh
    f00 = pixmap[a, b, c] * hh
    f10 = pixmap[a, b + 1, c] * he
    f20 = pixmap[a, b + 2, c] * hh
    f01 = pixmap[a + 1, b, c] * he
    f11 = pixmap[a + 1, b + 1, c] * hc
    f21 = pixmap[a + 1, b + 2, c] * he
    f02 = pixmap[a + 2, b, c] * hh
    f12 = pixmap[a + 2, b + 1, c] * he
    f22 = pixmap[a + 2, b + 2, c] * hh
    return (
        f01 + f11 + f02 + f12,
        f11 + f21 + f12 + f22,
        f10 + f20 + f11 + f21,
        f00 + f10 + f01 + f11,
    )


@jit
def lanczos_lut(order):
    """Lanczos(order) sampled every LANCZOS_LUT_STEP from 0 to order (inclusive)."""
    n = int(math.ceil(order / LANCZOS_LUT_STEP)) + 1
    lut = np.zeros(n, dtype=np.float64)
    lut[0] = 1.0
    for k in range(1, n):
        x = k * LANCZOS_LUT_STEP
        if x <= order:
            poff = math.pi * x
            r = poff / order
            lut[k] = math.sin(poff) * math.sin(r) / (poff * r)
    return lut


@jit_inline
def _drizzle_loop(
    kind,
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio,
):  # fmt: skip
    """Drizzle input pixels onto an output window with kernel ``kind`` (see module doc).

    Inlined into one entry point per kernel, where ``kind`` is a constant, so
    the compiled loop of each kernel carries no branches of the others.
    """
    win_ny, win_nx = acc_wht.shape
    win_x1 = win_x0 + win_nx - 1
    win_y1 = win_y0 + win_ny - 1
    n_var = data2.shape[0]
    has_dq = dq.shape[0] > 0
    has_ctx = ctx.shape[0] > 0
    iscale2 = iscale * iscale
    d2 = np.zeros(n_var, dtype=np.float32)
    dqval = np.uint32(0)

    # Per-kernel constants, in the reference's precision and order of operations.
    psr = np.float64(pscale_ratio)
    dh = 0.5 * pixfrac
    pfo = 0.0
    dover_scale = 1.0
    gauss_efac = 0.0
    gauss_es = 0.0
    sdp = 0.0
    if kind == TURBO:
        pfo = pixfrac / psr / 2.0
        dover_scale = (1.0 / (pixfrac * pixfrac)) * psr * psr
    elif kind == GAUSSIAN:
        pfo = GAUSSIAN_NSIG * pixfrac / FWHM_PER_SIGMA / psr
        if pfo < 1.2 / psr:
            pfo = 1.2 / psr
        gauss_efac = (FWHM_PER_SIGMA * FWHM_PER_SIGMA) * (psr * psr) * (1.0 / (pixfrac * pixfrac))
        gauss_efac = gauss_efac / 2.0
        gauss_es = gauss_efac / math.pi
    elif kind == LANCZOS2 or kind == LANCZOS3:
        order = 2 if kind == LANCZOS2 else 3
        pfo = order / psr
        sdp = psr / LANCZOS_LUT_STEP
    lut = lanczos_lut(2 if kind == LANCZOS2 else 3)
    nlut = lut.shape[0]

    nmiss = 0
    for j in range(row_lo, row_hi + 1):
        i_lo = max(x_first[j], col_lo)
        i_hi = min(x_last[j], col_hi)
        jr = j - in_y0
        for i in range(i_lo, i_hi + 1):
            ic = i - in_x0
            # -- footprint of input pixel (i, j) on the output: ii_lo..ii_hi x jj_lo..jj_hi
            x0 = x1 = x2 = x3 = y0 = y1 = y2 = y3 = 0.0
            ox = pixmap[jr, ic, 0]
            oy = pixmap[jr, ic, 1]
            if kind == SQUARE:
                if i > 0 and i < in_nx - 2 and j > 0 and j < in_ny - 2:
                    x0, x1, x2, x3 = _corners_interior(pixmap, jr - 1, ic - 1, 0, dh)
                    y0, y1, y2, y3 = _corners_interior(pixmap, jr - 1, ic - 1, 1, dh)
                else:
                    x0, y0 = _bilinear_pixmap(pixmap, in_x0, in_y0, in_nx, in_ny, i - dh, j + dh)
                    x1, y1 = _bilinear_pixmap(pixmap, in_x0, in_y0, in_nx, in_ny, i + dh, j + dh)
                    x2, y2 = _bilinear_pixmap(pixmap, in_x0, in_y0, in_nx, in_ny, i + dh, j - dh)
                    x3, y3 = _bilinear_pixmap(pixmap, in_x0, in_y0, in_nx, in_ny, i - dh, j - dh)
                if (
                    math.isnan(x0) or math.isnan(x1) or math.isnan(x2) or math.isnan(x3)
                    or math.isnan(y0) or math.isnan(y1) or math.isnan(y2) or math.isnan(y3)
                ):  # fmt: skip
                    nmiss += 1
                    continue
                jaco = 0.5 * ((x1 - x3) * (y0 - y2) - (x0 - x2) * (y1 - y3))
                w = (weights[jr, ic] * wscale) / jaco
                ii_lo = round_half_away(min(x0, x1, x2, x3))
                ii_hi = round_half_away(max(x0, x1, x2, x3))
                jj_lo = round_half_away(min(y0, y1, y2, y3))
                jj_hi = round_half_away(max(y0, y1, y2, y3))
            else:
                if math.isnan(ox) or math.isnan(oy):
                    nmiss += 1
                    continue
                w = np.float64(weights[jr, ic] * wscale)
                if kind == POINT:
                    ii_lo = ii_hi = round_half_away(ox)
                    jj_lo = jj_hi = round_half_away(oy)
                elif kind == LANCZOS2 or kind == LANCZOS3:
                    ii_lo = int(math.floor(ox - pfo)) + 1
                    ii_hi = int(math.floor(ox + pfo))
                    jj_lo = int(math.floor(oy - pfo)) + 1
                    jj_hi = int(math.floor(oy + pfo))
                else:
                    ii_lo = round_half_away(ox - pfo)
                    ii_hi = round_half_away(ox + pfo)
                    jj_lo = round_half_away(oy - pfo)
                    jj_hi = round_half_away(oy + pfo)
            ii_lo = max(ii_lo, 0, win_x0)
            ii_hi = min(ii_hi, out_nx - 1, win_x1)
            jj_lo = max(jj_lo, 0, win_y0)
            jj_hi = min(jj_hi, out_ny - 1, win_y1)

            d = data[jr, ic] * iscale
            for k in range(n_var):
                d2[k] = data2[k, jr, ic] * iscale2
            if has_dq:
                dqval = dq[jr, ic]

            # -- overlap weight of each output pixel, then the shared accumulate step
            nhit = 0
            for jj in range(jj_lo, jj_hi + 1):
                iy = 0
                if kind == LANCZOS2 or kind == LANCZOS3:
                    iy = round_half_away(abs((oy - jj) * sdp))
                    if iy >= nlut:
                        continue
                for ii in range(ii_lo, ii_hi + 1):
                    if kind == SQUARE:
                        dover = quad_pixel_overlap(ii, jj, x0, x1, x2, x3, y0, y1, y2, y3)
                        if dover == 0.0:
                            continue
                    elif kind == POINT:
                        dover = 1.0
                    elif kind == TURBO:
                        dover = box_pixel_overlap(ii, jj, ox - pfo, ox + pfo, oy - pfo, oy + pfo)
                        if not dover > 0.0:
                            continue
                        dover = dover * dover_scale
                    elif kind == GAUSSIAN:
                        ddx = ox - ii
                        ddy = oy - jj
                        dover = gauss_es * math.exp(-(ddx * ddx + ddy * ddy) * gauss_efac)
                    else:
                        ix = round_half_away(abs((ox - ii) * sdp))
                        if ix >= nlut:
                            continue
                        dover = lut[ix] * lut[iy]
                    nhit += 1
                    dow = np.float32(dover * w)
                    wy = jj - win_y0
                    wx = ii - win_x0
                    if has_ctx and dow > 0.0:
                        ctx[wy, wx] |= ctx_bit
                    if dow != 0.0:
                        wd = np.float64(dow)
                        acc_flux[wy, wx] += wd * np.float64(d)
                        acc_wht[wy, wx] += wd
                        for k in range(n_var):
                            acc_var[k, wy, wx] += (wd * wd) * np.float64(d2[k])
                        if has_dq:
                            acc_dq[wy, wx] |= dqval
            if nhit == 0:
                nmiss += 1
    return nmiss


@jit
def drizzle_square(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio,
):  # fmt: skip
    """The square kernel (see the module docstring); returns the per-pixel miss count."""
    return _drizzle_loop(
        SQUARE,
        data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
        row_lo, row_hi, col_lo, col_hi, x_first, x_last,
        out_nx, out_ny, win_x0, win_y0,
        acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
        iscale, wscale, pixfrac, pscale_ratio,
    )  # fmt: skip


@jit
def drizzle_point(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio,
):  # fmt: skip
    """The point kernel (see the module docstring); returns the per-pixel miss count."""
    return _drizzle_loop(
        POINT,
        data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
        row_lo, row_hi, col_lo, col_hi, x_first, x_last,
        out_nx, out_ny, win_x0, win_y0,
        acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
        iscale, wscale, pixfrac, pscale_ratio,
    )  # fmt: skip


@jit
def drizzle_turbo(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio,
):  # fmt: skip
    """The turbo kernel (see the module docstring); returns the per-pixel miss count."""
    return _drizzle_loop(
        TURBO,
        data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
        row_lo, row_hi, col_lo, col_hi, x_first, x_last,
        out_nx, out_ny, win_x0, win_y0,
        acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
        iscale, wscale, pixfrac, pscale_ratio,
    )  # fmt: skip


@jit
def drizzle_gaussian(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio,
):  # fmt: skip
    """The gaussian kernel (see the module docstring); returns the per-pixel miss count."""
    return _drizzle_loop(
        GAUSSIAN,
        data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
        row_lo, row_hi, col_lo, col_hi, x_first, x_last,
        out_nx, out_ny, win_x0, win_y0,
        acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
        iscale, wscale, pixfrac, pscale_ratio,
    )  # fmt: skip


@jit
def drizzle_lanczos2(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio,
):  # fmt: skip
    """The lanczos2 kernel (see the module docstring); returns the per-pixel miss count."""
    return _drizzle_loop(
        LANCZOS2,
        data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
        row_lo, row_hi, col_lo, col_hi, x_first, x_last,
        out_nx, out_ny, win_x0, win_y0,
        acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
        iscale, wscale, pixfrac, pscale_ratio,
    )  # fmt: skip


@jit
def drizzle_lanczos3(
    data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
    row_lo, row_hi, col_lo, col_hi, x_first, x_last,
    out_nx, out_ny, win_x0, win_y0,
    acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
    iscale, wscale, pixfrac, pscale_ratio,
):  # fmt: skip
    """The lanczos3 kernel (see the module docstring); returns the per-pixel miss count."""
    return _drizzle_loop(
        LANCZOS3,
        data, weights, data2, dq, pixmap, in_x0, in_y0, in_nx, in_ny,
        row_lo, row_hi, col_lo, col_hi, x_first, x_last,
        out_nx, out_ny, win_x0, win_y0,
        acc_flux, acc_wht, acc_var, ctx, ctx_bit, acc_dq,
        iscale, wscale, pixfrac, pscale_ratio,
    )  # fmt: skip


DRIZZLE_KERNELS = {
    "square": drizzle_square,
    "point": drizzle_point,
    "turbo": drizzle_turbo,
    "gaussian": drizzle_gaussian,
    "lanczos2": drizzle_lanczos2,
    "lanczos3": drizzle_lanczos3,
}
"""Kernel name -> kernel entry point; all share one signature (see the module docstring)."""
