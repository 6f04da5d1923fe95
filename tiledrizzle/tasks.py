"""The per-(tile, input) task: run one input's kernel over the blocks that touch a tile.

A task is pure: it reads its input (arrays that travel with the graph) and
returns a ``TilePartial`` for the tile; nothing is written until the reducer.

Blocks are visited in row-major block order and, within a band of block rows,
row by row over the span of touching block columns. Every input pixel that can
reach the tile is visited, and input pixels reach a given output pixel in the
same global row-major order whatever the tile shape or the set of blocks in
the task: that is what makes the output independent of tiling (DESIGN.md,
principle 2) and equal, bit for bit, to one untiled pass over the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from .kernels.drizzle import DRIZZLE_KERNELS
from .kernels.footprint import window_columns
from .partials import EMPTY_HITS, PreparedInput, WindowSums, context_bit
from .reach import centre_reach
from .strips import STRIPS, make_strip


@dataclass(frozen=True)
class ScannedExposure:
    """One validated input with its scan limits, global index and context id.

    ``index`` orders inputs in the reducer; ``ctx_id`` (None: no context)
    selects the context plane ``ctx_id // 32`` and bit ``ctx_id % 32``.
    ``x_first/x_last`` are the per-row column limits of the reference's scan.
    """

    index: int
    ctx_id: int | None
    inp: PreparedInput
    x_first: np.ndarray
    x_last: np.ndarray
    row_first: int
    row_last: int

    @property
    def shape(self):
        return self.inp.shape

    @property
    def options(self) -> PreparedInput:
        return self.inp

    @property
    def n_var(self) -> int:
        return self.inp.data2.shape[0]

    @property
    def with_dq(self) -> bool:
        return self.inp.dq.shape[0] > 0

    def band_input(self, row_lo, row_hi, col_lo, col_hi, uses=None):
        """``(arrays holding the band, x0, y0, step, nan_free)``: here the whole input,
        step and NaN flag unknown (None; the planner's hold)."""
        return self.inp, 0, 0, None, None


@dataclass(frozen=True)
class LazyExposure:
    """An input read band by band where its task runs: only small objects travel.

    ``source`` reads input arrays (``.shape``; ``.read(y0, y1, x0, x1)`` ->
    ``(data, weights, data2, dq)`` in kernel dtypes, half-open bounds);
    ``pixmap`` is a callable ``(rows: slice, cols: slice) -> (ny, nx, 2)``
    array. ``options`` carries the kernel and its scalars (its arrays are
    empty placeholders); ``n_var`` and ``with_dq`` say what ``read`` returns
    besides data and weights. Every pixel of the input is visited (there is no
    whole-input scan); the kernel skips those that miss the tile.
    """

    index: int
    ctx_id: int | None
    source: object
    pixmap: object
    options: PreparedInput
    halo: int
    n_var: int
    with_dq: bool
    strip_owner: str | None = None  # key of its strips in this process's cache

    @property
    def shape(self):
        return tuple(self.source.shape)

    @property
    def row_first(self):
        return 0

    @property
    def row_last(self):
        return self.shape[0] - 1

    @property
    def x_first(self):
        return np.zeros(self.shape[0], dtype=np.int32)

    @property
    def x_last(self):
        return np.full(self.shape[0], self.shape[1] - 1, dtype=np.int32)

    def band_input(self, row_lo, row_hi, col_lo, col_hi, uses=None):
        """The rows of the band plus ``halo`` rows around it, every column: ``(arrays,
        x0, y0, step, nan_free)`` of that strip (see ``tiledrizzle.strips``; ``uses``:
        how many tasks of the batch read it)."""
        ny = self.shape[0]
        y0, y1 = max(row_lo - self.halo, 0), min(row_hi + 1 + self.halo, ny)
        make = partial(make_strip, self.source, self.pixmap, y0, y1)
        if self.strip_owner is None:
            strip = make()
        else:
            strip = STRIPS.get((self.strip_owner, y0, y1), make, uses)
        o = self.options
        inp = PreparedInput(
            strip.data, strip.weights, strip.data2, strip.dq, strip.pixmap, o.kernel, o.iscale,
            o.wscale, o.pixfrac, o.pscale_ratio,
        )  # fmt: skip
        return inp, 0, strip.y0, strip.step, strip.nan_free


@dataclass
class TilePartial:
    """Partial sums of one input over one tile, ready for the reducer.

    ``ctx`` is a single int32 plane holding this input's bit (plane number
    ``ctx_plane``), or an empty array when context is off. ``hits`` (uint8,
    the input's shape) marks input pixels that put weight in the tile, when
    asked for (the facade uses it to count misses over all tiles).
    """

    index: int
    ctx_plane: int
    sums: WindowSums
    hits: np.ndarray


def drizzle_tile(
    exposure, bands, window, out_shape, want_hits=False, step=None, nan_free=False,
    band_uses=None,
):  # fmt: skip
    """Run the kernel of ``exposure`` over ``bands`` onto the output ``window``.

    ``exposure`` is a ``ScannedExposure`` or a ``LazyExposure``. ``bands`` is
    a sequence of inclusive input boxes ``(row_lo, row_hi, col_lo, col_hi)``
    in increasing row order (one per band of block rows); ``window`` is
    ``(y0, x0, ny, nx)`` of the tile in the output. ``want_hits`` (whole-input
    arrays only) asks for the map of input pixels that put weight in the tile.
    ``step`` is the planner's largest output size of one input pixel over the
    input's blocks (``InputPlan.step``); None measures it over each band here.
    ``nan_free`` (``InputPlan.nan_free``) lets the column search jump.
    ``band_uses`` (lazy inputs): for each band, how many tasks of the batch read
    it, so that its strip leaves this process's cache after the last of them.
    """
    opts = exposure.options
    y0, x0, ny, nx = window
    with_ctx = exposure.ctx_id is not None
    sums = WindowSums.zeros(y0, x0, (ny, nx), exposure.n_var, exposure.with_dq, with_ctx)
    if with_ctx:
        ctx_plane, bit_no = divmod(exposure.ctx_id, 32)
        ctx_bit = context_bit(bit_no)
    else:
        ctx_plane, ctx_bit = 0, np.int32(0)
    in_ny, in_nx = exposure.shape
    hits = np.zeros((in_ny, in_nx), dtype=np.uint8) if want_hits else EMPTY_HITS
    out_ny, out_nx = out_shape
    kernel = DRIZZLE_KERNELS[opts.kernel]
    x_first, x_last = exposure.x_first, exposure.x_last
    reach, reach_steps, halo = centre_reach(opts.kernel, opts.pixfrac, opts.pscale_ratio)
    known_step = -1.0 if step is None else float(step)
    nan_free = nan_free and step is not None
    for b, (row_lo, row_hi, col_lo, col_hi) in enumerate(bands):
        row_lo, row_hi = max(row_lo, exposure.row_first), min(row_hi, exposure.row_last)
        if row_lo > row_hi:
            continue
        inp, in_x0, in_y0, band_step, band_nan_free = exposure.band_input(
            row_lo, row_hi, col_lo, col_hi, None if band_uses is None else band_uses[b]
        )
        if band_step is not None:
            known_step, nan_free = band_step, band_nan_free
        first, last = x_first, x_last
        if np.isfinite(reach):
            # Skip the band's pixels that cannot reach this tile (blocks are coarser).
            first, last = window_columns(
                inp.pixmap, in_x0, in_y0, row_lo, row_hi, col_lo, col_hi, x_first, x_last,
                float(x0), float(x0 + nx - 1), float(y0), float(y0 + ny - 1), reach,
                reach_steps, halo, known_step, nan_free,
            )  # fmt: skip
        kernel(
            inp.data, inp.weights, inp.data2, inp.dq, inp.pixmap, in_x0, in_y0, in_nx, in_ny,
            row_lo, row_hi, col_lo, col_hi, first, last, out_nx, out_ny, x0, y0,
            sums.flux, sums.wht, sums.var, sums.ctx, ctx_bit, sums.dq,
            inp.iscale, inp.wscale, float(inp.pixfrac), inp.pscale_ratio, hits,
        )  # fmt: skip
    return TilePartial(exposure.index, ctx_plane, sums, hits)
