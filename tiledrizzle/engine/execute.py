"""Run a ``MosaicPlan`` into a Zarr store on any Dask scheduler.

Per wave of tiles, one task per (tile, input) returns partial sums and one
reducer per tile merges them in global input order with what the store holds
and writes the tile once (``engine.tile_commit.finish_tile``). Adding inputs to an
existing store continues its context ids and exposure time; an interrupted
batch is finished with ``resume=True``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass, field, replace

from tiledrizzle.core.errors import InputError, StoreError
from tiledrizzle.core.interrupt import checkpoint
from tiledrizzle.engine.exposures import LazyExposure
from tiledrizzle.engine.graph import band_uses, place_inputs, task_bands_of, wave_graph
from tiledrizzle.engine.progress import as_progress
from tiledrizzle.engine.schedulers import InputsLostError, Runner, check_scheduler
from tiledrizzle.engine.strips import forget_strips
from tiledrizzle.engine.write_behind import TileWriteBehind
from tiledrizzle.inputs.units import UNIT_FACTS, unit_difference
from tiledrizzle.kernels.registry import context_plane_count
from tiledrizzle.store.zarr_store import MosaicStore, StoreMeta

log = logging.getLogger(__name__)

MAX_WAVE_ATTEMPTS = 3
"""Times a wave is run when workers die with its inputs (see ``Runner.place_refs``)."""


@dataclass
class MosaicResult:
    """What ``mosaic`` made: the store, the plan, a report and lazy output arrays."""

    store: MosaicStore
    plan: object  # the MosaicPlan that ran
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


def _store_meta(plan) -> StoreMeta:
    return StoreMeta(plan.grid, plan.kernel, plan.pixfrac, plan.fillval, plan.fillval2)


def _check_img2_count(attrs, n_img2):
    """A store's variance arrays are co-added over all its inputs: a batch must bring as
    many as the store's earlier inputs did (none, or the same number)."""
    held = attrs["n_img2"]
    if held and n_img2 and held != n_img2:
        raise InputError(f"the store holds {held} 'img2' arrays; the inputs have {n_img2}")
    if attrs["inputs"] and held != n_img2:
        if held:
            raise InputError(
                f"the store holds {held} 'img2' (variance) arrays from its earlier inputs; "
                "inputs without 'data2' would leave them stale where the weight changes"
            )
        raise InputError(
            f"the inputs have {n_img2} 'data2' (variance) arrays but the store's earlier "
            "inputs had none: their variance is unknown; use a new store"
        )


def execute_plan(plan, store, *, scheduler="threads", progress=False, resume=False, t_start=None):
    """Run ``plan`` into the store at ``store`` (a path or URL; created if absent).

    ``progress``: True shows a tqdm bar on stderr; an ``engine.progress.Progress``
    gets the stages ('opening the store', 'drizzling' over the tiles, 'finishing') and a step
    per tile as it is handed to the writer or written."""
    t_start = time.perf_counter() if t_start is None else t_start
    progress, owned = as_progress(progress)
    with progress if owned else contextlib.nullcontext():
        progress.stage("opening the store")
        return _execute(plan, store, scheduler, progress, resume, t_start)


def _execute(plan, store, scheduler, progress, resume, t_start):
    check_scheduler(scheduler)
    meta = _store_meta(plan)
    path = os.fspath(store)
    if "://" not in path:
        path = os.path.abspath(path)  # workers of a cluster may run in other directories
    # The scheduler is reached, and a cluster's workers checked (their tiledrizzle
    # version), before the store is touched.
    with Runner(scheduler) as runner:
        existing = MosaicStore.exists(path)
        if existing:
            st = MosaicStore.open(path, mode="r+")
            st.check_matches(meta)
            _check_img2_count(st.attrs, plan.n_img2)
        else:
            st = MosaicStore.create(path, meta, plan.wcs_header)

        st.acquire_lock()
        try:
            if existing:
                # Another job may have written a batch since we first looked: reread what
                # the store holds now that we are its only writer.
                st = MosaicStore.open(path, mode="r+")
                st.check_matches(meta)
                _check_img2_count(st.attrs, plan.n_img2)
            return _run_batch(st, plan, runner, progress, resume, t_start)
        finally:
            st.release_lock()


def _batch_record(plan):
    """What a batch must be run with again to be resumed: per input its name, shape and
    every option that changes pixels (``records``, with the input's fingerprint)."""
    keys = ("name", "shape", "exptime", "iscale", "pixel_scale_ratio", "wht_scale",
            "in_units", "fingerprint")  # fmt: skip
    return [{k: r[k] for k in keys} for r in plan.records]


def _same(a, b):
    """Equal, with NaN equal to NaN (a scale ratio no kernel needed is NaN)."""
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


def _record_mismatch(held, record):
    """A sentence naming the first difference between two batch records, or None."""
    if len(held) != len(record):
        return f"it had {len(held)} inputs, not {len(record)}"
    for k, (a, b) in enumerate(zip(held, record, strict=True)):
        for key in a.keys() | b.keys():
            if not _same(a.get(key), b.get(key)):
                what = "its pixels or options" if key == "fingerprint" else repr(key)
                return f"input {k} ({a.get('name') or b.get('name')}) differs in {what}"
    return None


