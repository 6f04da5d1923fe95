"""The planner: input blocks -> output footprints -> the (tile, input) tasks.

Every input is cut into fixed blocks (``block_shape``, independent of the tile
shape). A block's footprint is the bounding box of its pixel map (NaN-aware,
over the pixels the scan visits), widened by the kernel's reach: how far from
a pixel's mapped centre the kernel can put weight. A tile gets one task per
input whose blocks touch it; the task visits those blocks only.

The plan is plain data: it can be inspected (``MosaicPlan.summary``) before
anything runs, and it names the inputs that touch no tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tiledrizzle.core.errors import InputError
from tiledrizzle.core.grid import TileGrid
from tiledrizzle.core.kernel_input import PreparedInput
from tiledrizzle.engine.exposures import LazyExposure, ScannedExposure
from tiledrizzle.engine.scan import ScanPlan, estimate_local_scale_ratio, plan_scanlines
from tiledrizzle.kernels.footprint import block_footprints
from tiledrizzle.kernels.reach import halo_for, kernel_reach
from tiledrizzle.kernels.registry import KERNELS

DEFAULT_BLOCK_SHAPE = (512, 512)


def scan_exposure(inp: PreparedInput, box, out_shape, index, ctx_id):
    """Run the reference's input scan for ``inp`` over the input ``box``.

    Returns ``(ScannedExposure, ScanPlan)``; a pixel scale ratio of NaN (not
    given) is estimated here, as the reference does, for the kernels that need it.
    """
    scan: ScanPlan = plan_scanlines(inp.pixmap, box, out_shape)
    if scan.drizzles and KERNELS[inp.kernel].needs_scale_ratio and np.isnan(inp.pscale_ratio):
        psr = estimate_local_scale_ratio(inp.pixmap, scan.polygon)
        inp = PreparedInput(**{**inp.__dict__, "pscale_ratio": psr})
    row_first, row_last = (scan.row_first, scan.row_last) if scan.drizzles else (0, -1)
    exposure = ScannedExposure(index, ctx_id, inp, scan.x_first, scan.x_last, row_first, row_last)
    return exposure, scan


@dataclass(frozen=True)
class InputPlan:
    """Where one input lands: per touched tile, the inclusive boxes of its touching blocks."""

    index: int
    name: str
    n_blocks: int
    tiles: dict  # (ty, tx) -> list of (by, bx)
    # (ty, tx) -> [y_lo, y_hi, x_lo, x_hi]: output pixels (inclusive) the touching
    # blocks can reach (their widened footprints, unclipped): the task's window.
    reach_boxes: dict
    # The largest ``step`` (output pixels per input pixel, over each block and its
    # halo) of the blocks the scan visits: lets a task skip measuring it.
    step: float = 0.0
    # True when no block the scan visits (with its halo) holds a NaN in its map.
    nan_free: bool = False

    def task_window(self, tile, grid: TileGrid):
        """``(y0, x0, ny, nx)``: the part of ``tile`` this input's blocks can reach."""
        ty0, tx0 = grid.origin(tile)
        tny, tnx = grid.extent(tile)
        y_lo, y_hi, x_lo, x_hi = self.reach_boxes[tile]
        y0, x0 = max(ty0, y_lo), max(tx0, x_lo)
        y1, x1 = min(ty0 + tny - 1, y_hi), min(tx0 + tnx - 1, x_hi)
        return y0, x0, y1 - y0 + 1, x1 - x0 + 1

    @property
    def touches_grid(self) -> bool:
        return bool(self.tiles)


def plan_input(exposure: ScannedExposure, grid: TileGrid, block_shape, name="") -> InputPlan:
    """Footprints of the blocks of one input and the tiles each of them touches."""
    inp = exposure.options
    block_ny, block_nx = block_shape
    if isinstance(exposure, LazyExposure):
        boxes = lazy_block_footprints(exposure, block_shape)
    else:
        boxes = block_footprints(
            inp.pixmap, exposure.row_first, exposure.row_last, exposure.x_first,
            exposure.x_last, block_ny, block_nx, halo_for(inp.pixfrac),
        )  # fmt: skip
    nby, nbx = boxes.shape[:2]
    tiles, reach_boxes = {}, {}
    steps = boxes[:, :, 4][np.isfinite(boxes[:, :, 4])]
    limit = 4.0 * max(grid.shape)  # keeps absurd coordinates finite before int()
    for by in range(nby):
        for bx in range(nbx):
            x_min, x_max, y_min, y_max, step = boxes[by, bx, :5]
            if math.isnan(x_min):
                continue
            reach = kernel_reach(inp.kernel, inp.pixfrac, inp.pscale_ratio, step)
            lo_x, hi_x = np.clip([x_min - reach, x_max + reach], -limit, limit)
            lo_y, hi_y = np.clip([y_min - reach, y_max + reach], -limit, limit)
            box = [math.floor(lo_y), math.ceil(hi_y), math.floor(lo_x), math.ceil(hi_x)]
            ty_range, tx_range = grid.tiles_in_box(*box)
            for ty in ty_range:
                for tx in tx_range:
                    tiles.setdefault((ty, tx), []).append((by, bx))
                    union = reach_boxes.setdefault((ty, tx), list(box))
                    union[0], union[2] = min(union[0], box[0]), min(union[2], box[2])
                    union[1], union[3] = max(union[1], box[1]), max(union[3], box[3])
    return InputPlan(
        exposure.index, name, nby * nbx, tiles, reach_boxes,
        step=float(steps.max()) if steps.size else 0.0,
        nan_free=not bool(np.any(boxes[:, :, 5] == 1.0)),
    )  # fmt: skip


