"""The batch API: drizzle many inputs into a tiled Zarr mosaic on any Dask scheduler.

``mosaic(inputs, store, ...)`` validates every input (as ``Drizzle.add_image``
does, with the reference's exception types), plans the (tile, input) tasks,
and runs them in waves of tiles whose partial sums fit a memory budget: per
wave, one task per (tile, input) returns partial sums and one reducer per tile
merges them in global input order with what the store holds and writes the
tile once (``store.write_tile``). Adding inputs to an existing store continues
its context ids and exposure time; an interrupted batch is finished with
``resume=True``.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from numbers import Real

import numpy as np
from dask.task_spec import List as TaskList
from dask.task_spec import Task, TaskRef

from .grid import TileGrid, positive_pair
from .kernels.drizzle import KERNELS_NEEDING_SCALE
from .output_wcs import wcs_to_header_string
from .partials import EMPTY_DQ, PreparedInput
from .plan import (
    DEFAULT_BLOCK_SHAPE,
    MosaicPlan,
    lazy_scale_ratio,
    plan_input,
    scan_exposure,
    task_bands,
)
from .reach import halo_for
from .reduce import TileState, reduce_tile
from .resample import (
    _DEPRECATED_ARG,
    SUPPORTED_DRIZZLE_KERNELS,
    Drizzle,
    _fill_number,
    _parse_fillval,
)
from .schedulers import InputsLostError, Runner, check_scheduler
from .sources import ArraySource
from .store import MosaicStore, StoreError, StoreMeta
from .strips import forget_strips
from .tasks import LazyExposure, drizzle_tile
from .write_behind import TileWriteBehind, writer_for

DEFAULT_TILE_SHAPE = (1024, 1024)
DEFAULT_WAVE_BYTES = 512 * 2**20
"""Partial sums held at once (per wave of tiles): bounds memory whatever the mosaic size."""


class InputsOutsideWarning(UserWarning):
    """Some inputs touch no tile of the output grid and were skipped."""


@dataclass
class Exposure:
    """One input of a mosaic: the arguments of ``Drizzle.add_image`` (pixfrac is per mosaic)."""

    data: object
    pixmap: object
    exptime: float
    weight_map: object = None
    data2: object = None
    dq: object = None
    iscale: float = 1.0
    pixel_scale_ratio: float | None = 1.0
    wht_scale: float = 1.0
    in_units: str = "cps"
    xmin: int | None = None
    xmax: int | None = None
    ymin: int | None = None
    ymax: int | None = None
    name: str | None = None


_EXPOSURE_FIELDS = {f.name for f in fields(Exposure)}


def _as_exposure(item, k):
    """An ``Exposure`` (from itself or a mapping), a file-backed input, or a FITS path."""
    if isinstance(item, Exposure) or hasattr(item, "prepare"):
        return item
    if isinstance(item, str | os.PathLike):
        from .io import FitsExposure

        return FitsExposure(item)
    if isinstance(item, Mapping):
        unknown = set(item) - _EXPOSURE_FIELDS
        if unknown:
            raise TypeError(f"input {k}: unknown field(s) {sorted(unknown)}")
        try:
            return Exposure(**item)
        except TypeError as exc:
            raise TypeError(f"input {k}: {exc}") from None
    raise TypeError(
        f"input {k}: expected an Exposure, a mapping, a FitsExposure or a FITS path, "
        f"got {type(item).__name__}"
    )


@dataclass
class MosaicResult:
    """What ``mosaic`` made: the store, the plan, a report and lazy output arrays."""

    store: MosaicStore
    plan: MosaicPlan
    report: dict = field(default_factory=dict)

    def _array(self, name):
        import dask.array as da  # here: importing dask.array costs 0.2 s

        return da.from_zarr(self.store.group[name])

    @property
    def img(self):
        return self._array("img")

    @property
    def wht(self):
        return self._array("wht")

    @property
    def ctx(self):
        return self._array("ctx")

    @property
    def img2(self):
        return [self._array(f"img2/{k}") for k in range(self.store.attrs["n_img2"])]

    @property
    def dq(self):
        return self._array("dq") if self.store.attrs["has_dq"] else None


class _Progress:
    def __init__(self, total, enabled, label="tiles"):
        self.total, self.enabled, self.label = total, enabled, label
        self.done = 0
        self.start = time.perf_counter()

    def step(self, _value=None):
        self.done += 1
        if self.enabled:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            elapsed = time.perf_counter() - self.start
            sys.stderr.write(
                f"\r{self.label} {self.done}/{self.total} "
                f"[{'#' * filled}{' ' * (width - filled)}] {elapsed:.1f}s"
            )
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


# -- worker side -----------------------------------------------------------------------

_STORE_CACHE: dict = {}


def _open_for_batch(path, store_id, batch):
    key = (path, store_id, batch)
    store = _STORE_CACHE.get(key)
    if store is None:
        _STORE_CACHE.clear()
        store = _STORE_CACHE[key] = MosaicStore.open(path, mode="r+")
    return store


def finish_tile(path, store_id, tile, batch, partials, n_img2, with_dq, writer=None,
                marks=None):  # fmt: skip
    """Reducer task: merge the tile's partials with the stored tile and write it once.

    ``writer`` names a ``write_behind.TileWriteBehind`` of this process that
    merges and writes (local schedulers: the task returns at once and the next
    kernels run meanwhile); None does it here and now. ``marks`` is the tile's
    ``(committed, pending)`` batches when the caller knows them (in this
    process); None reads them from the store.
    """
    store = _open_for_batch(path, store_id, batch)
    if store.attrs["store_id"] != store_id:
        raise StoreError(f"the store at {path!r} was replaced while the mosaic ran")
    if marks is None:
        marks = store.tile_marks(tile)
    if marks[0] == batch:
        return tile  # a rerun of a wave after a lost worker: this tile is done
    behind = writer_for(writer)
    if behind is None:
        merge_and_write(store, tile, batch, partials, n_img2, with_dq, marks)
    else:
        behind.submit(merge_and_write, store, tile, batch, partials, n_img2, with_dq, marks)
    return tile


def merge_and_write(store, tile, batch, partials, n_img2, with_dq, marks):
    """Fold ``partials`` into what ``tile`` held before ``batch`` and write it, once."""
    before = store.read_tile_before(tile, batch, n_img2, with_dq, marks)
    # A tile read from the store is copied: ``before`` may still go to its backup.
    # A never-written tile was made here and needs no backup: fold into it.
    state = before if marks[0] == 0 else _copy_state(before)
    after = reduce_tile(
        state, partials, store.meta.fillval, store.meta.fillval2, store.meta.grid.origin(tile),
        blank=marks[0] == 0,
    )  # fmt: skip
    store.write_tile(tile, before, after, batch, marks)


def _copy_state(state: TileState) -> TileState:
    return TileState(
        state.img.copy(), state.wht.copy(), state.ctx.copy(), state.img2.copy(),
        None if state.dq is None else state.dq.copy(),
    )  # fmt: skip


# -- client side -----------------------------------------------------------------------


def _validate_options(kernel, pixfrac, tile_shape, block_shape):
    if not isinstance(kernel, str) or kernel.lower() not in SUPPORTED_DRIZZLE_KERNELS:
        raise ValueError(f"Kernel '{kernel}' is not supported.")
    try:
        pixfrac = float(pixfrac)
    except (TypeError, ValueError):
        raise ValueError(f"'pixfrac' must be a number, got {pixfrac!r}") from None
    if not (np.isfinite(pixfrac) and pixfrac > 0):
        raise ValueError(f"'pixfrac' must be positive and finite, got {pixfrac!r}")
    positive_pair(tile_shape, "tile_shape")
    positive_pair(block_shape, "block_shape")
    return kernel.lower(), pixfrac


def _resolve_grid(out_shape, wcs, tile_shape):
    header = None
    if wcs is not None:
        shape = getattr(wcs, "array_shape", None)
        if shape is None:
            raise ValueError("'wcs' has no array shape (set wcs.array_shape or pass out_shape)")
        if out_shape is not None and tuple(out_shape) != tuple(shape):
            raise ValueError(f"'out_shape' {tuple(out_shape)} disagrees with the WCS {shape}")
        out_shape = shape
        header = wcs_to_header_string(wcs)
    if out_shape is None:
        raise ValueError("give the output grid: 'out_shape' or 'wcs'")
    return TileGrid(tuple(out_shape), tuple(tile_shape)), header


@dataclass
class PreparedExposure:
    """A validated input: kernel arrays and options, input box, and its lazy parts if any."""

    inp: PreparedInput
    box: tuple
    n_img2: int
    pixmap_fn: object = None  # callable (rows, cols) -> pixmap block, for lazy inputs
    source: object = None  # where a lazy input's pixels are read

    @property
    def with_dq(self) -> bool:
        return self.inp.dq.shape[0] > 0

    @property
    def shape(self):
        return tuple(self.source.shape if self.source is not None else self.inp.shape)


def _validated(validator, e, k, pixfrac):
    """``Drizzle.add_image``'s checks on one input; errors name the input."""
    lazy = callable(e.pixmap)
    pixmap = e.pixmap
    # Stricter than add_image (which follows the reference): a batch must not make the
    # store's exposure time NaN, nor drop an imaginary part with only a numpy warning.
    if isinstance(e.exptime, Real) and not np.isfinite(e.exptime):
        raise ValueError(
            f"input {k} ({e.name or 'unnamed'}): 'exptime' must be positive and finite, "
            f"got {e.exptime}"
        )
    for name in ("data", "pixmap"):
        value = getattr(e, name)
        if not callable(value) and np.iscomplexobj(value):
            raise TypeError(
                f"input {k} ({e.name or 'unnamed'}): {name!r} must be real-valued, "
                f"got {np.asarray(value).dtype}"
            )
    if lazy:
        if any(v is not None for v in (e.xmin, e.xmax, e.ymin, e.ymax)):
            raise ValueError(f"input {k}: an input box (xmin..ymax) needs an array pixmap")
        shape = np.shape(e.data)
        if len(shape) != 2:
            raise ValueError(f"input {k}: 'data' must be a 2D array, got shape {shape}")
        # A stand-in map (no copy) for the array checks; the real one is made per block.
        pixmap = np.broadcast_to(np.zeros(2), tuple(shape) + (2,))
    try:
        inp, box, n2, _ = validator._validated_input(
            e.data, e.exptime, pixmap, e.data2, e.dq, _DEPRECATED_ARG, e.iscale,
            e.pixel_scale_ratio, e.weight_map, e.wht_scale, pixfrac, e.in_units,
            e.xmin, e.xmax, e.ymin, e.ymax, stacklevel=2,
        )  # fmt: skip
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"input {k} ({e.name or 'unnamed'}): {exc}") from None
    if not lazy:
        return PreparedExposure(inp, box, n2 or 0)
    source = ArraySource(inp.data, inp.weights, inp.data2, inp.dq)
    return lazy_prepared(inp, n2 or 0, inp.dq.shape[0] > 0, e.pixmap, source)


