"""Partial sums of one input over one output window (the whole output, or one tile).

``drizzle_window`` runs a drizzle kernel for one input onto one window and
returns ``WindowSums``: Σ w·d, Σ w, Σ w²·d2 in float64, the OR of input DQ and
the context bits. Nothing here divides; ``reduce.merge_window`` does that once.
``drizzle_rolling`` (the facade's untiled path) runs it band by band of input
rows over a window of output rows that rolls down the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels._jit import jit
from .kernels.drizzle import DRIZZLE_KERNELS
from .scanlines import ScanPlan

EMPTY_DQ = np.zeros((0, 0), dtype=np.uint32)
EMPTY_CTX = np.zeros((0, 0), dtype=np.int32)
EMPTY_HITS = np.zeros((0, 0), dtype=np.uint8)


@dataclass(frozen=True)
class PreparedInput:
    """One input ready for the kernels: arrays in kernel dtypes and scalar options.

    ``data2`` is (k, ny, nx) float32 (k may be 0). ``dq`` is uint32 or ``EMPTY_DQ``.
    ``iscale``, ``wscale`` and ``pscale_ratio`` are float32, as the reference uses them.
    """

    data: np.ndarray
    weights: np.ndarray
    data2: np.ndarray
    dq: np.ndarray
    pixmap: np.ndarray
    kernel: str
    iscale: np.float32
    wscale: np.float32
    pixfrac: float
    pscale_ratio: np.float32

    @property
    def shape(self):
        return self.data.shape


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
        DRIZZLE_KERNELS[inp.kernel](
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


def context_bit(bit_no: int) -> np.int32:
    """The int32 value with bit ``bit_no`` (0..31) set; bit 31 is the sign bit."""
    return np.array(1 << bit_no, dtype=np.uint32).view(np.int32)[()]


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


@jit
def fill_no_weight(img, wht, fill):
    """``img[wht == 0] = fill`` in one pass (2-D arrays of the same shape)."""
    ny, nx = wht.shape
    for y in range(ny):
        yu = np.uint64(y)
        for x in range(nx):
            xu = np.uint64(x)
            if wht[yu, xu] == 0.0:
                img[yu, xu] = fill
