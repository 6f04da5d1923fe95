"""A PNG or JPEG quick-look of a mosaic of any size.

``preview_png`` makes an 8-bit grayscale image of one store array, reading it
lazily through Dask, tile by tile, and block-averaging it down to at most
``max_size`` pixels on a side; optionally a second panel beside it shows a crop
at the store's own pixel scale, enlarged by repeating pixels. The levels come
from ``astropy.visualization`` (intervals and stretches, no matplotlib); the
file is written with Pillow, in the format its suffix names.
"""

from __future__ import annotations

import math
import os

import numpy as np

from tiledrizzle.core.errors import InputError
from tiledrizzle.core.interrupt import checkpoint_callback
from tiledrizzle.products.export import as_store, temp_beside
from tiledrizzle.store.zarr_store import MosaicStore

STRETCHES = ("asinh", "zscale", "linear", "log")
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
"""File suffixes (case-insensitive) and the format written for each."""
SKY_SIGMAS = 2.0
"""Black is this many (sigma-clipped) standard deviations below the sky of an image."""
SOFTENING_SIGMAS = 5.0
"""asinh and log turn from linear to logarithmic this many sigmas above black."""
STATS_SAMPLES = 1 << 20
"""At most this many values (evenly strided) go into the sky statistics."""
ZOOM_BOX = 255
"""Gray level of the outline marking the zoomed crop on the full view."""
PANEL_GAP = 8
"""Pixels between the two panels (mid-gray)."""