def _run_batch(st, plan, runner, progress, resume, t_start):
    attrs = st.attrs
    batches = attrs["batches"]
    record = _batch_record(plan)
    if batches and batches[-1]["status"] == "running":
        last = batches[-1]
        if not resume:
            raise StoreError(
                f"the store {st.path!r} holds an interrupted batch ({last['id']}); finish it "
                "with resume=True and the same inputs and options, undo it with "
                "abort_batch(store), or use a new store"
            )
        why = _record_mismatch(last["inputs"], record)
        if why is not None:
            raise StoreError(
                f"resume=True needs the same inputs and options as the interrupted batch "
                f"{last['id']} of {st.path!r}: {why}"
            )
        batch, first_ctx_id = last["id"], last["first_ctx_id"]
    elif resume:
        raise StoreError(
            f"the store {st.path!r} holds no interrupted batch to resume (its last batch "
            "finished); without resume=True the inputs are added as a new batch"
        )
    else:
        batch, first_ctx_id = len(batches) + 1, attrs["next_ctx_id"]
        if not plan.allow_duplicates:
            _refuse_stored_duplicates(st, plan)
        _check_stored_units(st, plan)

    used = plan.used
    # The plan counts context ids from 0 over the inputs used; the store continues its own.
    exposures = [
        e if e.ctx_id is None else replace(e, ctx_id=first_ctx_id + e.ctx_id)
        for e in plan.exposures
    ]
    n_planes = max(st.group["ctx"].shape[0], context_plane_count(first_ctx_id + max(len(used), 1)))
    # Everything that can be checked is checked before the batch is recorded: the
    # scheduler answered and its workers run our version (``Runner``), and every lazy
    # input reads (its last row).
    probe_inputs(exposures, used)
    st.check_markers(batch)  # a lost tile marker would drop that tile's earlier data
    if batch != (batches[-1]["id"] if batches else 0):
        batches.append({
            "id": batch, "status": "running", "first_ctx_id": first_ctx_id,
            "inputs": record, "layout_before": st.layout(),
        })  # fmt: skip
        st.update_attrs(batches=batches)
    st.prepare_layout(n_planes, plan.n_img2, plan.with_dq)
    if batch > 1:
        st.ensure_backup()
    return _run_tiles(st, plan, runner, exposures, batch, first_ctx_id, progress, t_start)


def _run_tiles(st, plan, runner, exposures, batch, first_ctx_id, progress, t_start):
    attrs = st.attrs
    used, outside = plan.used, plan.inputs_outside
    done = st.tile_batches() == batch
    tasks = plan.tasks_by_tile()
    todo = [t for t in tasks if not done[t]]
    if log.isEnabledFor(logging.DEBUG):
        log.debug("batch %d on %s: %d tiles to write, %d committed already, %d tasks, "
                  "%d waves", batch, runner.name, len(todo), len(tasks) - len(todo),
                  sum(len(tasks[t]) for t in todo), len(plan.waves(todo)))  # fmt: skip
    progress.stage("drizzling", total=len(todo), unit="tiles")
    # In this process (sync, threads) tiles are written behind the kernels.
    writer = TileWriteBehind() if runner.local in ("sync", "threads") else None
    try:
        _run_waves(runner, writer, todo, plan, exposures, used, st, batch, progress)
        progress.stage("finishing")
    finally:
        if writer is not None:
            writer.close(raise_errors=sys.exc_info()[0] is None)
        runner.run_everywhere(forget_strips, [e.strip_owner for e in exposures
                                              if isinstance(e, LazyExposure)])  # fmt: skip

    records = plan.records
    total_exptime = attrs["total_exptime"] + sum(records[k]["exptime"] for k in used)
    inputs_attr = attrs["inputs"] + [
        {
            "name": records[k]["label"],
            "batch": batch,
            "ctx_id": exposures[k].ctx_id,
            "exptime": records[k]["exptime"],
            "shape": list(exposures[k].shape),
            "iscale": records[k]["iscale"],
            "pixel_scale_ratio": records[k]["pixel_scale_ratio"],
            "wht_scale": records[k]["wht_scale"],
            "in_units": records[k]["in_units"],
            "fingerprint": records[k]["fingerprint"],
            "source_id": records[k]["source_id"],
            "source_path": records[k]["source_path"],
            "bunit": records[k]["bunit"],
            "area_ratio": records[k]["area_ratio"],
        }
        for k in used
    ]
    batches = st.attrs["batches"]
    batches[-1]["status"] = "complete"
    batches[-1]["inputs_outside"] = outside
    held = st.attrs.get("units") or {}
    units = {key: held.get(key) or value for key, value in plan.units.items()}
    st.update_attrs(
        units=units,
        total_exptime=total_exptime,
        next_ctx_id=first_ctx_id + len(used),
        inputs=inputs_attr,
        batches=batches,
    )
    log.debug("batch %d complete: %d tiles written, %.2f s after the start", batch, len(todo),
              time.perf_counter() - t_start)  # fmt: skip
    report = {
        "batch": batch,
        "inputs_used": len(used),
        "inputs_outside": [plan.inputs[k].name for k in outside],
        "tiles_written": len(todo),
        "tiles_resumed": len(tasks) - len(todo),
        "tasks": plan.n_tasks,
        "total_exptime": total_exptime,
        "units": units,
        "seconds": time.perf_counter() - t_start,
        "scheduler": runner.name,
    }
    return MosaicResult(st, plan, report)


