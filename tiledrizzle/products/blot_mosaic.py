"""Blot from a Zarr mosaic onto an input grid, block by block, without loading the mosaic.

The exposure grid is cut into blocks; each block's task reads only the part of
the mosaic its interpolation footprint needs (``engine.blot.blot_input_box``) and runs
``engine.blot.blot_block`` on it. The result is bit-identical to ``blot_image`` on the
whole mosaic array.
"""

from __future__ import annotations

import uuid

import numpy as np
from dask.task_spec import Task

from tiledrizzle.core.errors import InputError
from tiledrizzle.core.grid import TileGrid, positive_pair
from tiledrizzle.engine.blot import as_pixmap, blot_block, blot_input_box, method_and_table
from tiledrizzle.engine.schedulers import Runner, check_scheduler
from tiledrizzle.store.zarr_store import MARKERS, MosaicStore

DEFAULT_BLOT_BLOCK = (512, 512)


def _blot_one_block(path, array, pixmap_block, interp, iscale, fillval, sinscl):
    store = MosaicStore.open(path)
    source = store.reader(array)
    out = np.full(pixmap_block.shape[:2], np.float32(fillval), dtype=np.float32)
    box = blot_input_box(pixmap_block, source.shape, interp)
    if box is None:
        return out
    y0, y1, x0, x1 = box
    data = np.asarray(source[y0:y1, x0:x1], dtype=np.float32)
    blot_block(data, (y0, x0), source.shape, pixmap_block, out, interp=interp, iscale=iscale,
               fillval=fillval, sinscl=sinscl)  # fmt: skip
    return out


def blot_mosaic(
    store,
    pixmap,
    *,
    interp="poly5",
    iscale=1.0,
    fillval=0.0,
    sinscl=1.0,
    array="img",
    block_shape=DEFAULT_BLOT_BLOCK,
    scheduler="sync",
):
    """Interpolate the mosaic in ``store`` at ``pixmap`` positions (an exposure's grid).

    ``store``: a path or a ``MosaicStore``. ``pixmap`` (Ny, Nx, 2) holds, for
    each pixel of the grid to make, its ``(x, y)`` position on the mosaic (the
    same pixmap that drizzled that exposure in). ``array`` names the store
    array to blot (``img`` by default). Other arguments as ``blot_image``.
    Returns a float32 array (Ny, Nx).
    """
    path = store.path if isinstance(store, MosaicStore) else str(store)
    opened = MosaicStore.open(path)
    opened.check_finished("blotting")
    source = opened.group
    if array not in source or array in ("ctx", *MARKERS) or array.startswith("_backup"):
        raise InputError(f"'array' must name an image array of the store, got {array!r}")
    pixmap = as_pixmap(pixmap)
    method_and_table(interp)  # unknown interpolators fail here, before any task
    blocks = TileGrid(pixmap.shape[:2], positive_pair(block_shape, "block_shape"))
    check_scheduler(scheduler)
    out = np.empty(pixmap.shape[:2], dtype=np.float32)
    prefix = f"blot-{uuid.uuid4().hex[:16]}"
    graph, keys = {}, []
    for by, bx in blocks.tiles():
        key = f"{prefix}-{by}-{bx}"
        block = np.ascontiguousarray(pixmap[blocks.slices((by, bx))])
        graph[key] = Task(
            key, _blot_one_block, path, array, block, interp, iscale, fillval,
            sinscl,
        )  # fmt: skip
        keys.append(key)
    with Runner(scheduler) as runner:
        for b, values in zip(blocks.tiles(), runner.compute_graph(graph, keys), strict=True):
            out[blocks.slices(b)] = values
    return out