def lazy_prepared(inp, n_var, with_dq, pixmap_fn, source) -> PreparedExposure:
    """A lazy input: ``inp`` keeps the options only (its arrays become empty stand-ins)."""
    no_pixels = np.zeros((0, 0), dtype=np.float32)
    options = replace(
        inp, data=no_pixels, weights=no_pixels, pixmap=no_pixels,
        data2=np.zeros((n_var, 0, 0), np.float32),
        dq=np.zeros((1, 0), np.uint32) if with_dq else EMPTY_DQ,
    )  # fmt: skip
    return PreparedExposure(options, None, n_var, pixmap_fn, source)


def _prepare_inputs(exposures, kernel, pixfrac, grid, out_wcs):
    """Validate every input (nothing is written before all pass)."""
    # A facade used only for add_image's argument checks, which do not depend on the
    # output shape: a 1x1 output, so a huge grid costs no memory here.
    validator = Drizzle(kernel=kernel, out_shape=(1, 1), disable_ctx=True)
    prepared = []
    seen = set()
    for k, e in enumerate(exposures):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if hasattr(e, "prepare"):  # a file-backed input (tiledrizzle.io)
                p = e.prepare(k, validator, pixfrac, out_wcs)
            else:
                p = _validated(validator, e, k, pixfrac)
        for w in caught:
            if str(w.message) not in seen:
                seen.add(str(w.message))
                warnings.warn(w.message, w.category, stacklevel=4)
        prepared.append(p)
    n_img2 = {p.n_img2 for p in prepared}
    if len(n_img2 - {0}) > 1:
        raise ValueError("all inputs must have the same number of 'data2' arrays")
    return prepared


