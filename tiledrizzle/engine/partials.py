"""Partial sums of one input over one output window (the whole output, or one tile).

``drizzle_window`` runs a drizzle kernel for one input onto one window and
returns ``WindowSums``: Σ w·d, Σ w, Σ w²·d2 in float64, the OR of input DQ and
the context bits. Nothing here divides; ``reduce.merge_window`` does that once.
``drizzle_rolling`` (the facade's untiled path) runs it band by band of input
rows over a window of output rows that rolls down the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tiledrizzle.core.kernel_input import EMPTY_CTX, EMPTY_DQ, EMPTY_HITS, PreparedInput
from tiledrizzle.engine.scan import ScanPlan
from tiledrizzle.kernels.footprint import band_row_extent
from tiledrizzle.kernels.reach import halo_for, kernel_reach
from tiledrizzle.kernels.registry import KERNELS


@dataclass
class WindowSums:
    """Partial sums over an output window with origin (y0, x0)."""

    y0: int
    x0: int
    flux: np.ndarray
    wht: np.ndarray
    var: np.ndarray
    dq: np.ndarray
    ctx: np.ndarray

    @property
    def slices(self):
        """``(rows, cols)`` of the window in the output."""
        ny, nx = self.wht.shape
        return slice(self.y0, self.y0 + ny), slice(self.x0, self.x0 + nx)

    @classmethod
    def zeros(cls, y0, x0, shape, n_var, with_dq, with_ctx):
        ny, nx = shape
        return cls(
            y0,
            x0,
            np.zeros((ny, nx), dtype=np.float64),
            np.zeros((ny, nx), dtype=np.float64),
            np.zeros((n_var, ny, nx), dtype=np.float64),
            np.zeros((ny, nx), dtype=np.uint32) if with_dq else EMPTY_DQ,
            np.zeros((ny, nx), dtype=np.int32) if with_ctx else EMPTY_CTX,
        )


def drizzle_window(
    inp: PreparedInput, scan: ScanPlan, out_shape, sums: WindowSums, ctx_bit=1, rows=None
):
    """Deposit ``inp`` into ``sums`` (in place); returns the per-pixel miss count.

    ``ctx_bit`` is the int32 bit value that marks this input in ``sums.ctx``.
    ``rows = (first, last)`` restricts the scan to those input rows (inclusive).
    """
    row_first, row_last = scan.row_first, scan.row_last
    if rows is not None:
        row_first, row_last = max(row_first, rows[0]), min(row_last, rows[1])
    if not scan.drizzles or row_last < row_first:
        return 0
    in_ny, in_nx = inp.shape
    out_ny, out_nx = out_shape
    return int(
        KERNELS[inp.kernel].run(
            inp.data,
            inp.weights,
            inp.data2,
            inp.dq,
            inp.pixmap,
            0,
            0,
            in_nx,
            in_ny,
            row_first,
            row_last,
            0,
            in_nx - 1,
            scan.x_first,
            scan.x_last,
            out_nx,
            out_ny,
            sums.x0,
            sums.y0,
            sums.flux,
            sums.wht,
            sums.var,
            sums.ctx,
            np.int32(ctx_bit),
            sums.dq,
            inp.iscale,
            inp.wscale,
            float(inp.pixfrac),
            inp.pscale_ratio,
            EMPTY_HITS,
        )  # fmt: skip
    )


def rolling_capacity(bands, out_ny):
    """Rows of the rolling window ``drizzle_rolling`` needs for ``bands`` (at most ``out_ny``)."""
    suffix_lo = _suffix_lo(bands, out_ny)
    w0 = w1 = need = 0
    for b, (_r0, _r1, lo, hi) in enumerate(bands):
        if w0 == w1:
            w0 = w1 = max(w0, suffix_lo[b])
        if lo <= hi:
            w1 = max(w1, hi + 1)
        need = max(need, w1 - w0)
        w0 = max(w0, min(suffix_lo[b + 1], w1))
    return max(min(need, out_ny), 1)


def _suffix_lo(bands, out_ny):
    """``suffix_lo[b]``: the lowest output row that bands ``b..`` can reach (``out_ny``: none)."""
    suffix_lo = [out_ny] * (len(bands) + 1)
    for b in range(len(bands) - 1, -1, -1):
        _r0, _r1, lo, hi = bands[b]
        suffix_lo[b] = min(suffix_lo[b + 1], lo) if lo <= hi else suffix_lo[b + 1]
    return suffix_lo


def drizzle_rolling(
    inp: PreparedInput, scan: ScanPlan, out_shape, bands, flush, ctx=None, ctx_bit=1
):
    """Drizzle ``inp`` band by band of input rows; hand over each output row's sums once final.

    ``bands`` lists ``(r0, r1, lo, hi)`` in increasing row order: input rows
    ``r0..r1`` put weight only into output rows ``lo..hi`` (``lo > hi``: none).
    The partial sums live in a window of output rows that rolls down the output
    with the bands: once no later band can reach a row, its sums are final and
    ``flush(WindowSums)`` receives them (full output width, rows in increasing
    order, every row at most once; rows no band reaches are never handed over).
    Provided every band's ``lo..hi`` holds all the output rows it reaches, the
    result is that of one pass over the whole output with the sums flushed at the
    end (each output pixel gets the same contributions in the same order), while
    the sums take a few output rows instead of the whole output: no whole-output
    float64 arrays to allocate (and fault in), and sums that stay in cache.

    ``ctx`` is the output's context plane (``(out_ny, out_nx)`` int32, bits set in
    place with ``ctx_bit``) or None. Returns the per-pixel miss count.
    """
    out_ny, out_nx = out_shape
    n_var = inp.data2.shape[0]
    with_dq = inp.dq.shape[0] > 0
    cap = rolling_capacity(bands, out_ny)
    buf = WindowSums.zeros(0, 0, (cap, out_nx), n_var, with_dq, False)
    suffix_lo = _suffix_lo(bands, out_ny)
    arrays = [buf.flux, buf.wht] + [buf.var[k] for k in range(n_var)]
    if with_dq:
        arrays.append(buf.dq)
    # Output rows w0..w1-1 hold pending sums, at buffer rows (w0 - s).. of the window
    # that starts at output row s; every other buffer row is zero.
    s = w0 = w1 = 0
    nmiss = 0
    for b, (r0, r1, lo, hi) in enumerate(bands):
        if w0 == w1:
            w0 = w1 = max(w0, suffix_lo[b])
            s = _move_window(arrays, s, min(w0, out_ny - cap), w0, w1)
        if lo <= hi:
            w1 = max(w1, hi + 1)
        buf.y0 = s
        buf.ctx = EMPTY_CTX if ctx is None else ctx[s : s + cap]
        nmiss += drizzle_window(inp, scan, out_shape, buf, ctx_bit, rows=(r0, r1))
        final = min(suffix_lo[b + 1], w1)
        if final > w0:
            a, z = w0 - s, final - s
            var = buf.var[:, a:z]
            flush(
                WindowSums(
                    w0, 0, buf.flux[a:z], buf.wht[a:z],
                    var if n_var == 0 else np.ascontiguousarray(var),
                    buf.dq[a:z] if with_dq else EMPTY_DQ, EMPTY_CTX,
                )
            )  # fmt: skip
            for arr in arrays:
                arr[a:z] = 0
            w0 = final
            s = _move_window(arrays, s, min(w0, out_ny - cap), w0, w1)
    return nmiss


def _move_window(arrays, s, s_new, w0, w1):
    """Move the window start from output row ``s`` to ``s_new`` (>= s); returns ``s_new``.

    The pending rows ``w0..w1-1`` move with their data; the rows they leave become zero.
    """
    if s_new <= s:
        return s
    if w1 > w0:
        for arr in arrays:
            arr[w0 - s_new : w1 - s_new] = arr[w0 - s : w1 - s]
            arr[max(w1 - s_new, w0 - s) : w1 - s] = 0
    return s_new


def rolling_bands(exposure, out_shape, band_rows):
    """Bands of ``band_rows`` input rows and the output rows each can reach.

    Returns ``[(r0, r1, lo, hi), ...]`` for ``partials.drizzle_rolling``: input
    rows ``r0..r1`` (within the scan) put weight only into output rows
    ``lo..hi`` (``lo > hi``: none). The bound is the band's extent in output y
    over its rows and ``halo_for(pixfrac)`` neighbour rows, widened by how far
    the kernel reaches beyond it (``_rolling_reach``); where it is not finite
    the band may reach any row.
    """
    inp = exposure.inp
    out_ny = out_shape[0]
    row_first, row_last = exposure.row_first, exposure.row_last
    if row_last < row_first:
        return []
    square = inp.kernel == "square"
    step_mode = (2 if inp.pixfrac > 2.0 else 1) if square else 0
    extent = band_row_extent(
        inp.pixmap, row_first, row_last, band_rows, halo_for(inp.pixfrac), step_mode
    )
    bands = []
    for k in range(extent.shape[0]):
        b = row_first // band_rows + k
        r0, r1 = max(b * band_rows, row_first), min((b + 1) * band_rows - 1, row_last)
        y_min, y_max, step = (float(v) for v in extent[k])
        if not y_min <= y_max:
            bands.append((r0, r1, 1, 0))  # no finite pixmap value: nothing lands
            continue
        reach = _rolling_reach(inp, step)
        lo_f, hi_f = y_min - reach, y_max + reach
        if not lo_f <= hi_f:  # NaN reach: any row
            lo, hi = 0, out_ny - 1
        else:
            lo = math.floor(min(max(lo_f, 0.0), float(out_ny)))
            hi = math.ceil(max(min(hi_f, out_ny - 1.0), -1.0))
        bands.append((r0, r1, lo, hi))
    return bands


def _rolling_reach(inp, step):
    """How far (output rows) beyond the pixmap's y extent a kernel can put weight.

    Square: a corner is a bilinear evaluation of the pixmap at offsets up to
    ``dh = pixfrac / 2`` outside its cell (at the input's edges, or everywhere when
    ``pixfrac > 2``), which strays from the cell's values by at most
    ``(2 dh + 2 dh**2) step`` (``step``: the largest y change between neighbours
    there; interior corners with ``pixfrac <= 2`` are convex combinations of
    their neighbours and stray not at all). Other kernels: their reach from the
    mapped centre (``plan.kernel_reach``). Plus the rounding margin.
    """
    return kernel_reach(inp.kernel, inp.pixfrac, inp.pscale_ratio, step)
