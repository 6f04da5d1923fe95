"""Drop-in replacement for ``drizzle.resample``: ``Drizzle`` and ``blot_image``.

Code written for the reference ``drizzle`` package (3.x) runs unchanged after
replacing ``from drizzle.resample import ...`` with
``from tiledrizzle.resample import ...``: same signatures, defaults,
properties, warnings and exception types.

Physics in one paragraph: each output pixel holds the *weighted mean* of the
input values that land on it (Fruchter & Hook 2002, eqs. 4-5); the weight of
one contribution is the kernel's overlap of the input pixel with the output
pixel times the input pixel's weight. Input values are multiplied by
``iscale`` first (and divided by the exposure time when ``in_units='counts'``),
so inputs must be on one footing (same units, same photometric scale). The
square, turbo and point kernels conserve flux (surface brightness is
preserved, total flux when ``iscale`` carries the pixel-area ratio); the
gaussian and lanczos kernels do not. Variance-like arrays (``data2``) are
co-added with squared weights, so ``out_img2 = Σ w² d2 / (Σ w)²``.

Differences from the reference, all deliberate:

* all arguments are validated before any state changes, so a rejected
  ``add_image`` leaves the object (context id, exposure time, outputs) as it was;
* the kernel name is matched case-insensitively at every step;
* an output shape inferred from the pixmap is ``(ny, nx)`` (numpy order).
"""

from __future__ import annotations

import math
import operator
import warnings

import numpy as np
from dask.task_spec import Task

from .blot import blot_image
from .grid import TileGrid, positive_pair
from .kernels.drizzle import NON_FLUX_CONSERVING
from .kernels.pixmap_box import valid_pixmap_box
from .partials import (
    EMPTY_DQ,
    PreparedInput,
    band_row_extent,
    context_bit,
    drizzle_rolling,
    fill_no_weight,
)
from .plan import DEFAULT_BLOCK_SHAPE, plan_input, scan_exposure, task_bands
from .reach import halo_for, kernel_reach
from .reduce import fill_empty, merge_window
from .schedulers import Runner, check_scheduler
from .tasks import drizzle_tile

__all__ = ["Drizzle", "blot_image", "SUPPORTED_DRIZZLE_KERNELS", "CTX_PLANE_BITS"]

SUPPORTED_DRIZZLE_KERNELS = ["square", "gaussian", "point", "turbo", "lanczos2", "lanczos3"]
CTX_PLANE_BITS = 32

ROLLING_BAND_ROWS = 64
"""Input rows per kernel call on the untiled path (see ``Drizzle._drizzle_rolling``)."""

_DEPRECATED_ARG = object()


def _parse_fillval(out_img, fillval):
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
                raise ValueError(
                    f"could not convert string to float: {fillval!r} "
                    "(fillval must be None, 'INDEF' or a number)"
                ) from None
            fillval = str(fillval)
    else:
        fillval = str(fillval)
    if out_img is None and fillval == "INDEF":
        fillval = "NaN"
    return fillval


def _fill_number(fillval):
    """The float32 value written into empty pixels, or None to leave them alone."""
    if fillval.strip().upper() == "INDEF":
        return None
    if fillval.strip().lower() == "nan":
        return np.float32(np.nan)
    return np.float32(float(fillval))


def _check_dq_dtype(arr, name):
    t = np.min_scalar_type(arr)
    if t.kind not in ("i", "u") or t.itemsize > 4:
        raise TypeError(
            f"'{name}' must be of an unsigned integer type with itemsize of 4 bytes or less."
        )


