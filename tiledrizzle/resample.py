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

import warnings

import numpy as np

from tiledrizzle.core.errors import InputError
from tiledrizzle.core.grid import TileGrid, positive_pair
from tiledrizzle.core.kernel_input import context_bit
from tiledrizzle.core.options import (
    DEPRECATED_ARG,
    check_dq_dtype,
    check_kernel,
    fill_number,
    parse_fillval,
    validate_add_image,
)
from tiledrizzle.engine.blot import blot_image
from tiledrizzle.engine.partials import drizzle_rolling, rolling_bands
from tiledrizzle.engine.plan import DEFAULT_BLOCK_SHAPE, scan_exposure
from tiledrizzle.engine.reduce import fill_empty, merge_window
from tiledrizzle.engine.schedulers import check_scheduler
from tiledrizzle.kernels.merge import fill_no_weight
from tiledrizzle.kernels.registry import CTX_PLANE_BITS, KERNEL_NAMES, context_plane_count

__all__ = ["Drizzle", "blot_image", "SUPPORTED_DRIZZLE_KERNELS", "CTX_PLANE_BITS"]

SUPPORTED_DRIZZLE_KERNELS = list(KERNEL_NAMES)

ROLLING_BAND_ROWS = 64
"""Input rows per kernel call on the untiled path (see ``Drizzle._drizzle_rolling``)."""


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
            raise InputError("'scheduler' needs 'tile_shape': the untiled path runs in the caller")

        if disable_ctx:
            self._ctx_id = None
            self._max_ctx_id = None
        else:
            if begin_ctx_id < 0:
                raise InputError("Invalid context image ID")
            self._ctx_id = begin_ctx_id
            if max_ctx_id is None:
                max_ctx_id = begin_ctx_id
            elif max_ctx_id < begin_ctx_id:
                raise InputError("'max_ctx_id' cannot be smaller than 'begin_ctx_id'.")
            self._max_ctx_id = max_ctx_id

        if exptime < 0.0:
            raise InputError("Exposure time must be non-negative.")
        if exptime > 0.0 and out_img is None and out_ctx is None and out_wht is None:
            raise InputError(
                "Exposure time must be 0.0 for the first resampling "
                "(when no output resampled images have been provided)."
            )
        if exptime == 0.0 and (
            (out_ctx is not None and np.sum(out_ctx) > 0)
            or (out_wht is not None and np.sum(out_wht) > 0)
        ):
            raise InputError(
                "Inconsistent exposure time and context and/or weight images: "
                "Exposure time cannot be 0 when context and/or weight arrays "
                "are non-zero."
            )
        self._texptime = exptime

        check_kernel(kernel)
        self._kernel = kernel

        self._fillval = parse_fillval(out_img, fillval)
        self._fillval2 = parse_fillval(out_img2, fillval2)

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
                raise InputError("'out_ctx' must be either a 2D or 3D array.")
            shapes.add(out_ctx.shape[1:])
        if out_dq is not None:
            check_dq_dtype(out_dq, "out_dq")
            out_dq = np.asarray(out_dq, dtype=np.uint32)
            shapes.add(out_dq.shape)
            self._out_dq = out_dq
        if out_shape is not None:
            shapes.add(tuple(out_shape))

        if len(shapes) == 1:
            self._out_shape = shapes.pop()
            self._alloc_output_arrays(self._out_shape, max_ctx_id, out_img, out_wht, out_ctx)
        elif len(shapes) > 1:
            raise InputError(
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
                raise InputError(
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
                n_planes = context_plane_count(max_ctx_id + 1)
                self._out_ctx = np.zeros((n_planes,) + tuple(out_shape), dtype=np.int32)
            else:
                self._out_ctx = out_ctx
            if not (out_wht is None and out_ctx is None):
                if np.any(np.bitwise_xor(self._out_wht > 0.0, np.sum(self._out_ctx, axis=0) > 0)):
                    raise InputError(
                        "Inconsistent values of supplied 'out_wht' and "
                        "'out_ctx' arrays. Pixels with non-zero context "
                        "values must have positive weights and vice-versa."
                    )
        if out_img is None:
            fill = fill_number(self._fillval)
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
                raise InputError(
                    "Mismatch between the number of 'out_img2' images and the number of inputs."
                )
            return
        nimg2 = len(self._out_img2)
        if (ninputs2 is not None and ninputs2 != nimg2) or (ninputs2 is None and nimg2 > 0):
            raise InputError(
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
        scale=DEPRECATED_ARG,
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
        inp, box, ninputs2, out_shape = validate_add_image(
            self._kernel, data, exptime, pixmap, data2, dq, scale, iscale, pixel_scale_ratio,
            weight_map, wht_scale, pixfrac, in_units, xmin, xmax, ymin, ymax, stacklevel=3,
            resolve_out_shape=self._resolve_out_shape, check_data2_count=self._check_img2_count,
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

    def _resolve_out_shape(self, pixmap):
        """Output shape (from outputs, or inferred from the pixmap's extent) and the pixmap."""
        if self._out_shape is not None:
            return self._out_shape, pixmap
        if len(self._output_shapes) == 1:
            return next(iter(self._output_shapes)), pixmap
        if len(self._output_shapes) > 1:
            raise InputError(
                "Inconsistent data shapes: 'out_shape' and/or "
                "out_img, out_img2, out_wht, out_ctx have different shapes."
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            x0, x1 = np.nanmin(pixmap[:, :, 0]), np.nanmax(pixmap[:, :, 0])
            y0, y1 = np.nanmin(pixmap[:, :, 1]), np.nanmax(pixmap[:, :, 1])
        if not np.all(np.isfinite([x0, x1, y0, y1])):
            raise InputError("'pixmap' has no finite values: cannot infer the output shape.")
        x0, x1, y0, y1 = int(np.floor(x0)), int(np.ceil(x1)), int(np.floor(y0)), int(np.ceil(y1))
        pixmap = pixmap.copy()
        pixmap[:, :, 0] -= x0
        pixmap[:, :, 1] -= y0
        return (y1 - y0 + 1, x1 - x0 + 1), pixmap

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
        fill = fill_number(self._fillval)
        fill2 = fill_number(self._fillval2)
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
        # Dask's graph machinery loads on first use: the untiled facade never needs it.
        from tiledrizzle.engine.graph import drizzle_exposure_tiles

        grid = TileGrid(self._out_shape, self._tile_shape)
        name = f"facade-{id(self)}-{self._ctx_id}"
        return drizzle_exposure_tiles(exposure, grid, self._block_shape, self._scheduler, name)

    @staticmethod
    def _count_hits(partials):
        """Input pixels that put weight in at least one tile."""
        if not partials:
            return 0
        hits = partials[0].hits.copy()
        for part in partials[1:]:
            hits |= part.hits
        return int(np.count_nonzero(hits))