def preview_format(path):
    """The image format ('PNG' or 'JPEG') that ``path``'s suffix names; else ``InputError``."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in IMAGE_FORMATS:
        raise InputError(
            f"cannot tell the image format of {os.fspath(path)!r} from its suffix: "
            "name a .png, .jpg or .jpeg file"
        )
    return IMAGE_FORMATS[suffix]


def _preview_arrays(st: MosaicStore):
    return ["img", "wht", "ctx"] + [f"img2/{k}" for k in range(int(st.attrs["n_img2"]))]


def block_mean(arr, factor):
    """NaN-aware ``factor`` x ``factor`` block mean of a 2-D dask array (edges padded).

    Returns a NumPy array of shape ceil(ny / factor), ceil(nx / factor); a
    block without finite values is NaN.
    """
    import dask
    import dask.array as da

    arr = arr.astype(np.float64)
    if factor > 1:
        ny, nx = arr.shape
        pad = ((0, -ny % factor), (0, -nx % factor))
        if pad[0][1] or pad[1][1]:
            arr = da.pad(arr, pad, mode="constant", constant_values=np.nan)
        chunks = tuple(
            factor * max(1, round(c[0] / factor)) if len(c) else factor for c in arr.chunks
        )
        arr = arr.rechunk(chunks)
    valid = da.isfinite(arr)
    axes = {0: factor, 1: factor}
    total = da.coarsen(np.sum, da.where(valid, arr, 0.0), axes)
    count = da.coarsen(np.sum, valid.astype(np.int64), axes)
    total, count = dask.compute(total, count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def popcount32(a):
    """The number of set bits of every element of an int32/uint32 array (as int64)."""
    v = np.asarray(a).astype(np.uint32, copy=True)
    v = v - ((v >> 1) & np.uint32(0x55555555))
    v = (v & np.uint32(0x33333333)) + ((v >> 2) & np.uint32(0x33333333))
    v = (v + (v >> 4)) & np.uint32(0x0F0F0F0F)
    return ((v * np.uint32(0x01010101)) >> 24).astype(np.int64)


def _normalizer(values, stretch, is_map, percentiles):
    """A function mapping the finite ``values`` to levels in [0, 1] (an interval and a
    stretch of ``astropy.visualization``), or None when they are all equal (``lo``, the
    one value, is returned instead). Composed by hand rather than with ``ImageNormalize``,
    which needs matplotlib (not a dependency)."""
    from astropy.visualization import (
        AsinhStretch,
        AsymmetricPercentileInterval,
        LinearStretch,
        LogStretch,
        ManualInterval,
        ZScaleInterval,
    )

    soft = None  # the softening as a fraction of the range (None: astropy's default)
    if stretch == "zscale":
        lo, hi = ZScaleInterval().get_limits(values)
    elif percentiles is not None:
        lo, hi = AsymmetricPercentileInterval(*percentiles).get_limits(values)
    else:
        lo, hi = float(values.min()), float(values.max())
        if is_map:  # weights, counts: zero (no data) is black
            lo = min(lo, 0.0)
        else:
            from astropy.stats import sigma_clipped_stats

            sample = values[:: max(1, values.size // STATS_SAMPLES)]
            _, sky, sigma = sigma_clipped_stats(sample, sigma=3.0, maxiters=5)
            if np.isfinite(sigma) and sigma > 0:
                lo = max(lo, float(sky) - SKY_SIGMAS * float(sigma))
                if hi > lo:
                    soft = SOFTENING_SIGMAS * float(sigma) / (hi - lo)
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        return None, lo
    if stretch == "asinh":
        st = AsinhStretch() if soft is None else AsinhStretch(min(max(soft, 1e-4), 1.0))
    elif stretch == "log":
        st = LogStretch() if soft is None else LogStretch(min(max(1.0 / soft, 1.0), 1e4))
    else:  # linear, zscale
        st = LinearStretch()
    interval = ManualInterval(lo, hi)
    return (lambda v: st(interval(v, clip=True), clip=True)), lo


def _gray(img, norm, lo):
    """8-bit levels of ``img`` (NaN: black) through ``norm`` (None: all values ``lo``)."""
    finite = np.isfinite(img)
    level = np.zeros(img.shape, np.float64)
    values = img[finite]
    if norm is None:
        level[finite] = np.where(values > lo, 1.0, np.where(values < lo, 0.0, 0.5))
    else:
        level[finite] = np.asarray(np.ma.filled(norm(values), 0.0), np.float64)
    return np.round(np.clip(level, 0.0, 1.0) * 255.0).astype(np.uint8)


def _zoom_window(zoom, size, shape):
    """Row and column slices of the ``size`` crop centred on ``zoom``, kept inside ``shape``."""
    out = []
    for centre, n in zip(zoom, shape, strict=True):
        side = min(size, n)
        start = min(max(int(round(centre)) - side // 2, 0), n - side)
        out.append(slice(start, start + side))
    return tuple(out)


def _outline(gray, window, factor):
    """Mark the crop ``window`` (store pixels) on the full view ``gray`` (store row order)."""
    h, w = gray.shape
    r0, r1 = window[0].start // factor, min(h - 1, (window[0].stop - 1) // factor)
    c0, c1 = window[1].start // factor, min(w - 1, (window[1].stop - 1) // factor)
    gray[r0, c0 : c1 + 1] = gray[r1, c0 : c1 + 1] = ZOOM_BOX
    gray[r0 : r1 + 1, c0] = gray[r0 : r1 + 1, c1] = ZOOM_BOX


def _side_by_side(left, right):
    h = max(left.shape[0], right.shape[0])
    out = np.zeros((h, left.shape[1] + PANEL_GAP + right.shape[1]), np.uint8)
    out[:, left.shape[1] : left.shape[1] + PANEL_GAP] = 128
    out[: left.shape[0], : left.shape[1]] = left
    out[: right.shape[0], left.shape[1] + PANEL_GAP :] = right
    return out


def preview_png(
    store,
    path,
    *,
    stretch="asinh",
    array="img",
    max_size=2048,
    percentiles=None,
    scheduler="threads",
    zoom=None,
    zoom_size=128,
):
    """Write an 8-bit grayscale quick-look of the mosaic; return the image's shape (h, w).

    The format follows ``path``'s suffix: .png or .jpg/.jpeg (anything else is an
    ``InputError``, raised before the store is read). ``array``: 'img' (default),
    'wht', 'ctx' (the number of inputs that put weight in each pixel: the context
    bits set over all planes) or 'img2/<k>'. The array is read lazily, chunk by
    chunk, and block-averaged (NaN-aware; pixels without weight are left out) by
    the smallest whole factor that brings both sides to at most ``max_size``.

    ``stretch``: 'asinh' (default), 'log' or 'linear' between black just below
    the sky (its sigma-clipped median minus 2 sigma; zero for 'wht' and 'ctx')
    and white at the brightest pixel, asinh and log softened at 5 sigma, so the
    background is a quiet dark gray and no star is clipped; 'zscale' is linear
    between astropy's ZScaleInterval limits. ``percentiles=(low, high)`` puts black
    and white at those percentiles instead. Empty pixels are black; north
    (row ny-1) is at the top.

    ``zoom=(row, col)``: a second panel, right of the first, shows the
    ``zoom_size`` x ``zoom_size`` store pixels around that pixel at the store's
    own scale, each repeated to about the first panel's height, with the same
    levels; an outline marks the crop on the full view. An existing ``path`` is
    replaced (atomically).
    """
    import dask
    from dask.callbacks import Callback

    fmt = preview_format(path)
    st = as_store(store)
    choices = _preview_arrays(st)
    if array not in choices:
        raise InputError(f"'array' must be one of {choices}, got {array!r}")
    if stretch not in STRETCHES:
        raise InputError(f"'stretch' must be one of {STRETCHES}, got {stretch!r}")
    if isinstance(max_size, bool) or int(max_size) != max_size or max_size < 1:
        raise InputError(f"'max_size' must be a positive integer, got {max_size!r}")
    if percentiles is not None:
        lo_p, hi_p = (float(p) for p in percentiles)
        if not 0.0 <= lo_p < hi_p <= 100.0:
            raise InputError(f"'percentiles' must be 0 <= low < high <= 100, got {percentiles!r}")
        percentiles = (lo_p, hi_p)
    if zoom is not None:
        try:
            centre = tuple(float(v) for v in zoom)
        except (TypeError, ValueError):
            centre = ()
        if len(centre) != 2 or not all(np.isfinite(centre)):
            raise InputError(f"'zoom' must be a (row, column) pixel, got {zoom!r}")
        zoom = centre
        if isinstance(zoom_size, bool) or int(zoom_size) != zoom_size or zoom_size < 1:
            raise InputError(f"'zoom_size' must be a positive integer, got {zoom_size!r}")

    st.check_finished("making a preview")
    arr = _view(st, array)
    ny, nx = arr.shape
    factor = max(1, math.ceil(max(ny, nx) / int(max_size)))
    # Ctrl-C (``core.interrupt``) stops the computes between tasks.
    with dask.config.set(scheduler=scheduler), Callback(*checkpoint_callback()):
        small = block_mean(arr, factor)
        finite = small[np.isfinite(small)]
        norm, lo = None, 0.0
        if finite.size:
            norm, lo = _normalizer(finite, stretch, array in ("wht", "ctx"), percentiles)
        gray = _gray(small, norm, lo)
        if zoom is not None:
            window = _zoom_window(zoom, int(zoom_size), (ny, nx))
            crop = np.asarray(arr[window].compute(), np.float64)  # zoom_size^2 pixels only
            repeat = max(1, gray.shape[0] // crop.shape[0])
            crop_gray = np.repeat(np.repeat(_gray(crop, norm, lo), repeat, 0), repeat, 1)
            _outline(gray, window, factor)
            gray = _side_by_side(gray[::-1], crop_gray[::-1])  # north (last row) on top
        else:
            gray = gray[::-1]
    _write_image(np.ascontiguousarray(gray), path, fmt)
    return gray.shape


def _write_image(gray, path, fmt):
    from PIL import Image

    fd, tmp = temp_beside(os.fspath(path))
    try:
        with os.fdopen(fd, "wb") as f:
            options = {"quality": 92} if fmt == "JPEG" else {"optimize": False}
            Image.fromarray(gray).save(f, format=fmt, **options)  # uint8 2-D: mode L
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _view(st, array):
    """The 2-D dask array the preview shows (empty pixels NaN where a fill value is set)."""
    import dask.array as da

    if array == "ctx":
        ctx = _lazy(st, "ctx")
        return da.map_blocks(popcount32, ctx, dtype=np.int64).sum(axis=0)
    arr = _lazy(st, array)
    if array != "wht" and st.meta.fillval is not None:
        # a numeric fill value marks empty pixels: leave them out of the block means
        arr = da.where(_lazy(st, "wht") > 0, arr, np.nan)
    return arr


def _lazy(st, name):
    """A dask array over the store array ``name``, chunk for chunk (errors name the chunk)."""
    import dask.array as da

    reader = st.reader(name)
    return da.from_array(reader, chunks=reader.chunks, asarray=False, fancy=False,
                         name=f"{name}-{st.attrs['store_id']}")  # fmt: skip
