"""The batch engine's reducer task: a tile's partial sums folded into what the store holds
for it, and the tile written once (``store.zarr_store.MosaicStore.write_tile``).

On local schedulers the task hands the merge and the write to a writer thread
(``engine.write_behind``) and returns at once; on a cluster it does both where it
runs. The arithmetic is ``engine.reduce.reduce_tile``; this module only reads,
hands over and writes.
"""

from __future__ import annotations

from tiledrizzle.core.errors import StoreError
from tiledrizzle.engine.reduce import reduce_tile
from tiledrizzle.engine.write_behind import writer_for
from tiledrizzle.store.tile_state import copy_state
from tiledrizzle.store.zarr_store import MosaicStore

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
    state = before if marks[0] == 0 else copy_state(before)
    after = reduce_tile(
        state, partials, store.meta.fillval, store.meta.fillval2, store.meta.grid.origin(tile),
        blank=marks[0] == 0,
    )  # fmt: skip
    store.write_tile(tile, before, after, batch, marks)
