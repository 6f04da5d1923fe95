"""The frozen plan of a mosaic: what will run, what it costs, before anything runs.

``plan_mosaic(inputs, ...)`` validates every input (the facade's rules,
``core.options``), runs the reference's scan on array inputs, finds every
input block's output footprint and the tiles it touches (``engine.input_plan``)
and returns a ``MosaicPlan``: frozen data with a readable repr (inputs used
and outside the grid, tiles touched, tasks, waves, bytes of partial sums,
estimated peak memory). ``plan.execute(store, scheduler=...)`` runs it
(``engine.execute``); ``mosaic(...)`` is the two in one call.

Nothing here imports Dask or touches a store: a plan can be made, inspected
and pickled anywhere.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from tiledrizzle.core.errors import InputError, InputTypeError, PlanError
from tiledrizzle.core.grid import TileGrid
from tiledrizzle.core.interrupt import checkpoint
from tiledrizzle.core.options import check_batch_options, fill_number, parse_fillval
from tiledrizzle.engine.exposures import LazyExposure
from tiledrizzle.engine.input_plan import (
    DEFAULT_BLOCK_SHAPE,
    InputPlan,
    lazy_scale_ratio,
    plan_input,
    scan_exposure,
)
from tiledrizzle.inputs.exposure import (
    Exposure,
    PreparedExposure,
    as_exposure,
    fingerprint,
    prepare_inputs,
    source_id,
    source_path,
)
from tiledrizzle.inputs.output_wcs import wcs_to_header_string
from tiledrizzle.inputs.units import PER_INPUT_PIXEL, UNIT_FACTS, unit_difference
from tiledrizzle.kernels.reach import halo_for
from tiledrizzle.kernels.registry import KERNELS, context_plane_count

DEFAULT_TILE_SHAPE = (1024, 1024)
DEFAULT_WAVE_BYTES = 512 * 2**20
"""Partial sums held at once (per wave of tiles): bounds memory whatever the mosaic size."""

TILES_IN_FLIGHT = 4
"""Tiles being merged or written at once besides the wave's partial sums (the reducer's
tile and the write-behind queue, ``engine.write_behind.MAX_PENDING``)."""


class InputsOutsideWarning(UserWarning):
    """Some inputs touch no tile of the output grid and were skipped."""


def partial_bytes_per_pixel(n_img2=0, with_dq=False, with_ctx=True) -> int:
    """Bytes one (tile, input) task returns per tile pixel (``engine.partials.WindowSums``):
    float64 flux and weight, a float64 sum per variance array, uint32 DQ, int32 context."""
    return 16 + 8 * n_img2 + (4 if with_dq else 0) + (4 if with_ctx else 0)


def tile_state_bytes_per_pixel(n_planes=1, n_img2=0, with_dq=False) -> int:
    """Bytes one stored tile holds per pixel (``store.tile_state.TileState``)."""
    return 8 + 4 * n_planes + 4 * n_img2 + (4 if with_dq else 0)


def _gib(n):
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


@dataclass(frozen=True, repr=False)
class MosaicPlan:
    """The (tile, input) tasks of one batch, in waves, and what does not take part.

    ``exposures[k]`` is input ``k`` as the tasks see it (a ``ScannedExposure``
    or ``LazyExposure``; context ids count the inputs used from 0, and the store
    adds its next free id when the plan runs); ``inputs[k]`` where its blocks
    land; ``records[k]`` what the store keeps of it.
    """

    grid: TileGrid
    block_shape: tuple
    kernel: str
    pixfrac: float
    fillval: np.float32 | None  # None: NaN
    fillval2: np.float32 | None
    wcs_header: str | None
    exposures: tuple
    inputs: tuple  # InputPlan per input, in input order
    records: tuple  # dict per input: name, shape, exptime, iscale, ... (the store's record)
    n_img2: int
    with_dq: bool
    wave_bytes: int
    allow_duplicates: bool = False  # the same exposure may be drizzled more than once

    # -- what the plan holds -------------------------------------------------------------

    @cached_property
    def _tasks(self):
        out = {}
        for ip in self.inputs:
            for tile in ip.tiles:
                out.setdefault(tile, []).append(ip.index)
        return {tile: out[tile] for tile in sorted(out)}

    def tasks_by_tile(self):
        """``{tile: [input index, ...]}`` in row-major tile order, inputs in order."""
        return self._tasks

    @property
    def used(self) -> list:
        """Indices of the inputs that touch the grid (they take context ids, in order)."""
        return [ip.index for ip in self.inputs if ip.touches_grid]

    @property
    def inputs_outside(self) -> list:
        """Indices of inputs that touch no tile of the grid (they produce no tasks)."""
        return [ip.index for ip in self.inputs if not ip.touches_grid]

    @property
    def units(self) -> dict:
        """``{'bunit': ..., 'flux_per': ...}`` of the inputs used (``inputs.units``): the
        mosaic's BUNIT (None when no input has one) and what a value is per."""
        used = [self.records[k] for k in self.used] or list(self.records)

        def first(key, default):
            return next((r[key] for r in used if r[key] is not None), default)

        return {"bunit": first("bunit", None), "flux_per": first("flux_per", PER_INPUT_PIXEL)}

    @property
    def n_tasks(self) -> int:
        return sum(len(ip.tiles) for ip in self.inputs)

    @property
    def tiles_touched(self) -> int:
        return len(self._tasks)

    # -- the memory model ---------------------------------------------------------------

    def _task_bytes(self, tile) -> int:
        ny, nx = self.grid.extent(tile)
        return ny * nx * partial_bytes_per_pixel(self.n_img2, self.with_dq) * len(self._tasks[tile])

    def partial_bytes(self) -> int:
        """Bytes of all partial sums the tasks return (the batch's total)."""
        return sum(self._task_bytes(tile) for tile in self._tasks)

    def waves(self, tiles=None):
        """Split ``tiles`` (default: every touched tile; row-major) into waves whose
        partial sums fit ``wave_bytes`` (a tile larger than that is a wave alone)."""
        tiles = list(self._tasks) if tiles is None else tiles
        out, wave, size = [], [], 0
        for tile in tiles:
            cost = self._task_bytes(tile)
            if wave and size + cost > self.wave_bytes:
                out.append(wave)
                wave, size = [], 0
            wave.append(tile)
            size += cost
        if wave:
            out.append(wave)
        return out

    @cached_property
    def _wave_list(self):
        return self.waves()

    def largest_wave_bytes(self) -> int:
        return max((sum(self._task_bytes(t) for t in w) for w in self._wave_list), default=0)

    def peak_bytes(self) -> int:
        """Estimated peak memory of a run: the largest wave's partial sums plus the tiles
        being merged and written (``TILES_IN_FLIGHT``), over the arrays the inputs
        travel with. Lazy inputs' row strips come on top (``engine.strips``, bounded by
        the Dask configuration ``tiledrizzle.strip-cache-bytes``)."""
        ty, tx = self.grid.tile_shape
        n_planes = context_plane_count(len(self.used))
        tiles = (
            TILES_IN_FLIGHT
            * ty
            * tx
            * tile_state_bytes_per_pixel(n_planes, self.n_img2, self.with_dq)
        )
        arrays = sum(
            e.inp.data.nbytes + e.inp.weights.nbytes + e.inp.pixmap.nbytes + e.inp.data2.nbytes
            for e in self.exposures
            if not isinstance(e, LazyExposure)
        )
        return self.largest_wave_bytes() + tiles + arrays

    # -- views ------------------------------------------------------------------------

    def summary(self) -> dict:
        return {
            "tiles": self.grid.n_tiles,
            "tiles_touched": self.tiles_touched,
            "tasks": self.n_tasks,
            "waves": len(self._wave_list),
            "inputs": len(self.inputs),
            "inputs_outside": self.inputs_outside,
            "block_shape": list(self.block_shape),
            "partial_bytes": self.partial_bytes(),
            "largest_wave_bytes": self.largest_wave_bytes(),
            "peak_bytes": self.peak_bytes(),
        }

    def __repr__(self):
        ny, nx = self.grid.shape
        ty, tx = self.grid.tile_shape
        outside = len(self.inputs_outside)
        return (
            f"MosaicPlan({len(self.inputs)} inputs ({outside} outside the grid), "
            f"grid {nx} x {ny} px in {self.grid.n_tiles} tiles of {tx} x {ty} "
            f"({self.tiles_touched} touched), {self.n_tasks} tasks in "
            f"{len(self._wave_list)} waves, partial sums {_gib(self.partial_bytes())} "
            f"(largest wave {_gib(self.largest_wave_bytes())}), estimated peak "
            f"{_gib(self.peak_bytes())}, kernel {self.kernel}, pixfrac {self.pixfrac:g})"
        )

    # -- running it -----------------------------------------------------------------------

    def execute(self, store, *, scheduler="threads", progress=False, resume=False):
        """Run the plan into the Zarr store at ``store`` (created if absent); returns a
        ``MosaicResult``. See ``tiledrizzle.mosaic`` for the arguments."""
        from tiledrizzle.engine.execute import execute_plan  # Dask, on demand

        return execute_plan(self, store, scheduler=scheduler, progress=progress, resume=resume)


