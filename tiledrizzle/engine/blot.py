"""``blot_image``: resample an image onto another pixel grid by interpolation.

Blot is the companion of drizzle: typically a drizzled (well sampled, output
frame) image is interpolated back onto the grid of one of the distorted input
exposures, e.g. to detect cosmic rays by comparison.  Each output pixel takes
the value of the source image interpolated at the position given by the pixel
map, times ``iscale``.  This is point sampling, **not** flux conserving: when
the pixel areas of the two grids differ, choose ``iscale`` for the units
(``1`` for surface brightness, the pixel-area ratio for counts per pixel).

The public function matches ``drizzle.resample.blot_image`` (drizzle 3.0):
same arguments, defaults, deprecations and numbers.  Differences, all where
the reference fails or reads memory it does not own, are listed in the
docstring of :func:`blot_image`.
"""

import functools
import warnings

import numpy as np

from tiledrizzle.core.errors import InputError, InputTypeError
from tiledrizzle.kernels import blot as kernels
from tiledrizzle.kernels.lanczos import lanczos_lut
from tiledrizzle.kernels.registry import BLOT_ALIASES, BLOT_INTERPOLATORS

__all__ = [
    "blot_image", "blot_block", "blot_input_box", "INTERPOLATORS", "as_pixmap", "method_and_table",
]  # fmt: skip

_DEPRECATED_ARG = object()

INTERPOLATORS = {name: getattr(kernels, name.upper()) for name in BLOT_INTERPOLATORS}
"""Interpolator names accepted by ``interp`` (the registry's) and their kernel codes."""

_DEPRECATED_ALIASES = BLOT_ALIASES


@functools.cache
def method_and_table(interp):
    """Kernel code and read-only weight table (Lanczos LUT / sinc taper) of ``interp``."""
    if not isinstance(interp, str):
        raise InputTypeError(f"'interp' must be a str, not {type(interp).__name__}")
    if interp not in INTERPOLATORS:
        raise InputError(
            f"Unknown interp type '{interp}'; 'interp' must be one of {sorted(INTERPOLATORS)}"
        )
    method = INTERPOLATORS[interp]
    if method == kernels.LANCZOS3:
        table = lanczos_lut(3)
    elif method == kernels.LANCZOS5:
        table = lanczos_lut(5)
    elif method == kernels.SINC:
        table = kernels.sinc_taper()
    else:
        table = np.zeros(1, dtype=np.float64)
    table.flags.writeable = False
    return method, table


def _as_float32_scalar(value, name, *, default, positive):
    """``value`` as the float32 the kernels use; None gives ``default``."""
    if value is None:
        return np.float32(default)
    if isinstance(value, str | bytes):
        raise InputTypeError(f"Argument '{name}' is not a number.")
    try:
        with np.errstate(over="ignore"):  # out of float32 range -> inf, rejected below
            v = np.float32(float(value))
    except (TypeError, ValueError) as exc:
        raise InputTypeError(f"Argument '{name}' is not a number.") from exc
    if positive and not (np.isfinite(v) and v > 0):
        raise InputError(f"Argument '{name}' must be positive and finite.")
    return v


