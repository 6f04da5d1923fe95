"""A PNG quick-look of a mosaic of any size.

``preview_png`` makes an 8-bit grayscale PNG, reading the store lazily through
Dask and block-averaging it down to at most ``max_size`` pixels on a side; the
PNG is written with zlib and struct only.
"""

from __future__ import annotations

import math
import os
import struct
import zlib

import numpy as np

from tiledrizzle.core.errors import InputError
from tiledrizzle.products.export import as_store, temp_beside
from tiledrizzle.store.zarr_store import MosaicStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STRETCHES = ("asinh", "zscale")
ASINH_A = 0.1
"""Softening of the asinh stretch (as astropy.visualization.AsinhStretch's default)."""


def _preview_arrays(st: MosaicStore):
    return ["img", "wht"] + [f"img2/{k}" for k in range(int(st.attrs["n_img2"]))]


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


def _stretch(img, stretch, percentiles):
    finite = np.isfinite(img)
    out = np.zeros(img.shape, np.float64)
    if not finite.any():
        return out
    values = img[finite]
    if stretch == "zscale":
        from astropy.visualization import ZScaleInterval

        lo, hi = ZScaleInterval().get_limits(values)
    else:
        lo, hi = np.percentile(values, percentiles)
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        out[finite] = np.where(values > lo, 1.0, np.where(values < lo, 0.0, 0.5))
        return out
    x = np.clip((values - lo) / (hi - lo), 0.0, 1.0)
    if stretch == "asinh":
        x = np.arcsinh(x / ASINH_A) / np.arcsinh(1.0 / ASINH_A)
    out[finite] = x
    return out


def png_bytes(gray):
    """The bytes of an 8-bit grayscale PNG of ``gray`` (uint8, row 0 at the top)."""
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    h, w = gray.shape
    raw = np.zeros((h, w + 1), np.uint8)  # filter byte 0 (None) before every row
    raw[:, 1:] = gray

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit gray, no interlace
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def preview_png(
    store,
    path,
    *,
    stretch="asinh",
    array="img",
    max_size=2048,
    percentiles=(0.5, 99.5),
    scheduler="threads",
):
    """Write an 8-bit grayscale PNG quick-look of the mosaic; return its shape (h, w).

    ``array``: 'img' (default), 'wht' or 'img2/<k>'. The array is read lazily
    (``dask.array.from_zarr``) and block-averaged (NaN-aware; pixels without
    weight are left out) by the smallest whole factor that brings both sides to
    at most ``max_size``. ``stretch``: 'asinh' between the ``percentiles`` of
    the finite values, or 'zscale' (linear between astropy's ZScaleInterval
    limits). Empty pixels are black; north (row ny-1) is at the top. An
    existing ``path`` is replaced (atomically).
    """
    import dask
    import dask.array as da

    st = as_store(store)
    choices = _preview_arrays(st)
    if array not in choices:
        raise InputError(f"'array' must be one of {choices}, got {array!r}")
    if stretch not in STRETCHES:
        raise InputError(f"'stretch' must be one of {STRETCHES}, got {stretch!r}")
    if isinstance(max_size, bool) or int(max_size) != max_size or max_size < 1:
        raise InputError(f"'max_size' must be a positive integer, got {max_size!r}")
    lo_p, hi_p = (float(p) for p in percentiles)
    if not 0.0 <= lo_p < hi_p <= 100.0:
        raise InputError(f"'percentiles' must be 0 <= low < high <= 100, got {percentiles!r}")

    st.check_finished("making a preview")
    arr = _lazy(st, array)
    if array != "wht" and st.meta.fillval is not None:
        # a numeric fill value marks empty pixels: leave them out of the block means
        arr = da.where(_lazy(st, "wht") > 0, arr, np.nan)
    ny, nx = arr.shape
    factor = max(1, math.ceil(max(ny, nx) / int(max_size)))
    with dask.config.set(scheduler=scheduler):
        small = block_mean(arr, factor)
    level = _stretch(small, stretch, (lo_p, hi_p))
    gray = np.round(level * 255.0).astype(np.uint8)[::-1]  # north (last row) on top
    data = png_bytes(gray)

    fd, tmp = temp_beside(os.fspath(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return gray.shape


def _lazy(st, name):
    """A dask array over the store array ``name``, chunk for chunk (errors name the chunk)."""
    import dask.array as da

    reader = st.reader(name)
    return da.from_array(reader, chunks=reader.chunks, asarray=False, fancy=False,
                         name=f"{name}-{st.attrs['store_id']}")  # fmt: skip
