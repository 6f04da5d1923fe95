"""Task graphs of the engine, built from ``dask.task_spec`` nodes with readable keys.

A batch wave is one reducer per tile (``engine.tile_commit.finish_tile``) over one
drizzle task per (tile, input) (``engine.tasks.drizzle_tile``); the facade's
tiled path is one drizzle task per tile of a single input, whose partial sums
come back to the caller. Keys name the store, batch, attempt, tile and input
(``dask.delayed`` would hash every argument, which costs more than the rest of
the graph).
"""

from __future__ import annotations

from collections import Counter

from dask.task_spec import List as TaskList
from dask.task_spec import Task, TaskRef

from tiledrizzle.engine.exposures import LazyExposure
from tiledrizzle.engine.input_plan import plan_input, task_bands
from tiledrizzle.engine.schedulers import Runner
from tiledrizzle.engine.tasks import drizzle_tile
from tiledrizzle.engine.tile_commit import finish_tile


def drizzle_exposure_tiles(exposure, grid, block_shape, scheduler, name):
    """Partial sums (``TilePartial``, with hits) of one scanned input over every tile of
    ``grid`` it touches, computed on ``scheduler`` (the facade's tiled path)."""
    plan = plan_input(exposure, grid, block_shape)
    shape = exposure.inp.shape
    with Runner(scheduler) as runner:
        (ref,), graph = runner.place_refs([exposure], f"{name}-exposure")
        keys = []
        for tile, blocks in sorted(plan.tiles.items()):
            y0, x0 = grid.origin(tile)
            window = (y0, x0) + grid.extent(tile)
            bands = task_bands(blocks, block_shape, shape)
            key = f"drizzle_tile-{name}-{tile[0]}-{tile[1]}"
            graph[key] = Task(
                key, drizzle_tile, ref, bands, window, grid.shape, want_hits=True,
                step=plan.step, nan_free=plan.nan_free,
            )  # fmt: skip
            keys.append(key)
        return runner.compute_graph(graph, keys)


def place_inputs(runner, exposures, used, batch, attempt):
    """``({input index: graph reference}, graph of the inputs that travel in it)``."""
    refs, graph = runner.place_refs([exposures[k] for k in used], f"exposure-{batch}-{attempt}")
    return dict(zip(used, refs, strict=True)), graph


def task_bands_of(plan, tiles, block_shape):
    """``{(tile, input index): bands}`` of every task of ``tiles`` (``MosaicPlan``)."""
    tasks = plan.tasks_by_tile()
    return {
        (tile, k): task_bands(plan.inputs[k].tiles[tile], block_shape, plan.exposures[k].shape)
        for tile in tiles
        for k in tasks[tile]
    }


def band_uses(bands, exposures):
    """How many tasks read each band of each lazy input, from the tasks' ``bands``
    (``{(tile, input index): bands}``): ``{(input index, first row of the band):
    tasks}`` (see ``engine.strips``)."""
    uses = Counter()
    for (_, k), task in bands.items():
        if isinstance(exposures[k], LazyExposure):
            for band in task:
                uses[k, band[0]] += 1
    return uses


def wave_graph(wave, plan, exposures, placed, store, batch, writer, marks, attempt, bands_of,
               uses):  # fmt: skip
    """``(graph, keys)``: one reducer per tile of ``wave`` over one drizzle task per
    (tile, input); the keys are the reducers'. ``exposures`` are the plan's with
    the batch's context ids; ``bands_of[tile, input]`` holds each task's bands,
    ``uses`` how many tasks read each lazy input's bands; ``writer`` names the
    process's write-behind thread (None: reducers write themselves); ``marks``
    the tiles' ``(committed, pending)`` batches when known here.
    """
    ref_of, graph = placed
    graph = dict(graph)
    keys = []
    grid = plan.grid
    tasks = plan.tasks_by_tile()
    store_id = store.attrs["store_id"]
    prefix = f"{store_id[:16]}-{batch}-{attempt}"
    for tile in wave:
        ty, tx = tile
        parts = []
        for k in tasks[tile]:
            key = f"drizzle_tile-{prefix}-{ty}-{tx}-{k}"
            bands = bands_of[tile, k]
            lazy = isinstance(exposures[k], LazyExposure)
            ip = plan.inputs[k]
            graph[key] = Task(
                key, drizzle_tile, ref_of[k], bands,
                ip.task_window(tile, grid),  # the part of the tile it can reach
                grid.shape,
                step=None if lazy else ip.step,
                nan_free=ip.nan_free,
                band_uses=tuple(uses[k, band[0]] for band in bands) if lazy else None,
            )  # fmt: skip
            parts.append(TaskRef(key))
        key = f"finish_tile-{prefix}-{ty}-{tx}"
        graph[key] = Task(
            key, finish_tile, store.path, store_id, tile, batch, TaskList(*parts),
            plan.n_img2, plan.with_dq, writer, None if marks is None else marks[tile],
        )  # fmt: skip
        keys.append(key)
    return graph, keys
