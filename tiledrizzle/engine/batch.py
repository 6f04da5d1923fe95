"""The batch API: drizzle many inputs into a tiled Zarr mosaic on any Dask scheduler.

``mosaic(inputs, store, ...)`` is ``plan_mosaic(inputs, ...)`` (validation and
planning, ``engine.plan``) followed by ``MosaicPlan.execute(store, ...)``
(``engine.execute``).
"""

from __future__ import annotations

import contextlib
import time

from tiledrizzle.engine.execute import MosaicResult, execute_plan
from tiledrizzle.engine.input_plan import DEFAULT_BLOCK_SHAPE
from tiledrizzle.engine.plan import DEFAULT_TILE_SHAPE, DEFAULT_WAVE_BYTES, plan_mosaic
from tiledrizzle.engine.progress import as_progress
from tiledrizzle.engine.schedulers import check_scheduler


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
    allow_duplicates=False,
) -> MosaicResult:
    """Drizzle ``inputs`` into the Zarr mosaic at ``store`` (created if absent).

    ``inputs``: ``Exposure`` objects or mappings of their fields (the keyword
    arguments of ``Drizzle.add_image``), ``FitsExposure`` objects or FITS paths.
    The grid is ``out_shape`` (ny, nx) or the array shape of an astropy ``wcs``
    (its header is kept in the store). ``scheduler``: 'sync', 'threads',
    'processes', a ``distributed.Client`` or a scheduler address. Results are
    bit-identical whatever ``tile_shape``, ``block_shape``, ``wave_bytes`` and
    scheduler. ``fillval``: the value of pixels without weight (None or
    'INDEF': NaN). ``resume=True`` finishes a batch that was interrupted, given
    the same inputs. Every input is checked before the store is touched; an exposure
    given twice, or already in the store, is refused unless ``allow_duplicates``.

    ``progress``: True shows a tqdm bar on stderr (stages: planning, opening the store,
    drizzling with a step per tile and the time left, finishing); an
    ``engine.progress.Progress`` (``LogProgress``: log lines) is given the same.

    Physics as ``Drizzle`` (``tiledrizzle.resample``): each output pixel is the
    weighted mean of the input values that land on it, in the inputs' units.
    Returns a ``MosaicResult`` (store, plan, report, lazy output arrays).
    """
    t_start = time.perf_counter()
    check_scheduler(scheduler)
    progress, owned = as_progress(progress)
    with progress if owned else contextlib.nullcontext():
        progress.stage("planning")
        plan = plan_mosaic(
            inputs, out_shape=out_shape, wcs=wcs, tile_shape=tile_shape,
            block_shape=block_shape, kernel=kernel, pixfrac=pixfrac, fillval=fillval,
            fillval2=fillval2, wave_bytes=wave_bytes, allow_duplicates=allow_duplicates,
        )  # fmt: skip
        return execute_plan(
            plan, store, scheduler=scheduler, progress=progress, resume=resume, t_start=t_start
        )