def _exposure_for_engine(p: PreparedExposure, grid, index, ctx_id):
    """A ``ScannedExposure`` (array pixmap: the reference's scan) or a ``LazyExposure``."""
    if p.pixmap_fn is None:
        exposure, _scan = scan_exposure(p.inp, p.box, grid.shape, index, ctx_id)
        return exposure
    inp = p.inp
    if inp.kernel in KERNELS_NEEDING_SCALE and np.isnan(inp.pscale_ratio):
        inp = replace(inp, pscale_ratio=lazy_scale_ratio(p.pixmap_fn, p.source.shape))
    return LazyExposure(
        index, ctx_id, p.source, p.pixmap_fn, inp, halo_for(inp.pixfrac) + 1, p.n_img2,
        p.with_dq, strip_owner=uuid.uuid4().hex,
    )  # fmt: skip


def mosaic(
    inputs,
    store,
    *,
    out_shape=None,
    wcs=None,
    tile_shape=DEFAULT_TILE_SHAPE,
    block_shape=DEFAULT_BLOCK_SHAPE,
    kernel="square",
    pixfrac=1.0,
    fillval=None,
    fillval2=None,
    scheduler="threads",
    progress=False,
    resume=False,
    wave_bytes=DEFAULT_WAVE_BYTES,
) -> MosaicResult:
    """Drizzle ``inputs`` into the Zarr mosaic at ``store`` (created if absent).

    ``inputs``: ``Exposure`` objects or mappings of their fields (the keyword
    arguments of ``Drizzle.add_image``). The grid is ``out_shape`` (ny, nx) or
    the array shape of an astropy ``wcs`` (its header is kept in the store).
    ``scheduler``: 'sync', 'threads', 'processes', a ``distributed.Client`` or
    a scheduler address. Results are bit-identical whatever ``tile_shape``,
    ``block_shape`` and scheduler. ``fillval``: the value of pixels without
    weight (None or 'INDEF': NaN). ``resume=True`` finishes a batch that was
    interrupted, given the same inputs. Returns a ``MosaicResult``.
    """
    t_start = time.perf_counter()
    kernel, pixfrac = _validate_options(kernel, pixfrac, tile_shape, block_shape)
    check_scheduler(scheduler)
    grid, wcs_header = _resolve_grid(out_shape, wcs, tile_shape)
    if isinstance(inputs, str | os.PathLike | Mapping | Exposure):
        raise TypeError("'inputs' must be a sequence of inputs (wrap a single input in a list)")
    if inputs is None or not isinstance(inputs, Iterable):
        raise TypeError(f"'inputs' must be a sequence of inputs, got {inputs!r}")
    exposures = [_as_exposure(item, k) for k, item in enumerate(inputs)]
    if not exposures:
        raise ValueError("'inputs' is empty: nothing to drizzle")
    fill = _fill_number(_parse_fillval(None, fillval))
    fill2 = _fill_number(_parse_fillval(None, fillval2))
    meta = StoreMeta(grid, kernel, pixfrac, None if fill is None or np.isnan(fill) else fill,
                     None if fill2 is None or np.isnan(fill2) else fill2)  # fmt: skip

    path = os.fspath(store)
    if "://" not in path:
        path = os.path.abspath(path)  # workers of a cluster may run in other directories
    existing = MosaicStore.exists(path)
    if existing:
        st = MosaicStore.open(path, mode="r+")
        st.check_matches(meta)
    prepared = _prepare_inputs(exposures, kernel, pixfrac, grid, wcs)
    n_img2 = max(p.n_img2 for p in prepared)
    with_dq = any(p.with_dq for p in prepared)
    if existing:
        _check_img2_count(st.attrs, n_img2)
    else:
        st = MosaicStore.create(path, meta, wcs_header)

    st.acquire_lock()
    try:
        if existing:
            # Another job may have written a batch since we first looked: reread what
            # the store holds now that we are its only writer.
            st = MosaicStore.open(path, mode="r+")
            st.check_matches(meta)
            _check_img2_count(st.attrs, n_img2)
        attrs = st.attrs
        return _run_batch(
            st, attrs, exposures, prepared, grid, block_shape, n_img2, with_dq, scheduler,
            progress, resume, wave_bytes, t_start,
        )  # fmt: skip
    finally:
        st.release_lock()