def _as_input_image(data):
    arr = np.asarray(data)
    if arr.dtype.kind not in "biuf":
        raise InputTypeError(f"'data' must be a real-valued 2D array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise InputError(f"'data' must be a 2D array, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def as_pixmap(pixmap):
    arr = np.asarray(pixmap)
    if arr.dtype.kind not in "biuf":
        raise InputTypeError(f"'pixmap' must be a real-valued array, got dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[2] != 2:
        raise InputError(f"'pixmap' must be an array of shape (Ny, Nx, 2), got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def blot_image(
    data,
    pixmap,
    pix_ratio=_DEPRECATED_ARG,
    exptime=_DEPRECATED_ARG,
    output_pixel_shape=_DEPRECATED_ARG,
    out_img=None,
    fillval=0.0,
    iscale=1.0,
    interp="poly5",
    *,
    sinscl=1.0,
):
    """Interpolate ``data`` at the positions ``pixmap`` (not flux conserving).

    Parameters
    ----------
    data : 2D array
        Source image, any real dtype (computed in float32), e.g. in count rate.
    pixmap : array of shape ``(Ny, Nx, 2)``
        For each output pixel ``[j, i]``, the ``(x, y)`` position in ``data``
        (0-based pixel coordinates, pixel centres at integers) to sample.
        ``(Ny, Nx)`` is the output shape.  A position is on the input when
        ``0 <= x < data.shape[1]`` and ``0 <= y < data.shape[0]`` (after
        rounding to float32); other positions, and NaN entries, give ``fillval``.
    pix_ratio : float, deprecated
        Input/output pixel-scale ratio; divides ``iscale`` by ``pix_ratio**2``.
    exptime : float, deprecated
        Multiplies ``iscale``.
    output_pixel_shape : (Nx, Ny), deprecated
        Output shape; must agree with ``pixmap``.
    out_img : 2D array, optional
        Output array of shape ``(Ny, Nx)``, written in place when it is float32
        (otherwise a float32 copy is written and returned).
    fillval : float
        Value of output pixels whose position is off the input (not scaled).
    iscale : float
        Positive factor multiplying every interpolated value, e.g. the ratio of
        output to input pixel area to keep counts per pixel.
    interp : str
        ``"nearest"``, ``"linear"``, ``"poly3"``, ``"poly5"``, ``"lanczos3"``,
        ``"lanczos5"`` or ``"sinc"`` (``"lan3"``/``"lan5"``: deprecated aliases).
        ``"sinc"`` is not in drizzle 3.0; it is the legacy drizzle 15-tap
        tapered sinc (see :func:`tiledrizzle.kernels.blot._sinc_at`).
    sinscl : float, keyword only
        For ``"sinc"``: factor applied to the sub-pixel offsets (legacy drizzle).

    Returns
    -------
    out_img : 2D float32 array

    Notes
    -----
    Results agree with ``drizzle.resample.blot_image`` except where the
    reference misbehaves:

    * NaN in ``pixmap`` gives ``fillval`` (the reference raises);
    * ``"nearest"`` within half a pixel of the last column/row samples the
      last column/row (the reference reads past the row / the array);
    * ``"poly3"`` on the last input row reflects the data properly (the
      reference reads uninitialised memory there);
    * a non-contiguous float32 ``out_img`` is written (the reference silently
      leaves it untouched);
    * a pixmap whose last axis is not 2 is rejected.

    Errors are subclasses of the plain ``Exception`` the reference's C layer
    raises: ``ValueError`` for bad values/shapes (including an unknown
    ``interp``), ``TypeError`` for wrong types.
    """
    if not isinstance(interp, str):
        raise InputTypeError(f"'interp' must be a str, not {type(interp).__name__}")
    if interp in _DEPRECATED_ALIASES:
        new_interp = _DEPRECATED_ALIASES[interp]
        warnings.warn(
            f"Interpolation method '{interp}' has been deprecated and it will "
            f"be removed in a future release. Use '{new_interp}' instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        interp = new_interp

    if pix_ratio is not _DEPRECATED_ARG:
        warnings.warn(
            "Argument 'pix_ratio' has been deprecated since version 2.2.0 and "
            "it will be removed in a future release. "
            "Use 'iscale' instead and set iscale=1.0 / pix_ratio**2 "
            "to achieve the same effect as with 'pix_ratio'.",
            DeprecationWarning,
            stacklevel=2,
        )
        iscale /= pix_ratio * pix_ratio

    if exptime is not _DEPRECATED_ARG:
        warnings.warn(
            "Argument 'exptime' has been deprecated since version 2.2.0 and "
            "it will be removed in a future release. "
            "Use 'iscale' instead and set iscale=exptime "
            "to achieve the same effect as with 'exptime'.",
            DeprecationWarning,
            stacklevel=2,
        )
        iscale *= exptime

    pixmap = as_pixmap(pixmap)
    if output_pixel_shape is _DEPRECATED_ARG:
        output_shape = pixmap.shape[:2]
    else:
        warnings.warn(
            "Argument 'output_pixel_shape' has been deprecated since version "
            "2.2.0 and it will be removed in a future release. It is not needed "
            "since the output image shape can be inferred from 'pixmap'.",
            DeprecationWarning,
            stacklevel=2,
        )
        output_shape = tuple(output_pixel_shape[::-1])

    if out_img is None:
        out_img = np.empty(output_shape, dtype=np.float32)
    else:
        out_img = np.asarray(out_img, dtype=np.float32)
        if out_img.shape != output_shape:
            raise InputError("'output_image' shape is not consistent with 'pixmap' shape.")
        if not out_img.flags.writeable:
            raise InputError("'out_img' is read-only.")

    scale = _as_float32_scalar(iscale, "iscale", default=1.0, positive=True)
    fill = _as_float32_scalar(fillval, "fillval", default=0.0, positive=False)
    sinc_scale = _as_float32_scalar(sinscl, "sinscl", default=1.0, positive=True)
    data = _as_input_image(data)
    method, table = method_and_table(interp)

    if pixmap.shape[:2] != out_img.shape:
        ny, nx = pixmap.shape[:2]
        oy, ox = out_img.shape
        raise InputError(f"Pixel map dimensions ({nx}, {ny}) != output dimensions ({ox}, {oy}).")
    if out_img.size == 0:
        raise InputError("'pixmap' must not be empty (no output pixels to blot).")

    target = out_img if out_img.flags.c_contiguous else np.empty(output_shape, np.float32)
    ny_out, nx_out = output_shape
    kernels.blot_region(
        data,
        0,
        0,
        data.shape[1],
        data.shape[0],
        pixmap,
        target,
        0,
        nx_out,
        0,
        ny_out,
        method,
        scale,
        fill,
        table,
        float(sinc_scale),
    )
    if target is not out_img:
        out_img[...] = target
    return out_img


def blot_input_box(pixmap, input_shape, interp="poly5"):
    """Input pixels read when blotting ``pixmap`` from an image of shape ``input_shape``.

    Returns ``(y0, y1, x0, x1)`` (half-open, full-image pixel indices) of the
    smallest block that holds the interpolation footprint of every on-input
    position of ``pixmap``, or ``None`` if no position is on the input.
    Use it to cut an input block (tile plus halo) for :func:`blot_block`.
    """
    interp = _DEPRECATED_ALIASES.get(interp, interp)
    method, _ = method_and_table(interp)
    before, after = kernels.FOOTPRINT[method]
    ny, nx = input_shape
    with np.errstate(over="ignore"):  # far-off positions become inf: outside
        xy = np.asarray(pixmap, dtype=np.float64).astype(np.float32)
    x, y = xy[..., 0], xy[..., 1]
    inside = (x >= 0) & (x < np.float32(nx)) & (y >= 0) & (y < np.float32(ny))
    if not inside.any():
        return None
    ix = np.floor(x[inside]).astype(np.int64)
    iy = np.floor(y[inside]).astype(np.int64)
    return (
        max(int(iy.min()) - before, 0),
        min(int(iy.max()) + after, ny - 1) + 1,
        max(int(ix.min()) - before, 0),
        min(int(ix.max()) + after, nx - 1) + 1,
    )


def blot_block(
    data_block,
    block_origin,
    input_shape,
    pixmap,
    out,
    region=None,
    *,
    interp="poly5",
    iscale=1.0,
    fillval=0.0,
    sinscl=1.0,
):
    """Blot part of an output grid from a block of the input image (tiled use).

    Parameters
    ----------
    data_block : 2D array
        Input pixels ``[y0:y0 + h, x0:x0 + w]`` of a full input image of shape
        ``input_shape``; it must cover :func:`blot_input_box` of the pixmap
        region, else ``IndexError``.
    block_origin : (int, int)
        ``(y0, x0)`` of ``data_block`` in the full input image.
    input_shape : (int, int)
        Shape of the FULL input image (defines "outside" and the borders).
    pixmap : array ``(Ny, Nx, 2)``
        Input positions of the output pixels of ``out`` (same frame).
    out : 2D float32 array ``(Ny, Nx)``
        Written in place, in ``region`` only.
    region : (y0, y1, x0, x1), optional
        Half-open rectangle of ``out`` to compute; default all of ``out``.
    interp, iscale, fillval, sinscl
        As for :func:`blot_image` (no deprecated forms).

    Returns
    -------
    int
        Number of output pixels set to ``fillval``.

    Values are bit-identical to :func:`blot_image` on the full arrays.
    """
    interp = _DEPRECATED_ALIASES.get(interp, interp)
    method, table = method_and_table(interp)
    scale = _as_float32_scalar(iscale, "iscale", default=1.0, positive=True)
    fill = _as_float32_scalar(fillval, "fillval", default=0.0, positive=False)
    sinc_scale = _as_float32_scalar(sinscl, "sinscl", default=1.0, positive=True)
    data_block = np.asarray(data_block, dtype=np.float32)
    pixmap = as_pixmap(pixmap)
    if not (
        isinstance(out, np.ndarray)
        and out.dtype == np.float32
        and out.ndim == 2
        and out.flags.writeable
    ):
        raise InputTypeError("'out' must be a writeable 2D float32 numpy array.")
    if data_block.ndim != 2:
        raise InputError(f"'data_block' must be a 2D array, got shape {data_block.shape}")
    if pixmap.shape[:2] != out.shape:
        raise InputError("'pixmap' and 'out' must cover the same output pixels.")
    y0, y1, x0, x1 = (0, out.shape[0], 0, out.shape[1]) if region is None else region
    if not (0 <= y0 <= y1 <= out.shape[0] and 0 <= x0 <= x1 <= out.shape[1]):
        raise InputError(f"'region' {region} is not inside 'out' of shape {out.shape}.")
    by, bx = block_origin
    ny, nx = input_shape
    return kernels.blot_region(
        data_block,
        int(bx),
        int(by),
        int(nx),
        int(ny),
        pixmap,
        out,
        int(x0),
        int(x1),
        int(y0),
        int(y1),
        method,
        scale,
        fill,
        table,
        float(sinc_scale),
    )
