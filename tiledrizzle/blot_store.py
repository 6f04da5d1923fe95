"""Blot from a Zarr mosaic onto an input grid, block by block, without loading the mosaic.

The exposure grid is cut into blocks; each block's task reads only the part of
the mosaic its interpolation footprint needs (``blot.blot_input_box``) and runs
``blot.blot_block`` on it. The result is bit-identical to ``blot_image`` on the
whole mosaic array.
"""

from __future__ import annotations

import dask
import numpy as np

from .blot import _as_pixmap, _method_and_table, blot_block, blot_input_box
from .grid import TileGrid, positive_pair
from .schedulers import Runner, check_scheduler
from .store import MosaicStore

DEFAULT_BLOT_BLOCK = (512, 512)


def _blot_one_block(path, array, pixmap_block, interp, iscale, fillval, sinscl):
    store = MosaicStore.open(path)
    source = store.group[array]
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
    source = MosaicStore.open(path).group
    if array not in source or array in ("ctx", "tile_batch", "tile_pending"):
        raise ValueError(f"'array' must name an image array of the store, got {array!r}")
    pixmap = _as_pixmap(pixmap)
    _method_and_table(interp)  # unknown interpolators fail here, before any task
    blocks = TileGrid(pixmap.shape[:2], positive_pair(block_shape, "block_shape"))
    check_scheduler(scheduler)
    out = np.empty(pixmap.shape[:2], dtype=np.float32)
    with Runner(scheduler) as runner:
        tasks = [
            dask.delayed(_blot_one_block, pure=True)(
                path,
                array,
                np.ascontiguousarray(pixmap[blocks.slices(b)]),
                interp,
                iscale,
                fillval,
                sinscl,
            )  # fmt: skip
            for b in blocks.tiles()
        ]
        for b, values in zip(blocks.tiles(), runner.compute(tasks), strict=True):
            out[blocks.slices(b)] = values
    return out
