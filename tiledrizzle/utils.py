"""Drop-in replacement for ``drizzle.utils``: pixel maps, pixel-scale ratios, context decoding."""

from __future__ import annotations

import math

import numpy as np

from tiledrizzle.core.errors import InputError

__all__ = ["calc_pixmap", "decode_context", "estimate_pixel_scale_ratio"]


def _bbox_intervals(wcs):
    """The WCS's bounding box as ((xlo, xhi), (ylo, yhi)) in x-first order, or None."""
    bbox = getattr(wcs, "bounding_box", None)
    if bbox is None:
        return None
    try:
        return bbox.bounding_box(order="F")
    except AttributeError:
        return tuple(bbox)


def calc_pixmap(wcs_from, wcs_to, shape=None, disable_bbox="to"):
    """Map every pixel centre of ``wcs_from``'s image into ``wcs_to``'s pixel frame.

    Returns an array of shape ``(ny, nx, 2)`` with ``[..., 0]`` the output x and
    ``[..., 1]`` the output y of each input pixel (0-based). The shape comes from
    ``shape`` (numpy order), else ``wcs_from.array_shape``, else the upper edges of
    ``wcs_from.bounding_box``; ValueError when none is available.

    ``disable_bbox`` ("to", "from", "both" or "none") says which WCS's bounding
    box is switched off during the transform; with a bounding box active,
    pixels outside it map to NaN (for WCS objects that implement it, e.g. gwcs).
    Both WCS must use the same world units.
    """
    bbox_from = _bbox_intervals(wcs_from)
    bbox_to = _bbox_intervals(wcs_to)

    if shape is None:
        shape = wcs_from.array_shape
        if shape is None and bbox_from is not None:
            ndim = np.ndim(bbox_from)
            if ndim == 1:
                bbox_from = (bbox_from,)
            if ndim > 1:
                shape = tuple(math.ceil(hi + 0.5) for _, hi in bbox_from[::-1])
    if shape is None:
        raise InputError('The "from" WCS must have pixel_shape property set.')

    y, x = np.indices(shape, dtype=np.float64)
    if disable_bbox in ("from", "both") and bbox_from is not None:
        wcs_from.bounding_box = None
    if disable_bbox in ("to", "both") and bbox_to is not None:
        wcs_to.bounding_box = None
    try:
        x, y = wcs_to.world_to_pixel_values(*wcs_from.pixel_to_world_values(x, y))
    finally:
        if bbox_from is not None:
            wcs_from.bounding_box = bbox_from
        if bbox_to is not None:
            wcs_to.bounding_box = bbox_to
    return np.dstack([x, y])


def _pixel_scale(wcs, refpix):
    """Approximate pixel scale (radians) near ``refpix``: sqrt of the pixel's spherical area."""
    if refpix is None:
        if getattr(wcs, "bounding_box", None) is not None:
            refpix = np.mean(wcs.bounding_box, axis=-1)
        elif wcs.pixel_shape:
            refpix = np.array([(n - 1) // 2 for n in wcs.pixel_shape])
        else:
            refpix = np.zeros(wcs.pixel_n_dim)
    else:
        refpix = np.asarray(refpix)
    deg = math.pi / 180.0
    # Corners of the pixel, in order around it: (-,-), (-,+), (+,+), (+,-).
    lon1, lat1 = wcs.pixel_to_world_values(*(refpix - 0.5))
    lon2, lat2 = wcs.pixel_to_world_values(*(refpix + [-0.5, 0.5]))
    lon3, lat3 = wcs.pixel_to_world_values(*(refpix + 0.5))
    lon4, lat4 = wcs.pixel_to_world_values(*(refpix + [0.5, -0.5]))
    # Area of the quadrilateral on the unit sphere (equal-area projection form).
    area = deg * abs(
        0.5
        * (
            (lon4 - lon2) * (math.sin(deg * lat1) - math.sin(deg * lat3))
            + (lon1 - lon3) * (math.sin(deg * lat2) - math.sin(deg * lat4))
        )
    )
    return math.sqrt(area)


def estimate_pixel_scale_ratio(wcs_from, wcs_to, refpix_from=None, refpix_to=None):
    """Ratio of ``wcs_to``'s pixel scale to ``wcs_from``'s, each near its reference pixel.

    A reference pixel defaults to the centre of the WCS's bounding box, else of
    its ``pixel_shape``, else pixel (0, 0). Pixels are taken as square: the
    scale is the square root of the pixel's area on the sky.
    """
    return _pixel_scale(wcs_to, refpix_to) / _pixel_scale(wcs_from, refpix_from)


def decode_context(context, x, y):
    """0-based indices of the inputs that contributed to output pixels ``(x, y)``.

    ``context`` is the 3-D context array ``(planes, ny, nx)``; bit ``k`` of
    plane ``p`` marks input ``32 p + k``. ``x`` and ``y`` are integers or 1-D
    integer sequences of equal length. Returns one index array per pixel.
    """
    if context.ndim != 3:
        raise InputError("'context' must be a 3D array.")
    x = np.atleast_1d(x)
    y = np.atleast_1d(y)
    if x.size != y.size:
        raise InputError("Coordinate arrays must have equal length.")
    if x.ndim != 1:
        raise InputError("Coordinates must be scalars or 1D arrays.")
    if not (np.issubdtype(x.dtype, np.integer) and np.issubdtype(y.dtype, np.integer)):
        raise InputError("Pixel coordinates must be integer values")
    nbits = 8 * context.dtype.itemsize
    masks = np.left_shift(np.array(1, dtype=context.dtype), np.arange(nbits, dtype=context.dtype))
    pixels = zip(x, y, strict=True)
    return [np.flatnonzero(np.bitwise_and.outer(context[:, yi, xi], masks)) for xi, yi in pixels]