MAX_TILES = 1 << 16
"""Tiles per store: each has its own marker chunks, read when a batch starts and resumes."""
MAX_TILE_PIXELS = 1 << 26
"""Pixels per tile (8192 x 8192): a task's partial sums for one tile are held in memory."""


def resolve_grid(out_shape, wcs, tile_shape):
    """``(TileGrid, WCS header string or None)`` from ``out_shape`` or an astropy WCS.

    Raises ``PlanError`` when no grid is given or the two disagree."""
    header = None
    if wcs is not None:
        shape = getattr(wcs, "array_shape", None)
        if shape is None:
            raise PlanError("'wcs' has no array shape (set wcs.array_shape or pass out_shape)")
        if out_shape is not None and tuple(out_shape) != tuple(shape):
            raise PlanError(f"'out_shape' {tuple(out_shape)} disagrees with the WCS {shape}")
        out_shape = shape
        header = wcs_to_header_string(wcs)
    if out_shape is None:
        raise PlanError("give the output grid: 'out_shape' or 'wcs'")
    grid = TileGrid(tuple(out_shape), tuple(tile_shape))
    ty, tx = grid.tile_shape
    if grid.n_tiles > MAX_TILES:
        raise PlanError(
            f"the grid of {grid.shape[1]} x {grid.shape[0]} px has {grid.n_tiles} tiles of "
            f"{tx} x {ty}: at most {MAX_TILES} per store (use larger tiles, or check the "
            "output grid's pixel scale)"
        )
    if ty * tx > MAX_TILE_PIXELS:
        raise PlanError(
            f"tiles of {tx} x {ty} px are above {MAX_TILE_PIXELS} px each (one task holds a "
            "tile's partial sums in memory): use smaller tiles"
        )
    return grid, header