def lazy_scale_ratio(pixmap_fn, shape):
    """Pixel scale ratio of a lazy pixmap: its Jacobian at the input's centre (float32)."""
    ny, nx = shape
    j, i = max((ny - 1) // 2, 0), max((nx - 1) // 2, 0)
    patch = np.asarray(pixmap_fn(slice(j, min(j + 2, ny)), slice(i, min(i + 2, nx))))
    if patch.shape[:2] != (2, 2) or not np.isfinite(patch).all():
        raise InputError("Unable to estimate pscale_ratio")
    (cd11, cd12), (cd21, cd22) = patch[0, 1] - patch[0, 0], patch[1, 0] - patch[0, 0]
    return np.float32(math.sqrt(abs(cd11 * cd22 - cd12 * cd21)))


def lazy_block_footprints(exposure: LazyExposure, block_shape):
    """``block_footprints`` for a pixmap computed on demand: from each block's edges
    (``has_nan`` is 1: the interior is not read).

    A smooth one-to-one map sends a block's interior inside the image of its
    boundary, so the four edges (widened by the halo) bound the footprint; a
    block whose edges hold a NaN is evaluated whole instead.
    """
    ny, nx = exposure.shape
    block_ny, block_nx = block_shape
    halo = halo_for(exposure.options.pixfrac)
    pm = exposure.pixmap
    nby, nbx = -(-ny // block_ny), -(-nx // block_nx)
    boxes = {}
    for by in range(nby):
        y0, y1 = max(by * block_ny - halo, 0), min((by + 1) * block_ny + halo, ny)
        for bx in range(nbx):
            x0, x1 = max(bx * block_nx - halo, 0), min((bx + 1) * block_nx + halo, nx)
            boxes[by, bx] = (y0, y1, x0, x1)
    edges_of = _block_edges(pm, boxes)
    out = np.full((nby, nbx, 6), np.nan)
    for (by, bx), (y0, y1, x0, x1) in boxes.items():
        edges = edges_of[by, bx]
        pts = np.concatenate(edges)
        if np.isnan(pts).any():
            whole = np.asarray(pm(slice(y0, y1), slice(x0, x1)), dtype=np.float64)
            pts = whole.reshape(-1, 2)
            steps = [np.abs(np.diff(whole, axis=0)), np.abs(np.diff(whole, axis=1))]
        else:
            steps = [np.abs(np.diff(e, axis=0)) for e in edges]
        finite = pts[np.isfinite(pts).all(axis=1)]
        if not finite.size:
            continue
        finite_steps = [s[np.isfinite(s)] for s in steps]
        step = max((float(s.max()) for s in finite_steps if s.size), default=0.0)
        x, y = finite[:, 0], finite[:, 1]
        out[by, bx] = (x.min(), x.max(), y.min(), y.max(), step, 1.0)
    return out


def _block_edges(pm, boxes):
    """``{block: [top, bottom, left, right]}``: the map along each box's edges, ``(n, 2)``.

    A map with ``exact_at(x, y)`` (``pixmap.WCSPixmap``) is evaluated at every edge
    pixel of every block in one call; any other callable slice by slice.
    """
    if not hasattr(pm, "exact_at"):
        return {
            key: [
                np.asarray(e, dtype=np.float64).reshape(-1, 2)
                for e in (
                    pm(slice(y0, y0 + 1), slice(x0, x1)), pm(slice(y1 - 1, y1), slice(x0, x1)),
                    pm(slice(y0, y1), slice(x0, x0 + 1)), pm(slice(y0, y1), slice(x1 - 1, x1)),
                )
            ]
            for key, (y0, y1, x0, x1) in boxes.items()
        }  # fmt: skip
    xs, ys, sizes = [], [], []
    for y0, y1, x0, x1 in boxes.values():
        row_x, col_y = np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64)
        for x, y in (
            (row_x, np.full(row_x.size, y0)),
            (row_x, np.full(row_x.size, y1 - 1)),
            (np.full(col_y.size, x0), col_y),
            (np.full(col_y.size, x1 - 1), col_y),
        ):
            xs.append(x)
            ys.append(y.astype(np.float64))
            sizes.append(x.size)
    ox, oy = pm.exact_at(np.concatenate(xs), np.concatenate(ys))
    pieces = np.split(np.column_stack([ox, oy]), np.cumsum(sizes)[:-1])
    return {key: pieces[4 * k : 4 * k + 4] for k, key in enumerate(boxes)}


def task_bands(blocks, block_shape, input_shape):
    """Inclusive input boxes, one per band of block rows, covering ``blocks`` in row order.

    Within a band the box spans from the first to the last touching block
    column (blocks in between are visited too: pixels there that miss the
    tile are skipped by the kernel at the cost of a bounds test).
    """
    block_ny, block_nx = block_shape
    in_ny, in_nx = input_shape
    by_band = {}
    for by, bx in blocks:
        lo, hi = by_band.get(by, (bx, bx))
        by_band[by] = (min(lo, bx), max(hi, bx))
    bands = []
    for by in sorted(by_band):
        bx_lo, bx_hi = by_band[by]
        bands.append(
            (
                by * block_ny,
                min((by + 1) * block_ny, in_ny) - 1,
                bx_lo * block_nx,
                min((bx_hi + 1) * block_nx, in_nx) - 1,
            )
        )
    return tuple(bands)