def rolling_bands(exposure, out_shape, band_rows):
    """Bands of ``band_rows`` input rows and the output rows each can reach.

    Returns ``[(r0, r1, lo, hi), ...]`` for ``partials.drizzle_rolling``: input
    rows ``r0..r1`` (within the scan) put weight only into output rows
    ``lo..hi`` (``lo > hi``: none). The bound is the band's extent in output y
    over its rows and ``halo_for(pixfrac)`` neighbour rows, widened by how far
    the kernel reaches beyond it (``_rolling_reach``); where it is not finite
    the band may reach any row.
    """
    inp = exposure.inp
    out_ny = out_shape[0]
    row_first, row_last = exposure.row_first, exposure.row_last
    if row_last < row_first:
        return []
    square = inp.kernel == "square"
    step_mode = (2 if inp.pixfrac > 2.0 else 1) if square else 0
    extent = band_row_extent(
        inp.pixmap, row_first, row_last, band_rows, halo_for(inp.pixfrac), step_mode
    )
    bands = []
    for k in range(extent.shape[0]):
        b = row_first // band_rows + k
        r0, r1 = max(b * band_rows, row_first), min((b + 1) * band_rows - 1, row_last)
        y_min, y_max, step = (float(v) for v in extent[k])
        if not y_min <= y_max:
            bands.append((r0, r1, 1, 0))  # no finite pixmap value: nothing lands
            continue
        reach = _rolling_reach(inp, step)
        lo_f, hi_f = y_min - reach, y_max + reach
        if not lo_f <= hi_f:  # NaN reach: any row
            lo, hi = 0, out_ny - 1
        else:
            lo = math.floor(min(max(lo_f, 0.0), float(out_ny)))
            hi = math.ceil(max(min(hi_f, out_ny - 1.0), -1.0))
        bands.append((r0, r1, lo, hi))
    return bands


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _rolling_reach(inp, step):
    """How far (output rows) beyond the pixmap's y extent a kernel can put weight.

    Square: a corner is a bilinear evaluation of the pixmap at offsets up to
    ``dh = pixfrac / 2`` outside its cell (at the input's edges, or everywhere when
    ``pixfrac > 2``), which strays from the cell's values by at most
    ``(2 dh + 2 dh**2) step`` (``step``: the largest y change between neighbours
    there; interior corners with ``pixfrac <= 2`` are convex combinations of
    their neighbours and stray not at all). Other kernels: their reach from the
    mapped centre (``plan.kernel_reach``). Plus the rounding margin.
    """
    return kernel_reach(inp.kernel, inp.pixfrac, inp.pscale_ratio, step)