def _as_exposures(inputs):
    if isinstance(inputs, str | os.PathLike | Mapping | Exposure):
        raise InputTypeError(
            "'inputs' must be a sequence of inputs (wrap a single input in a list)"
        )
    if inputs is None or not isinstance(inputs, Iterable):
        raise InputTypeError(f"'inputs' must be a sequence of inputs, got {inputs!r}")
    exposures = [as_exposure(item, k) for k, item in enumerate(inputs)]
    if not exposures:
        raise InputError("'inputs' is empty: nothing to drizzle")
    return exposures


def _engine_exposure(p: PreparedExposure, grid, index):
    """A ``ScannedExposure`` (array pixmap: the reference's scan) or a ``LazyExposure``."""
    if p.pixmap_fn is None:
        exposure, _scan = scan_exposure(p.inp, p.box, grid.shape, index, None)
        return exposure
    inp = p.inp
    if KERNELS[inp.kernel].needs_scale_ratio and np.isnan(inp.pscale_ratio):
        inp = replace(inp, pscale_ratio=lazy_scale_ratio(p.pixmap_fn, p.source.shape))
    return LazyExposure(
        index, None, p.source, p.pixmap_fn, inp, halo_for(inp.pixfrac) + 1, p.n_img2,
        p.with_dq, strip_owner=uuid.uuid4().hex,
    )  # fmt: skip


def _check_units(records):
    """One mosaic, one unit: inputs whose BUNIT or kind of value (per output pixel, per
    input pixel, surface brightness) differ cannot be averaged into one pixel. An input
    without BUNIT takes the others'."""
    seen, where = {}, {}  # each unit fact as first stated, and by which input
    for k, r in enumerate(records):
        differ = unit_difference(r, seen)
        if differ is not None:
            key, mine, theirs = differ
            j = where[key]
            raise InputError(
                f"input {k} ({r['label']}) has {UNIT_FACTS[key]} {mine!r}, input {j} "
                f"({records[j]['label']}) {theirs!r}: a mosaic has one unit"
            )
        for key in UNIT_FACTS:
            if r[key] is not None and key not in seen:
                seen[key], where[key] = r[key], k


