"""Argument validation shared by the facade, the batch API, the file readers and the CLI.

Every check follows the reference ``drizzle`` (3.x): same conditions, same
exception types (``InputError`` is a ValueError, ``InputTypeError`` a
TypeError) and messages, and nothing is changed before every check has passed.
"""

from __future__ import annotations

import operator
import warnings

import numpy as np

from tiledrizzle.core.errors import InputError, InputTypeError
from tiledrizzle.core.grid import positive_pair
from tiledrizzle.core.kernel_input import EMPTY_DQ, PreparedInput
from tiledrizzle.kernels.pixmap_box import valid_pixmap_box
from tiledrizzle.kernels.registry import KERNELS, kernel_spec

DEPRECATED_ARG = object()
"""Default of deprecated arguments: tells "not given" from any value."""


def check_kernel(kernel) -> str:
    """The kernel's name in lower case; the reference's ValueError for an unknown one."""
    if kernel_spec(kernel) is None:
        raise InputError(f"Kernel '{kernel}' is not supported.")
    return kernel.lower()


def check_pixfrac(pixfrac) -> float:
    """``pixfrac`` as a positive, finite float."""
    try:
        value = float(pixfrac)
    except (TypeError, ValueError):
        raise InputError(f"'pixfrac' must be a number, got {pixfrac!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise InputError(f"'pixfrac' must be positive and finite, got {pixfrac!r}")
    return value


def check_batch_options(kernel, pixfrac, tile_shape, block_shape):
    """The batch API's options: ``(kernel name, pixfrac)``; the shapes are checked."""
    kernel = check_kernel(kernel)
    pixfrac = check_pixfrac(pixfrac)
    positive_pair(tile_shape, "tile_shape")
    positive_pair(block_shape, "block_shape")
    return kernel, pixfrac


def parse_fillval(out_img, fillval):
    """Normalise a fill value to the reference's string form ('INDEF', 'NaN' or a number)."""
    if fillval is None:
        fillval = "INDEF"
    elif isinstance(fillval, str):
        fillval = fillval.strip()
        if fillval.upper() in ("", "INDEF"):
            fillval = "INDEF"
        else:
            try:
                float(fillval)
            except ValueError:
                # The reference's own message (its test suite asserts it).
                raise InputError(f"could not convert string to float: {fillval!r}") from None
            fillval = str(fillval)
    else:
        fillval = str(fillval)
    if out_img is None and fillval == "INDEF":
        fillval = "NaN"
    return fillval


def fill_number(fillval):
    """The float32 value written into empty pixels, or None to leave them alone."""
    if fillval.strip().upper() == "INDEF":
        return None
    if fillval.strip().lower() == "nan":
        return np.float32(np.nan)
    return np.float32(float(fillval))


def check_dq_dtype(arr, name):
    t = np.min_scalar_type(arr)
    if t.kind not in ("i", "u") or t.itemsize > 4:
        raise InputTypeError(
            f"'{name}' must be of an unsigned integer type with itemsize of 4 bytes or less."
        )


def is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def validate_add_image(
    kernel, data, exptime, pixmap, data2, dq, scale, iscale, pixel_scale_ratio, weight_map,
    wht_scale, pixfrac, in_units, xmin, xmax, ymin, ymax, *, stacklevel,
    resolve_out_shape=None, check_data2_count=None,
):  # fmt: skip
    """Check ``add_image``'s arguments as the reference does; change no state.

    Returns ``(PreparedInput, input box, number of data2 arrays, out_shape)``.
    Warnings are issued ``stacklevel`` frames up. ``resolve_out_shape(pixmap)``
    gives ``(out_shape, pixmap)`` (the facade infers a missing output shape from
    the pixmap; None: no output shape, the pixmap as it is);
    ``check_data2_count(n)`` raises when ``n`` variance arrays do not fit the
    outputs. Errors are ``InputError``/``InputTypeError`` (subclasses of the
    reference's ValueError/TypeError).
    """
    if scale is not DEPRECATED_ARG:
        warnings.warn(
            "Argument 'scale' has been deprecated since version 2.2.0 and "
            "it will be removed in a future release. "
            "Use 'iscale' and 'pixel_scale_ratio' instead and set "
            "iscale=pixel_scale_ratio**2 to achieve the same effect as with 'scale'.",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
        iscale = scale * scale
        pixel_scale_ratio = scale

    data = np.asarray(data)
    if data.ndim != 2:
        raise InputError(f"'data' must be a 2D array, got an array of shape {data.shape}.")
    try:
        pixmap = np.asarray(pixmap, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"'pixmap' must be a real-valued array: {exc}") from None
    if pixmap.ndim != 3:
        raise InputError(
            f"'pixmap' must be a 3D array of shape (ny, nx, 2), got shape {pixmap.shape}."
        )

    out_shape, pixmap = (None, pixmap) if resolve_out_shape is None else resolve_out_shape(pixmap)
    ninputs2, data2_list = _parse_data2(data2, data.shape)
    if check_data2_count is not None:
        check_data2_count(ninputs2)

    if isinstance(exptime, str | bytes) or not is_number(exptime):
        raise InputTypeError(f"'exptime' must be a number, got {exptime!r}")
    if exptime <= 0.0:
        raise InputError("'exptime' *must* be a strictly positive number.")
    expscale = 1.0 if in_units == "cps" else exptime

    data = np.asarray(data, dtype=np.float32)
    in_ny, in_nx = data.shape
    if pixmap.shape[:2] != data.shape:
        raise InputError("'pixmap' shape is not consistent with 'data' shape.")
    if pixmap.shape[2] != 2:
        raise InputError("Pixel map depth (3rd dim) must be 2.")

    if weight_map is not None:
        weight_map = np.asarray(weight_map, dtype=np.float32)
        if weight_map.shape != data.shape:
            raise InputError("'weight_map' shape is not consistent with 'data' shape.")
    else:
        weight_map = np.ones_like(data)

    if dq is not None:
        check_dq_dtype(dq, "dq")
        dq = np.asarray(dq, dtype=np.uint32)
        if dq.shape != data.shape:
            raise InputError("'dq' shape is not consistent with 'data' shape.")

    box = _input_box(xmin, xmax, ymin, ymax, in_nx, in_ny)
    inp, box = _prepare_input(
        kernel, data, weight_map, data2_list, dq, pixmap, box, iscale, pixel_scale_ratio,
        wht_scale, pixfrac, in_units, expscale, stacklevel + 1,
    )  # fmt: skip
    return inp, box, ninputs2, out_shape


def _parse_data2(data2, data_shape):
    """(number of data2 arrays or None, list of arrays/None) with shape checks."""
    if data2 is None:
        return None, []
    if isinstance(data2, np.ndarray):
        if data2.shape != data_shape:
            raise InputError("'data2' shape is not consistent with 'data' shape.")
        return 1, [data2]
    items = []
    shapes = set()
    for d in data2:
        if d is None or np.size(d) == 0:
            items.append(None)
        else:
            d = np.asarray(d)
            shapes.add(d.shape)
            items.append(d)
    if (len(shapes) == 1 and shapes.pop() != data_shape) or len(shapes) > 1:
        raise InputError("'data2' shape(s) is not consistent with 'data' shape.")
    return len(items), items


def _input_box(xmin, xmax, ymin, ymax, in_nx, in_ny):
    """Inclusive input box with the reference's defaults (0 or None: no limit)."""

    def as_int(v, name):
        try:
            return operator.index(v)
        except TypeError:
            if isinstance(v, float | np.floating) and float(v).is_integer():
                return int(v)
            raise InputTypeError(f"'{name}' must be an integer pixel index, got {v!r}.") from None

    xmin = 0 if xmin is None or xmin < 0 else as_int(xmin, "xmin")
    ymin = 0 if ymin is None or ymin < 0 else as_int(ymin, "ymin")
    xmax = in_nx - 1 if xmax is None or xmax > in_nx - 1 else as_int(xmax, "xmax")
    ymax = in_ny - 1 if ymax is None or ymax > in_ny - 1 else as_int(ymax, "ymax")
    if xmax == 0:
        xmax = in_nx - 1
    if ymax == 0:
        ymax = in_ny - 1
    return xmin, xmax, ymin, ymax


def _prepare_input(
    kernel_name, data, weights, data2_list, dq, pixmap, box, iscale, pixel_scale_ratio,
    wht_scale, pixfrac, in_units, expscale, stacklevel,
):  # fmt: skip
    """Validate the kernel options as the reference's C layer does; build the kernel input."""
    iscale32 = np.float32(iscale)
    if not (iscale32 > 0.0 and np.isfinite(iscale32)):
        raise InputError("Argument 'iscale' must be positive and finite.")
    if pixel_scale_ratio is None:
        psr32 = np.float32(np.nan)
    else:
        try:
            psr32 = np.float32(pixel_scale_ratio)
        except (TypeError, ValueError):
            raise InputError("Argument 'pscale_ratio' is not a number.") from None
        if not (psr32 > 0.0 and np.isfinite(psr32)):
            raise InputError("Argument 'pscale_ratio' must be positive and finite.")
    if in_units not in ("cps", "counts"):
        raise InputError(f"Unknown unit type '{in_units}'")

    in_ny, in_nx = data.shape
    xmin, xmax, ymin, ymax, ok = valid_pixmap_box(pixmap, *box)
    if not ok:
        raise InputError("No or too few valid pixels in the pixel map.")
    if xmin < 0:
        raise InputError("xmin must be >= 0")
    if ymin < 0:
        raise InputError("ymin must be >= 0")
    if not xmax > xmin:
        raise InputError("xmax must be > xmin")
    if not ymax > ymin:
        raise InputError("ymax must be > ymin")
    wscale32 = np.float32(wht_scale)
    if not wscale32 > 0.0:
        raise InputError("weight scale must be > 0")

    try:
        finite_pixfrac = bool(np.isfinite(float(pixfrac)))
    except (TypeError, ValueError):
        raise InputTypeError(f"Argument 'pixfrac' must be a number, got {pixfrac!r}") from None
    if not finite_pixfrac:
        # The reference deposits nothing yet counts the exposure; refused here instead.
        raise InputError(f"Argument 'pixfrac' must be finite, got {pixfrac!r}")

    kernel = kernel_name.lower()
    if not KERNELS[kernel].flux_conserving:
        warnings.warn(
            f"Kernel '{kernel_name}' is not a flux-conserving kernel.",
            Warning,
            stacklevel=stacklevel,
        )
    if pixfrac <= 0.001:
        warnings.warn(
            "Kernel reset to 'point' due to input 'pixfrac'  being too small.",
            Warning,
            stacklevel=stacklevel,
        )
        kernel = "point"
    if kernel in ("lanczos2", "lanczos3") and abs(pixfrac - 1.0) > 1.0e-5:
        warnings.warn(
            "In lanczos kernel, pixel_fraction is ignored and assumed to be 1.0",
            Warning,
            stacklevel=stacklevel,
        )
    if in_units != "cps":
        iscale32 = np.float32(iscale32 / np.float32(expscale))

    if data2_list:
        data2 = np.zeros((len(data2_list),) + data.shape, dtype=np.float32)
        for k, d in enumerate(data2_list):
            if d is not None:
                data2[k] = d
    else:
        data2 = np.zeros((0,) + data.shape, dtype=np.float32)

    inp = PreparedInput(
        data=np.ascontiguousarray(data),
        weights=np.ascontiguousarray(weights),
        data2=data2,
        dq=EMPTY_DQ if dq is None else np.ascontiguousarray(dq),
        pixmap=np.ascontiguousarray(pixmap),
        kernel=kernel,
        iscale=iscale32,
        wscale=wscale32,
        pixfrac=float(pixfrac),
        pscale_ratio=psr32,
    )
    return inp, (xmin, xmax, ymin, ymax)