class Drizzle:
    """Resample and co-add images onto one output grid with the drizzle algorithm.

    Same constructor arguments, properties and behaviour as
    ``drizzle.resample.Drizzle`` (3.x); see the module docstring for the
    physics and the few deliberate differences. Outputs: ``out_img`` (weighted
    mean, float32), ``out_wht`` (summed weight, float32), ``out_ctx`` (int32
    context planes of shape ``(planes, ny, nx)``; bit ``k`` of plane ``p`` set
    where input ``32 p + k`` contributed), ``out_img2`` (list of squared-weight
    co-adds), ``out_dq`` (bitwise OR of contributing input DQ, uint32).
    """

    def __init__(
        self,
        kernel="square",
        fillval=None,
        fillval2=None,
        out_shape=None,
        out_img=None,
        out_wht=None,
        out_ctx=None,
        out_img2=None,
        out_dq=None,
        exptime=0.0,
        begin_ctx_id=0,
        max_ctx_id=None,
        disable_ctx=False,
        *,
        tile_shape=None,
        scheduler=None,
        block_shape=None,
    ):
        self._ncoadds = 0
        self._out_img2 = None
        self._out_dq = None
        self._disable_ctx = disable_ctx
        self._tile_shape = None if tile_shape is None else positive_pair(tile_shape, "tile_shape")
        self._block_shape = positive_pair(
            DEFAULT_BLOCK_SHAPE if block_shape is None else block_shape, "block_shape"
        )
        self._scheduler = "sync" if scheduler is None else check_scheduler(scheduler)
        if scheduler is not None and tile_shape is None:
            raise ValueError("'scheduler' needs 'tile_shape': the untiled path runs in the caller")

        if disable_ctx:
            self._ctx_id = None
            self._max_ctx_id = None
        else:
            if begin_ctx_id < 0:
                raise ValueError("Invalid context image ID")
            self._ctx_id = begin_ctx_id
            if max_ctx_id is None:
                max_ctx_id = begin_ctx_id
            elif max_ctx_id < begin_ctx_id:
                raise ValueError("'max_ctx_id' cannot be smaller than 'begin_ctx_id'.")
            self._max_ctx_id = max_ctx_id

        if exptime < 0.0:
            raise ValueError("Exposure time must be non-negative.")
        if exptime > 0.0 and out_img is None and out_ctx is None and out_wht is None:
            raise ValueError(
                "Exposure time must be 0.0 for the first resampling "
                "(when no output resampled images have been provided)."
            )
        if exptime == 0.0 and (
            (out_ctx is not None and np.sum(out_ctx) > 0)
            or (out_wht is not None and np.sum(out_wht) > 0)
        ):
            raise ValueError(
                "Inconsistent exposure time and context and/or weight images: "
                "Exposure time cannot be 0 when context and/or weight arrays "
                "are non-zero."
            )
        self._texptime = exptime

        if not isinstance(kernel, str) or kernel.lower() not in SUPPORTED_DRIZZLE_KERNELS:
            raise ValueError(f"Kernel '{kernel}' is not supported.")
        self._kernel = kernel

        self._fillval = _parse_fillval(out_img, fillval)
        self._fillval2 = _parse_fillval(out_img2, fillval2)

        shapes = set()
        if out_img is not None:
            out_img = np.asarray(out_img, dtype=np.float32)
            shapes.add(out_img.shape)
        if out_wht is not None:
            out_wht = np.asarray(out_wht, dtype=np.float32)
            shapes.add(out_wht.shape)
        if out_ctx is not None:
            # C order: the kernels set context bits through a flat view of each plane.
            out_ctx = np.ascontiguousarray(out_ctx, dtype=np.int32)
            if out_ctx.ndim == 2:
                out_ctx = out_ctx[None, :, :]
            elif out_ctx.ndim != 3:
                raise ValueError("'out_ctx' must be either a 2D or 3D array.")
            shapes.add(out_ctx.shape[1:])
        if out_dq is not None:
            _check_dq_dtype(out_dq, "out_dq")
            out_dq = np.asarray(out_dq, dtype=np.uint32)
            shapes.add(out_dq.shape)
            self._out_dq = out_dq
        if out_shape is not None:
            shapes.add(tuple(out_shape))

        if len(shapes) == 1:
            self._out_shape = shapes.pop()
            self._alloc_output_arrays(self._out_shape, max_ctx_id, out_img, out_wht, out_ctx)
        elif len(shapes) > 1:
            raise ValueError(
                "Inconsistent data shapes specified: 'out_shape' and/or "
                "out_img, out_img2, out_wht, out_ctx, out_dq have different "
                "shapes."
            )
        else:
            self._out_shape = None
            self._out_img = None
            self._out_wht = None
            self._out_ctx = None

        if out_img2 is not None:
            if self._out_shape is not None:
                shapes.add(self._out_shape)
            if isinstance(out_img2, np.ndarray):
                out_img2 = np.asarray(out_img2, dtype=np.float32)
                shapes.add(out_img2.shape)
            else:
                for img in out_img2:
                    if img is not None:
                        shapes.add(np.shape(img))
            if len(shapes) > 1:
                raise ValueError(
                    "Inconsistent data shapes specified: 'out_shape' "
                    "and/or out_img, out_img2, out_wht, out_ctx have "
                    "different shapes."
                )
        self._output_shapes = shapes
        self._init_out_img2(out_img2)

    # -- properties ------------------------------------------------------------------

    @property
    def fillval(self):
        """Fill value for output pixels without contributions from input images."""
        return self._fillval

    @property
    def fillval2(self):
        """Fill value for ``out_img2`` pixels without contributions from input images."""
        return self._fillval2

    @property
    def kernel(self):
        """Resampling kernel."""
        return self._kernel

    @property
    def ctx_id(self):
        """Context ID (0-based) of the next image to be resampled."""
        return self._ctx_id

    @property
    def out_img(self):
        """Output resampled image (weighted mean), float32."""
        return self._out_img

    @property
    def out_wht(self):
        """Output weight image, float32."""
        return self._out_wht

    @property
    def out_ctx(self):
        """Output context image, int32, shape ``(planes, ny, nx)``."""
        return self._out_ctx

    @property
    def out_img2(self):
        """Output image(s) co-added with squared weights: a list of 2D arrays (or None)."""
        return self._out_img2

    @property
    def out_dq(self):
        """Output DQ: bitwise OR of the DQ of contributing input pixels (uint32), or None."""
        return self._out_dq

    @property
    def total_exptime(self):
        """Total exposure time of all resampled images."""
        return self._texptime

    # -- allocation ------------------------------------------------------------------

    def _alloc_output_arrays(self, out_shape, max_ctx_id, out_img, out_wht, out_ctx):
        self._out_wht = np.zeros(out_shape, dtype=np.float32) if out_wht is None else out_wht
        if self._disable_ctx:
            self._out_ctx = None
        else:
            if out_ctx is None:
                n_planes = max_ctx_id // CTX_PLANE_BITS + 1
                self._out_ctx = np.zeros((n_planes,) + tuple(out_shape), dtype=np.int32)
            else:
                self._out_ctx = out_ctx
            if not (out_wht is None and out_ctx is None):
                if np.any(np.bitwise_xor(self._out_wht > 0.0, np.sum(self._out_ctx, axis=0) > 0)):
                    raise ValueError(
                        "Inconsistent values of supplied 'out_wht' and "
                        "'out_ctx' arrays. Pixels with non-zero context "
                        "values must have positive weights and vice-versa."
                    )
        if out_img is None:
            fill = _fill_number(self._fillval)
            self._out_img = np.full(out_shape, np.nan if fill is None else fill, dtype=np.float32)
        else:
            self._out_img = out_img

    def _fill2_number(self):
        if isinstance(self._fillval2, str) and self._fillval2.strip().upper() == "INDEF":
            return np.float32(np.nan)
        return np.float32(self._fillval2)

    def _init_out_img2(self, out_img2):
        if out_img2 is None:
            return
        if isinstance(out_img2, np.ndarray):
            out_img2 = [out_img2]
        fv = self._fill2_number()
        self._out_img2 = []
        for i2 in out_img2:
            if i2 is None:
                if self._out_shape is None:
                    if len(self._output_shapes) == 1:
                        shape = next(iter(self._output_shapes))
                    else:
                        self._out_img2.append(None)
                        continue
                else:
                    shape = self._out_shape
                self._out_img2.append(np.full(shape, fv, dtype=np.float32))
            else:
                self._out_img2.append(np.asarray(i2, dtype=np.float32))

    def _check_img2_count(self, ninputs2):
        """Raise when the number of data2 arrays disagrees with ``out_img2`` (no state change)."""
        if self._out_img2 is None:
            if ninputs2 is not None and ninputs2 >= 1 and self._ncoadds > 0:
                raise ValueError(
                    "Mismatch between the number of 'out_img2' images and the number of inputs."
                )
            return
        nimg2 = len(self._out_img2)
        if (ninputs2 is not None and ninputs2 != nimg2) or (ninputs2 is None and nimg2 > 0):
            raise ValueError(
                "Mismatch between the number of 'out_img2' images "
                "previously set and the number of inputs."
            )

    def _alloc_img2(self, ninputs2):
        fv = self._fill2_number()
        if self._out_img2 is None:
            if ninputs2 is None or ninputs2 < 1:
                return
            self._out_img2 = [
                np.full(self._out_shape, fv, dtype=np.float32) for _ in range(ninputs2)
            ]
        else:
            for k, img in enumerate(self._out_img2):
                if img is None:
                    self._out_img2[k] = np.full(self._out_shape, fv, dtype=np.float32)

    # -- the work --------------------------------------------------------------------

    def add_image(
        self,
        data,
        exptime,
        pixmap,
        data2=None,
        dq=None,
        scale=_DEPRECATED_ARG,
        iscale=1.0,
        pixel_scale_ratio=1.0,
        weight_map=None,
        wht_scale=1.0,
        pixfrac=1.0,
        in_units="cps",
        xmin=None,
        xmax=None,
        ymin=None,
        ymax=None,
    ):
        """Resample ``data`` with ``pixmap`` and add it to the outputs.

        Same parameters and return value as ``drizzle.resample.Drizzle.add_image``:
        ``pixmap[j, i] = (x, y)`` is the output position of input pixel (i, j);
        ``iscale`` multiplies the data (``data2`` by ``iscale**2``);
        ``pixel_scale_ratio`` (output/input pixel size, None to estimate it)
        sizes the turbo, gaussian and lanczos kernels; ``in_units='counts'``
        divides by ``exptime`` (``data2`` by ``exptime**2``); ``xmin..ymax``
        (inclusive, 0-based) restrict the input pixels used.

        Returns ``(nmiss, nskip)``: input pixels and input rows of the box that
        did not contribute, counted as the reference counts them.
        """
        inp, box, ninputs2, out_shape = self._validated_input(
            data, exptime, pixmap, data2, dq, scale, iscale, pixel_scale_ratio, weight_map,
            wht_scale, pixfrac, in_units, xmin, xmax, ymin, ymax, stacklevel=3,
        )  # fmt: skip

        # Everything is valid: from here on, state changes.
        if self._out_img is None:
            self._out_shape = out_shape
            self._alloc_output_arrays(out_shape, self._max_ctx_id, None, None, None)
        self._alloc_img2(ninputs2)
        plane_no, bit_no = self._increment_ctx_id()
        self._texptime += exptime
        if dq is not None and self._out_dq is None:
            self._out_dq = np.zeros(self._out_shape, dtype=np.uint32)

        nmiss, nskip = self._drizzle(inp, box, plane_no, bit_no)
        self._ncoadds += 1
        return nmiss, nskip

    def _validated_input(
        self, data, exptime, pixmap, data2, dq, scale, iscale, pixel_scale_ratio, weight_map,
        wht_scale, pixfrac, in_units, xmin, xmax, ymin, ymax, stacklevel,
    ):  # fmt: skip
        """Check ``add_image``'s arguments as the reference does; change no state.

        Returns ``(PreparedInput, input box, number of data2 arrays, out_shape)``.
        Warnings are issued ``stacklevel`` frames up.
        """
        if scale is not _DEPRECATED_ARG:
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
            raise ValueError(f"'data' must be a 2D array, got an array of shape {data.shape}.")
        try:
            pixmap = np.asarray(pixmap, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"'pixmap' must be a real-valued array: {exc}") from None
        if pixmap.ndim != 3:
            raise ValueError(
                f"'pixmap' must be a 3D array of shape (ny, nx, 2), got shape {pixmap.shape}."
            )

        out_shape, pixmap = self._resolve_out_shape(pixmap)
        ninputs2, data2_list = self._parse_data2(data2, data.shape)
        self._check_img2_count(ninputs2)

        if isinstance(exptime, str | bytes) or not _is_number(exptime):
            raise TypeError(f"'exptime' must be a number, got {exptime!r}")
        if exptime <= 0.0:
            raise ValueError("'exptime' *must* be a strictly positive number.")
        expscale = 1.0 if in_units == "cps" else exptime

        data = np.asarray(data, dtype=np.float32)
        in_ny, in_nx = data.shape
        if pixmap.shape[:2] != data.shape:
            raise ValueError("'pixmap' shape is not consistent with 'data' shape.")
        if pixmap.shape[2] != 2:
            raise ValueError("Pixel map depth (3rd dim) must be 2.")

        if weight_map is not None:
            weight_map = np.asarray(weight_map, dtype=np.float32)
            if weight_map.shape != data.shape:
                raise ValueError("'weight_map' shape is not consistent with 'data' shape.")
        else:
            weight_map = np.ones_like(data)

        if dq is not None:
            _check_dq_dtype(dq, "dq")
            dq = np.asarray(dq, dtype=np.uint32)
            if dq.shape != data.shape:
                raise ValueError("'dq' shape is not consistent with 'data' shape.")

        box = self._input_box(xmin, xmax, ymin, ymax, in_nx, in_ny)
        inp, box = self._prepare_input(
            data, weight_map, data2_list, dq, pixmap, box, iscale, pixel_scale_ratio,
            wht_scale, pixfrac, in_units, expscale, stacklevel + 1,
        )  # fmt: skip
        return inp, box, ninputs2, out_shape

    def _resolve_out_shape(self, pixmap):
        """Output shape (from outputs, or inferred from the pixmap's extent) and the pixmap."""
        if self._out_shape is not None:
            return self._out_shape, pixmap
        if len(self._output_shapes) == 1:
            return next(iter(self._output_shapes)), pixmap
        if len(self._output_shapes) > 1:
            raise ValueError(
                "Inconsistent data shapes: 'out_shape' and/or "
                "out_img, out_img2, out_wht, out_ctx have different shapes."
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            x0, x1 = np.nanmin(pixmap[:, :, 0]), np.nanmax(pixmap[:, :, 0])
            y0, y1 = np.nanmin(pixmap[:, :, 1]), np.nanmax(pixmap[:, :, 1])
        if not np.all(np.isfinite([x0, x1, y0, y1])):
            raise ValueError("'pixmap' has no finite values: cannot infer the output shape.")
        x0, x1, y0, y1 = int(np.floor(x0)), int(np.ceil(x1)), int(np.floor(y0)), int(np.ceil(y1))
        pixmap = pixmap.copy()
        pixmap[:, :, 0] -= x0
        pixmap[:, :, 1] -= y0
        return (y1 - y0 + 1, x1 - x0 + 1), pixmap

    @staticmethod
    def _parse_data2(data2, data_shape):
        """(number of data2 arrays or None, list of arrays/None) with shape checks."""
        if data2 is None:
            return None, []
        if isinstance(data2, np.ndarray):
            if data2.shape != data_shape:
                raise ValueError("'data2' shape is not consistent with 'data' shape.")
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
            raise ValueError("'data2' shape(s) is not consistent with 'data' shape.")
        return len(items), items

    @staticmethod
    def _input_box(xmin, xmax, ymin, ymax, in_nx, in_ny):
        """Inclusive input box with the reference's defaults (0 or None: no limit)."""

        def as_int(v, name):
            try:
                return operator.index(v)
            except TypeError:
                if isinstance(v, float | np.floating) and float(v).is_integer():
                    return int(v)
                raise TypeError(f"'{name}' must be an integer pixel index, got {v!r}.") from None

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
        self, data, weights, data2_list, dq, pixmap, box, iscale, pixel_scale_ratio,
        wht_scale, pixfrac, in_units, expscale, stacklevel,
    ):  # fmt: skip
        """Validate the kernel options as the reference's C layer does; build the kernel input."""
        iscale32 = np.float32(iscale)
        if not (iscale32 > 0.0 and np.isfinite(iscale32)):
            raise ValueError("Argument 'iscale' must be positive and finite.")
        if pixel_scale_ratio is None:
            psr32 = np.float32(np.nan)
        else:
            try:
                psr32 = np.float32(pixel_scale_ratio)
            except (TypeError, ValueError):
                raise ValueError("Argument 'pscale_ratio' is not a number.") from None
            if not (psr32 > 0.0 and np.isfinite(psr32)):
                raise ValueError("Argument 'pscale_ratio' must be positive and finite.")
        if in_units not in ("cps", "counts"):
            raise ValueError(f"Unknown unit type '{in_units}'")

        in_ny, in_nx = data.shape
        xmin, xmax, ymin, ymax, ok = valid_pixmap_box(pixmap, *box)
        if not ok:
            raise ValueError("No or too few valid pixels in the pixel map.")
        if xmin < 0:
            raise ValueError("xmin must be >= 0")
        if ymin < 0:
            raise ValueError("ymin must be >= 0")
        if not xmax > xmin:
            raise ValueError("xmax must be > xmin")
        if not ymax > ymin:
            raise ValueError("ymax must be > ymin")
        wscale32 = np.float32(wht_scale)
        if not wscale32 > 0.0:
            raise ValueError("weight scale must be > 0")

        kernel = self._kernel.lower()
        if kernel in NON_FLUX_CONSERVING:
            warnings.warn(
                f"Kernel '{self._kernel}' is not a flux-conserving kernel.",
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

    def _increment_ctx_id(self):
        """(plane, bit) of the image being added; grows the context by a plane when needed."""
        if self._disable_ctx:
            return None, 0
        plane_no = self._ctx_id // CTX_PLANE_BITS
        if plane_no >= self._out_ctx.shape[0]:
            plane = np.zeros((1,) + tuple(self._out_shape), np.int32)
            self._out_ctx = np.append(self._out_ctx, plane, axis=0)
        info = (plane_no, self._ctx_id % CTX_PLANE_BITS)
        self._ctx_id += 1
        return info

    def _drizzle(self, inp, box, plane_no, bit_no):
        """Run the kernel over the output (rolling row window, or tiles on a scheduler);
        merge; fill."""
        ctx_id = None if self._disable_ctx else plane_no * CTX_PLANE_BITS + bit_no
        exposure, scan = scan_exposure(inp, box, self._out_shape, 0, ctx_id)
        with_dq = inp.dq.shape[0] > 0
        out_img2 = self._out_img2 or []
        out_dq = self._out_dq if with_dq else None
        fill = _fill_number(self._fillval)
        fill2 = _fill_number(self._fillval2)
        if fill is not None and out_img2 and fill2 is not None:

            def fill_rows(rows):
                fill_empty(self._out_img[rows], self._out_wht[rows], fill,
                           [a[rows] for a in out_img2], fill2)  # fmt: skip

        elif fill is not None:

            def fill_rows(rows):
                fill_no_weight(self._out_img[rows], self._out_wht[rows], fill)

        else:
            fill_rows = None
        if self._tile_shape is None:
            nmiss_pixels = self._drizzle_rolling(exposure, scan, out_img2, out_dq, fill_rows)
        else:
            partials = self._drizzle_tiles(exposure)
            nmiss_pixels = scan.n_pixels - self._count_hits(partials)
            for part in partials:
                merge_window(part.sums, self._out_img, self._out_wht, out_img2, out_dq)
                if ctx_id is not None:
                    self._out_ctx[plane_no][part.sums.slices] |= part.sums.ctx
            if fill_rows is not None:
                fill_rows(slice(None))
        if not scan.drizzles:
            return 0, 0
        return scan.nmiss_rows + nmiss_pixels, scan.nskip

    def _drizzle_rolling(self, exposure, scan, out_img2, out_dq, fill_rows):
        """The untiled path: one pass over the input, context bits set in place.

        The partial sums cover a window of output rows that rolls down the output
        with the input rows (``partials.drizzle_rolling``): the same numbers as
        sums over the whole output, merged once, for a few rows of memory. Rows
        get their fill values (``fill_rows``, or None) as soon as they are final,
        while they are in cache; the rows no band reaches at the end.
        """
        inp = exposure.inp
        if exposure.ctx_id is None:
            ctx, bit = None, np.int32(0)
        else:
            plane_no, bit_no = divmod(exposure.ctx_id, CTX_PLANE_BITS)
            ctx, bit = self._out_ctx[plane_no], context_bit(bit_no)
        done = 0  # rows before this one have their final values (and fill)

        def flush(sums):
            nonlocal done
            merge_window(sums, self._out_img, self._out_wht, out_img2, out_dq)
            if fill_rows is not None:
                fill_rows(slice(done, sums.y0 + sums.wht.shape[0]))
            done = sums.y0 + sums.wht.shape[0]

        bands = rolling_bands(exposure, self._out_shape, ROLLING_BAND_ROWS)
        nmiss = drizzle_rolling(inp, scan, self._out_shape, bands, flush, ctx, bit)
        if fill_rows is not None and done < self._out_shape[0]:
            fill_rows(slice(done, None))
        return nmiss

    def _drizzle_tiles(self, exposure):
        """The tiled engine: one task per touched tile on ``scheduler``; partials come back."""
        grid = TileGrid(self._out_shape, self._tile_shape)
        plan = plan_input(exposure, grid, self._block_shape)
        shape = exposure.inp.shape
        with Runner(self._scheduler) as runner:
            name = f"facade-{id(self)}-{self._ctx_id}"
            (ref,), graph = runner.place_refs([exposure], f"{name}-exposure")
            keys = []
            for tile, blocks in sorted(plan.tiles.items()):
                y0, x0 = grid.origin(tile)
                window = (y0, x0) + grid.extent(tile)
                bands = task_bands(blocks, self._block_shape, shape)
                key = f"drizzle_tile-{name}-{tile[0]}-{tile[1]}"
                graph[key] = Task(
                    key, drizzle_tile, ref, bands, window, self._out_shape, want_hits=True,
                    step=plan.step, nan_free=plan.nan_free,
                )  # fmt: skip
                keys.append(key)
            return runner.compute_graph(graph, keys)

    @staticmethod
    def _count_hits(partials):
        """Input pixels that put weight in at least one tile."""
        if not partials:
            return 0
        hits = partials[0].hits.copy()
        for part in partials[1:]:
            hits |= part.hits
        return int(np.count_nonzero(hits))