def _fill_value(name, value):
    """A fill value as a number (NaN for None/'INDEF'); the error names the argument (the
    facade keeps the reference's bare message)."""
    try:
        return fill_number(parse_fillval(None, value))
    except InputError as exc:
        raise InputError(f"{name!r}: {exc}") from None


def _refuse_duplicates(records):
    first = {}
    for k, r in enumerate(records):
        j = first.setdefault(r["source_id"], k)
        if j != k:
            raise InputError(
                f"input {k} ({r['label']}) is the same exposure as input {j} "
                f"({records[j]['label']}): it would be counted twice (allow_duplicates=True "
                "to drizzle it again)"
            )


def _record(e, p: PreparedExposure, exposure, k):
    return {
        "name": e.name,
        "label": e.name or f"input {k}",
        "shape": list(p.shape),
        "exptime": float(e.exptime),
        "iscale": float(e.iscale),
        "pixel_scale_ratio": float(exposure.options.pscale_ratio),
        "wht_scale": float(e.wht_scale),
        "in_units": e.in_units,
        "fingerprint": fingerprint(e, p),
        "source_id": source_id(e, p),
        "source_path": source_path(e),
        "bunit": getattr(e, "out_bunit", None),
        "flux_per": getattr(e, "flux_per", PER_INPUT_PIXEL),
        "area_ratio": float(getattr(e, "area_ratio", 1.0)),
    }


def plan_mosaic(
    inputs,
    *,
    out_shape=None,
    wcs=None,
    tile_shape=DEFAULT_TILE_SHAPE,
    block_shape=DEFAULT_BLOCK_SHAPE,
    kernel="square",
    pixfrac=1.0,
    fillval=None,
    fillval2=None,
    wave_bytes=DEFAULT_WAVE_BYTES,
    allow_duplicates=False,
) -> MosaicPlan:
    """Validate ``inputs`` and plan their mosaic; nothing is read beyond what the checks
    and footprints need, nothing is written. Arguments as ``tiledrizzle.mosaic``.

    Warns ``InputsOutsideWarning`` naming the inputs that touch no tile of the grid.
    The same exposure given twice (same file or copy, same arrays) is refused unless
    ``allow_duplicates``; so is one already in the store, when the plan runs.
    """
    kernel, pixfrac = check_batch_options(kernel, pixfrac, tile_shape, block_shape)
    grid, wcs_header = resolve_grid(out_shape, wcs, tile_shape)
    exposures = _as_exposures(inputs)
    fill, fill2 = _fill_value("fillval", fillval), _fill_value("fillval2", fillval2)
    prepared = prepare_inputs(exposures, kernel, pixfrac, wcs)

    engine_exposures, plans, records = [], [], []
    n_used = 0
    for k, (e, p) in enumerate(zip(exposures, prepared, strict=True)):
        checkpoint()
        exposure = _engine_exposure(p, grid, k)
        ip: InputPlan = plan_input(exposure, grid, block_shape, e.name or f"input {k}")
        if ip.touches_grid:  # context ids over the inputs used, in order
            exposure = replace(exposure, ctx_id=n_used)
            n_used += 1
        engine_exposures.append(exposure)
        plans.append(ip)
        records.append(_record(e, p, exposure, k))
    if not allow_duplicates:
        _refuse_duplicates(records)
    _check_units(records)
    outside = [ip.name for ip in plans if not ip.touches_grid]
    if outside:
        warnings.warn(
            f"{len(outside)} input(s) touch no tile of the output grid and were skipped: "
            f"{', '.join(outside)}",
            InputsOutsideWarning,
            stacklevel=3,
        )
    return MosaicPlan(
        grid, tuple(block_shape), kernel, pixfrac,
        None if fill is None or np.isnan(fill) else fill,
        None if fill2 is None or np.isnan(fill2) else fill2,
        wcs_header, tuple(engine_exposures), tuple(plans), tuple(records),
        max(p.n_img2 for p in prepared), any(p.with_dq for p in prepared), int(wave_bytes),
        bool(allow_duplicates),
    )  # fmt: skip