def _check_img2_count(attrs, n_img2):
    if attrs["n_img2"] and n_img2 and attrs["n_img2"] != n_img2:
        raise ValueError(
            f"the store holds {attrs['n_img2']} 'img2' arrays; the inputs have {n_img2}"
        )


def _batch_record(exposures, prepared):
    return [
        {"name": e.name, "shape": list(p.shape), "exptime": float(e.exptime)}
        for e, p in zip(exposures, prepared, strict=True)
    ]


def _run_batch(
    st, attrs, exposures, prepared, grid, block_shape, n_img2, with_dq, scheduler,
    progress, resume, wave_bytes, t_start,
):  # fmt: skip
    batches = attrs["batches"]
    record = _batch_record(exposures, prepared)
    if batches and batches[-1]["status"] == "running":
        last = batches[-1]
        if not resume:
            raise StoreError(
                f"the store {st.path!r} holds an interrupted batch ({last['id']}); rerun it "
                "with resume=True and the same inputs, or use a new store"
            )
        if last["inputs"] != record:
            raise StoreError(
                f"resume=True needs the same inputs as the interrupted batch {last['id']} "
                f"of {st.path!r}"
            )
        batch, first_ctx_id = last["id"], last["first_ctx_id"]
    else:
        batch, first_ctx_id = len(batches) + 1, attrs["next_ctx_id"]

    # Scan and plan; inputs that touch no tile take no context id.
    scanned, plans, used = [], [], []
    ctx_id = first_ctx_id
    for k, (e, p) in enumerate(zip(exposures, prepared, strict=True)):
        exposure = _exposure_for_engine(p, grid, k, ctx_id)
        ip = plan_input(exposure, grid, block_shape, e.name or f"input {k}")
        scanned.append(exposure)
        plans.append(ip)
        if ip.touches_grid:
            used.append(k)
            ctx_id += 1
        else:
            ip.tiles.clear()
    # Re-number context ids over the inputs used, in order.
    for n, k in enumerate(used):
        scanned[k] = _with_ctx_id(scanned[k], first_ctx_id + n)
    plan = MosaicPlan(grid, tuple(block_shape), plans)
    outside = plan.inputs_outside
    if outside:
        names = ", ".join(plans[k].name for k in outside)
        warnings.warn(
            f"{len(outside)} input(s) touch no tile of the output grid and were skipped: {names}",
            InputsOutsideWarning,
            stacklevel=3,
        )

    n_planes = max(st.group["ctx"].shape[0], (first_ctx_id + max(len(used), 1) - 1) // 32 + 1)
    if batch != (batches[-1]["id"] if batches else 0):
        batches.append(
            {"id": batch, "status": "running", "first_ctx_id": first_ctx_id, "inputs": record}
        )
        st.update_attrs(batches=batches)
    st.prepare_layout(n_planes, n_img2, with_dq)
    if batch > 1:
        st.ensure_backup()

    done = st.tile_batches() == batch
    tasks = plan.tasks_by_tile()
    todo = [t for t in tasks if not done[t]]
    progress_bar = _Progress(len(todo), progress)
    with Runner(scheduler) as runner:
        # In this process (sync, threads) tiles are written behind the kernels.
        writer = TileWriteBehind() if runner.local in ("sync", "threads") else None
        try:
            _run_waves(runner, writer, todo, tasks, plans, scanned, used, block_shape, grid,
                       st, attrs, batch, n_img2, with_dq, wave_bytes, progress_bar)  # fmt: skip
        finally:
            if writer is not None:
                writer.close(raise_errors=sys.exc_info()[0] is None)
            runner.run_everywhere(forget_strips, [s.strip_owner for s in scanned
                                                  if isinstance(s, LazyExposure)])  # fmt: skip

    total_exptime = attrs["total_exptime"] + sum(float(exposures[k].exptime) for k in used)
    inputs_attr = attrs["inputs"] + [
        {
            "name": exposures[k].name or f"input {k}",
            "batch": batch,
            "ctx_id": scanned[k].ctx_id,
            "exptime": float(exposures[k].exptime),
            "shape": list(scanned[k].shape),
            "iscale": float(exposures[k].iscale),
            "pixel_scale_ratio": float(scanned[k].options.pscale_ratio),
            "wht_scale": float(exposures[k].wht_scale),
            "in_units": exposures[k].in_units,
        }
        for k in used
    ]
    batches = st.attrs["batches"]
    batches[-1]["status"] = "complete"
    batches[-1]["inputs_outside"] = outside
    st.update_attrs(
        total_exptime=total_exptime,
        next_ctx_id=first_ctx_id + len(used),
        inputs=inputs_attr,
        batches=batches,
    )
    report = {
        "batch": batch,
        "inputs_used": len(used),
        "inputs_outside": [plans[k].name for k in outside],
        "tiles_written": len(todo),
        "tiles_resumed": len(tasks) - len(todo),
        "tasks": plan.n_tasks,
        "total_exptime": total_exptime,
        "seconds": time.perf_counter() - t_start,
        "scheduler": runner.name,
    }
    return MosaicResult(st, plan, report)


MAX_WAVE_ATTEMPTS = 3
"""Times a wave is run when workers die with its inputs (see ``Runner.place_refs``)."""


def _run_waves(
    runner, writer, todo, tasks, plans, scanned, used, block_shape, grid, st, attrs, batch,
    n_img2, with_dq, wave_bytes, progress_bar,
):  # fmt: skip
    """Compute the tiles of ``todo`` wave by wave.

    On a cluster a wave ends when its tiles are on disk, and a wave that lost
    inputs with a worker is rerun for its tiles not committed. In this process
    (``writer``: tiles written behind) nothing is lost or run twice, so the
    tiles' marks are read once here and the writes flow on across waves; the
    caller's ``writer.close`` waits for the last of them.
    """
    placed = _place_inputs(runner, scanned, used, batch, 0)
    bands = {(tile, k): task_bands(plans[k].tiles[tile], block_shape, scanned[k].shape)
             for tile in todo for k in tasks[tile]}  # fmt: skip
    band_uses = _band_uses(bands, scanned)
    key = None if writer is None else writer.key
    marks = None
    if writer is not None:
        committed, pending = st.tile_batches(), st.tile_pendings()
        marks = {t: (int(committed[t]), int(pending[t])) for t in todo}
    for wave in _waves(todo, tasks, grid, wave_bytes, n_img2, with_dq):
        for attempt in range(1, MAX_WAVE_ATTEMPTS + 1):
            try:
                graph, keys = _wave_graph(
                    wave, tasks, placed, plans, scanned, grid, st, attrs, batch, n_img2,
                    with_dq, key, marks, attempt, bands, band_uses,
                )  # fmt: skip
                runner.compute_graph(graph, keys, on_result=progress_bar.step)
                break
            except InputsLostError:
                if attempt == MAX_WAVE_ATTEMPTS:
                    raise
                # A worker died with inputs scattered to it: place them again and
                # rerun the tiles of the wave that are not committed yet.
                placed = _place_inputs(runner, scanned, used, batch, attempt)
                committed = st.tile_batches() == batch
                wave = [t for t in wave if not committed[t]]


def _place_inputs(runner, scanned, used, batch, attempt):
    """``({input index: graph reference}, graph of the inputs that travel in it)``."""
    refs, graph = runner.place_refs([scanned[k] for k in used], f"exposure-{batch}-{attempt}")
    return dict(zip(used, refs, strict=True)), graph


def _band_uses(bands, scanned):
    """How many tasks read each band of each lazy input, from the tasks' ``bands``
    (``{(tile, input index): bands}``): ``{(input index, first row of the band):
    tasks}`` (see ``tiledrizzle.strips``)."""
    uses = Counter()
    for (_, k), task in bands.items():
        if isinstance(scanned[k], LazyExposure):
            for band in task:
                uses[k, band[0]] += 1
    return uses


def _wave_graph(
    wave, tasks, placed, plans, scanned, grid, st, attrs, batch, n_img2, with_dq, writer, marks,
    attempt, bands_of, band_uses,
):  # fmt: skip
    """``(graph, keys)``: one reducer per tile of ``wave`` over one drizzle task per
    (tile, input); the keys are the reducers'. ``bands_of[tile, input]`` holds each
    task's bands, ``band_uses`` how many tasks read each lazy input's bands.

    The graph is built from ``dask.task_spec`` nodes with keys named after store,
    batch, attempt, tile and input (``dask.delayed`` would hash every argument,
    which costs more than the rest of the graph).
    """
    ref_of, graph = placed
    graph = dict(graph)
    keys = []
    prefix = f"{attrs['store_id'][:16]}-{batch}-{attempt}"
    for tile in wave:
        ty, tx = tile
        parts = []
        for k in tasks[tile]:
            key = f"drizzle_tile-{prefix}-{ty}-{tx}-{k}"
            bands = bands_of[tile, k]
            lazy = isinstance(scanned[k], LazyExposure)
            graph[key] = Task(
                key, drizzle_tile, ref_of[k], bands,
                plans[k].task_window(tile, grid),  # the part of the tile it can reach
                grid.shape,
                step=None if lazy else plans[k].step,
                nan_free=plans[k].nan_free,
                band_uses=tuple(band_uses[k, band[0]] for band in bands) if lazy else None,
            )  # fmt: skip
            parts.append(TaskRef(key))
        key = f"finish_tile-{prefix}-{ty}-{tx}"
        graph[key] = Task(
            key, finish_tile, st.path, attrs["store_id"], tile, batch, TaskList(*parts),
            n_img2, with_dq, writer, None if marks is None else marks[tile],
        )  # fmt: skip
        keys.append(key)
    return graph, keys


def _with_ctx_id(exposure, ctx_id):
    return replace(exposure, ctx_id=ctx_id)


def _waves(todo, tasks, grid, wave_bytes, n_img2, with_dq):
    """Split ``todo`` tiles (row-major) into waves whose partial sums fit ``wave_bytes``."""
    per_pixel = 20 + 8 * n_img2 + (4 if with_dq else 0) + 4
    wave, size = [], 0
    for tile in todo:
        ny, nx = grid.extent(tile)
        cost = ny * nx * per_pixel * len(tasks[tile])
        if wave and size + cost > wave_bytes:
            yield wave
            wave, size = [], 0
        wave.append(tile)
        size += cost
    if wave:
        yield wave