def _run_waves(runner, writer, todo, plan, exposures, used, st, batch, progress):
    """Compute the tiles of ``todo`` wave by wave.

    On a cluster a wave ends when its tiles are on disk, and a wave that lost
    inputs with a worker is rerun for its tiles not committed. In this process
    (``writer``: tiles written behind) nothing is lost or run twice, so the
    tiles' marks are read once here and the writes flow on across waves; the
    caller's ``writer.close`` waits for the last of them.
    """
    placed = place_inputs(runner, exposures, used, batch, 0)
    bands = task_bands_of(plan, todo, plan.block_shape)
    uses = band_uses(bands, exposures)
    key = None if writer is None else writer.key
    marks = None
    if writer is not None:
        committed, pending = st.tile_batches(), st.tile_pendings()
        marks = {t: (int(committed[t]), int(pending[t])) for t in todo}
    waves = plan.waves(todo)
    for number, wave in enumerate(waves, 1):
        t_wave = time.perf_counter()
        for attempt in range(1, MAX_WAVE_ATTEMPTS + 1):
            try:
                graph, keys = wave_graph(
                    wave, plan, exposures, placed, st, batch, key, marks, attempt, bands, uses
                )
                runner.compute_graph(graph, keys, on_result=lambda _: progress.advance())
                break
            except InputsLostError:
                if attempt == MAX_WAVE_ATTEMPTS:
                    raise
                # A worker died with inputs scattered to it: place them again and
                # rerun the tiles of the wave that are not committed yet.
                placed = place_inputs(runner, exposures, used, batch, attempt)
                committed = st.tile_batches() == batch
                wave = [t for t in wave if not committed[t]]
                log.debug("wave %d: a worker died with inputs; rerunning its %d tiles not "
                          "committed", number, len(wave))  # fmt: skip
        log.debug("wave %d of %d: %d tiles computed in %.2f s", number, len(waves), len(wave),
                  time.perf_counter() - t_wave)  # fmt: skip


def _check_stored_units(st, plan):
    """A batch adds values of the store's unit only (``MosaicPlan.units``)."""
    held = st.attrs.get("units")
    if not held or not st.attrs["inputs"]:
        return
    differ = unit_difference(plan.units, held)
    if differ is not None:
        key, mine, theirs = differ
        raise InputError(
            f"the inputs have {UNIT_FACTS[key]} {mine!r}, the store {st.path!r} {theirs!r}: "
            "a mosaic has one unit"
        )


def _refuse_stored_duplicates(st, plan):
    """An input whose content (``source_id``) or file (``source_path``: a file changed
    in place since) is in the store already would count one exposure twice."""
    held = {}
    for i in st.attrs["inputs"]:
        for key in (i.get("source_id"), i.get("source_path")):
            if key:
                held.setdefault(key, i)
    for k in plan.used:
        r = plan.records[k]
        by_content = held.get(r["source_id"])
        there = by_content or held.get(r.get("source_path"))
        if there is not None:
            how = "the same exposure" if by_content else "the same file (changed since)"
            raise InputError(
                f"input {k} ({r['label']}) is {how} as {there['name']!r} already in the "
                f"store {st.path!r} (batch {there['batch']}): it would be counted twice "
                "(allow_duplicates=True to drizzle it again, or start a new store)"
            )


def probe_inputs(exposures, used):
    """Check that every file-backed input used reads to its last row (a truncated file
    fails here, before the batch is recorded, not in the middle of it)."""
    for k in used:
        checkpoint()
        check = getattr(getattr(exposures[k], "source", None), "check_readable", None)
        if check is not None:
            check()


def abort_batch(store):
    """Undo the interrupted batch of the store at ``store``: every tile it wrote gets its
    previous content back (or becomes blank), arrays it added are removed and its record
    dropped, so the store is as it was before the batch. Returns the batch's id.

    ``StoreError`` when the store's last batch finished (there is nothing to undo).
    """
    path = os.fspath(store)
    st = MosaicStore.open(path, mode="r+")
    st.acquire_lock()
    try:
        st = MosaicStore.open(path, mode="r+")  # reread under the lock
        batches = st.attrs["batches"]
        if not batches or batches[-1]["status"] != "running":
            raise StoreError(f"the store {path!r} holds no interrupted batch to abort")
        last = batches[-1]
        st.abort_tiles(last["id"])
        st.restore_layout(last.get("layout_before") or st.layout())
        st.update_attrs(batches=batches[:-1])
        return last["id"]
    finally:
        st.release_lock()
