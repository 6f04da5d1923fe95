"""Pixmaps from WCS pairs, computed block by block (on Dask workers), exactly or fast.

A pixmap of an input image of shape ``(ny, nx)`` is a float64 array
``(ny, nx, 2)``: ``pixmap[j, i] = (x, y)`` is the 0-based output pixel position
of input pixel ``(i, j)``. The input WCS maps the pixel to the sky (through its
distortions: SIP polynomials, lookup tables ``cpdis``/``det2im``, or a gwcs
pipeline), the output WCS maps the sky to its own pixels. This is
:func:`tiledrizzle.utils.calc_pixmap` (and the reference
``drizzle.utils.calc_pixmap``), split into blocks so that a pixmap never has to
exist whole: a :class:`WCSPixmap` is a few kilobytes (two WCS objects and a
shape) that travel to the worker which needs a block.

Two modes:

``exact``
    Every pixel goes through the WCS pair: the same calls as ``calc_pixmap``,
    hence the same numbers (bit for bit for astropy WCS).

``fast``
    The WCS pair is evaluated exactly on a sparse global lattice of nodes
    (every ``step`` input pixels along each axis, plus the last row and
    column) and the pixels in between are filled by cubic Lagrange
    interpolation (:mod:`tiledrizzle.kernels.grid_interp`). Each grid *cell*
    (the rectangle between four neighbouring nodes) is then checked: the
    exact map is evaluated on a ``CHECKS_PER_CELL`` × ``CHECKS_PER_CELL``
    sub-lattice of the cell (its centre, edge midpoints, quarter points, ...)
    and compared with the interpolation there. A cell whose largest error
    exceeds ``CHECK_MARGIN × tolerance``, or where any node of its stencil is
    not finite, or which (or one of its 8 neighbours) has a non-finite value
    at a node or check point, is evaluated exactly, pixel by pixel.

On the NIRCam SIP detector (2048², 5th order) a 64-pixel step interpolates
to ~5e-6 px: at the default 0.01 px tolerance no cell falls back, and only
0.4 % of the pixels go through the WCS (nodes and check points).

What fast mode guarantees, and what it does not:

* **Blocking does not change a single bit** (for transforms evaluated point by
  point, as astropy's are): the node lattice, the stencils, the check points
  and the fallback decision of each cell are global, so a block computes the
  same numbers for its pixels as the whole image does (a block that covers a
  cell partly still evaluates that whole cell's nodes and check points, and
  its neighbours'). Pickling keeps astropy WCS numbers exact (17 digits), so
  a worker computes the same bits as the process that built the pixmap.
* **Not finite stays not finite**: where the exact map is NaN/inf at a node
  or check point, the cells concerned and their neighbours are evaluated
  exactly, so the pixmap is NaN there and never an interpolated value made
  up from a NaN neighbourhood.
* **The error bound is verified, not proven**: the interpolation error is
  measured at the check points, where the error of a smooth map peaks (the
  extrema of the cubic's nodal polynomial), and must be at most half the
  tolerance there. For a map smooth on the scale of the check spacing
  (``step / CHECKS_PER_CELL`` pixels) the error between check points is only
  a few per cent larger (≤ 1.06× measured on NIRCam), well inside that
  factor-2 margin. A map with structure finer than the check spacing can
  escape the check: lookup-table kinks much finer than the grid, a NaN hole
  that touches no node or check point. Use a smaller ``step`` for such maps,
  or ``mode="exact"``.
"""

from __future__ import annotations

import copy
import io
import math
import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from astropy.wcs import wcs as astropy_wcs

from tiledrizzle.core.errors import InputError
from tiledrizzle.kernels.grid_interp import (
    cell_max_errors,
    interpolate_tensor,
    lagrange_taps,
    nonfinite_cells,
)

__all__ = ["WCSPixmap", "GridReport", "grid_nodes"]

MODES = ("exact", "fast")
DISABLE_BBOX = ("to", "from", "both", "none")

CHECKS_PER_CELL = 4
"""Sub-intervals per cell side of the lattice on which fast mode checks its error."""

CHECK_MARGIN = 0.5
"""A cell is interpolated only if its measured error is at most this × tolerance."""

MIN_FAST_SIDE = 4
"""Axes shorter than this (pixels) are not worth a grid: such pixmaps are exact."""


@dataclass(frozen=True)
class GridReport:
    """What fast mode did for one block.

    ``cell_errors`` (cells along y, cells along x): the largest interpolation
    error (output pixels) measured on each cell's check lattice, ``inf`` where
    a value was not finite; ``fallback`` marks the cells evaluated exactly;
    ``exact_points`` counts the exact WCS evaluations (nodes, check points and
    fallback pixels); ``fallback_pixels`` the block pixels among them.
    """

    cell_errors: np.ndarray
    fallback: np.ndarray
    exact_points: int
    fallback_pixels: int


def grid_nodes(n, step):
    """Node positions (float64) along an axis of ``n`` pixels: ``0, step, 2 step, ...``, ``n-1``.

    The last pixel is always a node (no extrapolation). A last gap shorter than
    half a step is merged into the previous cell, so no cell is tiny.
    """
    nodes = np.arange(0, n - 1, step, dtype=np.float64)
    if nodes.size > 1 and (n - 1) - nodes[-1] < step / 2:
        nodes = nodes[:-1]
    return np.append(nodes, np.float64(n - 1))


def _require_celestial(wcs, name):
    """ValueError unless ``wcs`` maps 2 pixel axes to 2 celestial world axes."""
    if wcs is None:
        raise InputError(f"'{name}' is missing (None): a celestial WCS is required.")
    ape14 = hasattr(wcs, "pixel_to_world_values") and hasattr(wcs, "world_to_pixel_values")
    pipeline = hasattr(wcs, "forward_transform") and hasattr(wcs, "invert")
    if not (ape14 or pipeline):
        raise InputError(
            f"'{name}' must be a WCS (astropy WCS, gwcs, or an object with "
            f"pixel_to_world_values/world_to_pixel_values), got {type(wcs).__name__}."
        )
    if ape14:
        dims = (wcs.pixel_n_dim, wcs.world_n_dim)
        if dims != (2, 2):
            raise InputError(
                f"'{name}' must have 2 pixel and 2 world axes (celestial), got {dims[0]} and "
                f"{dims[1]}."
            )
        types = wcs.world_axis_physical_types
        if not all(isinstance(t, str) and t.split(":")[-1].startswith("pos.") for t in types):
            raise InputError(f"'{name}' is not celestial: its world axes are {list(types)}.")
    else:
        transform = wcs.forward_transform
        dims = (getattr(transform, "n_inputs", 2), getattr(transform, "n_outputs", 2))
        if dims != (2, 2):
            raise InputError(f"'{name}' must map 2 pixel axes to 2 world axes, got {dims}.")


def _bbox_of(wcs):
    return getattr(wcs, "bounding_box", None)


def _shape_from(wcs_from, shape):
    """The input shape (ny, nx): ``shape``, else the WCS's array_shape, else its bounding box."""
    if shape is None:
        shape = getattr(wcs_from, "array_shape", None)
    if shape is None and (bbox := _bbox_of(wcs_from)) is not None:
        try:
            intervals = bbox.bounding_box(order="F")
        except AttributeError:
            intervals = tuple(bbox)
        if np.ndim(intervals) == 2:
            shape = tuple(math.ceil(hi + 0.5) for _, hi in intervals[::-1])
    if shape is None:
        raise InputError(
            "The input shape is unknown: pass 'shape' or set the pixel_shape of 'wcs_from'."
        )
    shape = tuple(shape)
    if len(shape) != 2 or not all(
        isinstance(n, int | np.integer) and not isinstance(n, bool) and n > 0 for n in shape
    ):
        raise InputError(f"'shape' must be two positive integers (ny, nx), got {shape!r}.")
    return int(shape[0]), int(shape[1])


class _PackedWCS(NamedTuple):
    """An astropy WCS as FITS bytes written with 17 significant digits (exact round trip)."""

    fits_bytes: bytes
    pixel_shape: tuple | None
    pixel_bounds: list | None
    key: str


# All header extensions astropy's own pickling writes, SIP included, but with every
# number at 17 significant digits: astropy's pickle writes 14, which moves positions by
# ~1e-9 px for a WCS built in memory, so the same block would differ by scheduler.
_EXACT_HEADER = astropy_wcs.WCSHDO_all | astropy_wcs.WCSHDO_P17 | astropy_wcs.WCSHDO_SIP


def _pack_wcs(wcs):
    if type(wcs) is not WCS:
        return wcs  # gwcs and others pickle themselves (their numbers as binary floats)
    buffer = io.BytesIO()
    wcs.to_fits(relax=_EXACT_HEADER).writeto(buffer)
    return _PackedWCS(buffer.getvalue(), wcs.pixel_shape, wcs.pixel_bounds, wcs.wcs.alt)


def _unpack_wcs(packed):
    if not isinstance(packed, _PackedWCS):
        return packed
    with fits.open(io.BytesIO(packed.fits_bytes)) as hdul:
        header = hdul[0].header
        # A dataless HDU says NAXIS = 0; the WCS has two axes (its shape is restored below).
        header["NAXIS"], header["NAXIS1"], header["NAXIS2"] = 2, 1, 1
        wcs = WCS(header, hdul, key=packed.key, fix=False)
    wcs.pixel_shape = packed.pixel_shape
    wcs.pixel_bounds = packed.pixel_bounds
    return wcs


def _check_slice(s, n, name):
    """(start, stop) of a slice with explicit bounds inside ``[0, n]``; ValueError otherwise."""
    if not isinstance(s, slice):
        raise InputError(f"'{name}' must be a slice, got {type(s).__name__}.")
    ok_ints = all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in (s.start, s.stop)
    )
    if not ok_ints:
        raise InputError(f"'{name}' must have explicit integer start and stop, got {s}.")
    if s.step not in (None, 1):
        raise InputError(f"'{name}' must have step 1, got {s}.")
    start, stop = int(s.start), int(s.stop)
    if not 0 <= start <= stop <= n:
        raise InputError(f"'{name}' must satisfy 0 <= start <= stop <= {n}, got {s}.")
    return start, stop


class _AxisPlan:
    """Where one axis of a block sits on the global node lattice.

    ``cell_lo..cell_hi``: the cells holding the block's pixels (they are
    checked); ``node_lo..node_hi``: the nodes of their stencils (evaluated
    exactly, on the check lattice of the cells between them).
    """

    def __init__(self, nodes, start, stop):
        self.nodes = nodes
        n_nodes = nodes.size
        width = min(4, n_nodes)
        last_cell = n_nodes - 2

        def cell_of(p):
            return min(max(int(np.searchsorted(nodes, p, side="right")) - 1, 0), last_cell)

        def stencil_start(c):
            return min(max(c - 1, 0), n_nodes - width)

        self.cell_lo = cell_of(start)
        self.cell_hi = cell_of(stop - 1)
        self.node_lo = stencil_start(self.cell_lo)
        self.node_hi = stencil_start(self.cell_hi) + width - 1
        self.pixels = np.arange(start, stop, dtype=np.float64)
        # The check lattice over the cells node_lo .. node_hi - 1; node k is point k * sub.
        sub = CHECKS_PER_CELL
        lo, hi = nodes[self.node_lo : self.node_hi], nodes[self.node_lo + 1 : self.node_hi + 1]
        frac = np.arange(sub, dtype=np.float64) / sub
        inner = lo[:, None] + (hi - lo)[:, None] * frac[None, :]
        self.lattice = np.append(inner.ravel(), nodes[self.node_hi])
        first = (self.cell_lo - self.node_lo) * sub
        last = (self.cell_hi + 1 - self.node_lo) * sub
        self.checked = slice(first, last + 1)
        self.checked_cells = slice(self.cell_lo - self.node_lo, self.cell_hi + 1 - self.node_lo)

    @property
    def n_cells(self):
        return self.cell_hi - self.cell_lo + 1

    def taps(self, coords):
        """(cells relative to cell_lo, stencil starts relative to node_lo, weights, width)."""
        n = coords.size
        cells = np.empty(n, dtype=np.int64)
        starts = np.empty(n, dtype=np.int64)
        weights = np.empty((n, 4), dtype=np.float64)
        width = lagrange_taps(
            coords, self.nodes, self.cell_lo, self.cell_hi, cells, starts, weights
        )
        return cells - self.cell_lo, starts - self.node_lo, weights, width


def _dilate(flags):
    """``flags`` OR-ed with its 8 neighbours (a 3 × 3 dilation of a boolean grid)."""
    out = flags.copy()
    rows, cols = flags.shape
    for dj in (-1, 0, 1):
        for di in (-1, 0, 1):
            src = flags[max(dj, 0) : rows + min(dj, 0), max(di, 0) : cols + min(di, 0)]
            out[max(-dj, 0) : rows + min(-dj, 0), max(-di, 0) : cols + min(-di, 0)] |= src
    return out


def _interpolate(node_xy, row_taps, col_taps, skip, out):
    rc, rs, rw, rwidth = row_taps
    cc, cs, cw, cwidth = col_taps
    interpolate_tensor(node_xy, rs, rw, rwidth, cs, cw, cwidth, rc, cc, skip, out)


class WCSPixmap:
    """The pixmap of an input image onto an output frame, defined by a WCS pair.

    Parameters
    ----------
    wcs_from : astropy WCS or gwcs (celestial, 2 pixel axes)
        The input image's WCS, with its distortions.
    wcs_to : astropy WCS or gwcs (celestial)
        The output frame's WCS.
    shape : (ny, nx), optional
        Input shape (numpy order); default ``wcs_from.array_shape``, else the
        upper edges of ``wcs_from.bounding_box``.
    mode : {"exact", "fast"}
        ``exact``: every pixel through the WCS pair (as ``calc_pixmap``).
        ``fast``: grid interpolation with an error check (module docstring).
    tolerance : float
        Fast mode's bound on the position error, in output pixels.
    step : int
        Fast mode's node spacing, in input pixels (>= 2).
    disable_bbox : {"to", "from", "both", "none"}
        Which WCS's bounding box (gwcs) is switched off, as in ``calc_pixmap``.
        The pixmap holds private copies of both WCS: the caller's objects are
        never changed, and later changes to them do not reach the pixmap.

    A ``WCSPixmap`` is small and picklable. Call it with two slices to get a
    block: ``pm(slice(j0, j1), slice(i0, i1))`` is ``pixmap[j0:j1, i0:i1]``.
    Calls are thread safe: each thread transforms with its own copy of the WCS
    pair (astropy's WCS objects are not safe to share between threads).
    """

    def __init__(
        self,
        wcs_from,
        wcs_to,
        shape=None,
        *,
        mode="exact",
        tolerance=0.01,
        step=64,
        disable_bbox="to",
    ):
        _require_celestial(wcs_from, "wcs_from")
        _require_celestial(wcs_to, "wcs_to")
        if mode not in MODES:
            raise InputError(f"'mode' must be one of {MODES}, got {mode!r}.")
        if disable_bbox not in DISABLE_BBOX:
            raise InputError(f"'disable_bbox' must be one of {DISABLE_BBOX}, got {disable_bbox!r}.")
        try:
            tol = float(tolerance)
        except (TypeError, ValueError):
            tol = math.nan
        if not (math.isfinite(tol) and tol > 0.0):
            raise InputError(f"'tolerance' must be a positive number of pixels, got {tolerance!r}.")
        if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 2:
            raise InputError(f"'step' must be an integer >= 2 (input pixels), got {step!r}.")
        self._shape = _shape_from(wcs_from, shape)
        # Private copies: later changes to the caller's objects do not reach the pixmap.
        self.wcs_from = copy.deepcopy(wcs_from)
        self.wcs_to = copy.deepcopy(wcs_to)
        if disable_bbox in ("from", "both") and _bbox_of(self.wcs_from) is not None:
            self.wcs_from.bounding_box = None
        if disable_bbox in ("to", "both") and _bbox_of(self.wcs_to) is not None:
            self.wcs_to.bounding_box = None
        self.mode = mode
        self.tolerance = tol
        self.step = int(step)
        self._local = threading.local()

    # -- pickling: bit-exact WCS, and the thread-local WCS copies stay behind -------------------

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_local"]
        state["wcs_from"] = _pack_wcs(self.wcs_from)
        state["wcs_to"] = _pack_wcs(self.wcs_to)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.wcs_from = _unpack_wcs(self.wcs_from)
        self.wcs_to = _unpack_wcs(self.wcs_to)
        self._local = threading.local()

    def __repr__(self):
        ny, nx = self._shape
        extra = f", tolerance={self.tolerance:g}, step={self.step}" if self.mode == "fast" else ""
        return f"WCSPixmap(shape=({ny}, {nx}), mode={self.mode!r}{extra})"

    @property
    def shape(self):
        """Input shape ``(ny, nx)``; the pixmap is ``(ny, nx, 2)``."""
        return self._shape

    # -- the exact transform --------------------------------------------------------------------

    def _wcs_pair(self):
        pair = getattr(self._local, "pair", None)
        if pair is None:
            pair = (copy.deepcopy(self.wcs_from), copy.deepcopy(self.wcs_to))
            self._local.pair = pair
        return pair

    def exact_at(self, x, y):
        """Output ``(x, y)`` of input pixel positions ``x``, ``y`` (arrays, 0-based), exactly."""
        wcs_from, wcs_to = self._wcs_pair()
        if hasattr(wcs_from, "pixel_to_world_values"):
            world = wcs_from.pixel_to_world_values(x, y)
        else:
            world = wcs_from.forward_transform(x, y)
        if hasattr(wcs_to, "world_to_pixel_values"):
            ox, oy = wcs_to.world_to_pixel_values(*world)
        else:
            ox, oy = wcs_to.invert(*world)
        return np.asarray(ox, dtype=np.float64), np.asarray(oy, dtype=np.float64)

    def _exact_grid(self, rows, cols, out=None):
        """The exact map at every (row, column) pair of two coordinate vectors."""
        y, x = np.meshgrid(rows, cols, indexing="ij")
        ox, oy = self.exact_at(x, y)
        if out is None:
            out = np.empty((rows.size, cols.size, 2), dtype=np.float64)
        out[..., 0] = ox
        out[..., 1] = oy
        return out

    # -- blocks -----------------------------------------------------------------------------------

    def __call__(self, rows, cols):
        """The pixmap block ``[rows, cols]`` (two slices with explicit bounds), ``(nr, nc, 2)``."""
        return self.block_with_report(rows, cols)[0]

    def full(self):
        """The whole pixmap ``(ny, nx, 2)``."""
        ny, nx = self._shape
        return self(slice(0, ny), slice(0, nx))

    def block_with_report(self, rows, cols):
        """``(block, report)``: the block and, in fast mode, a :class:`GridReport` (else None)."""
        ny, nx = self._shape
        r0, r1 = _check_slice(rows, ny, "rows")
        c0, c1 = _check_slice(cols, nx, "cols")
        row_px = np.arange(r0, r1, dtype=np.float64)
        col_px = np.arange(c0, c1, dtype=np.float64)
        if r0 == r1 or c0 == c1:
            return np.empty((r1 - r0, c1 - c0, 2), dtype=np.float64), None
        if self.mode == "exact" or min(ny, nx) < MIN_FAST_SIDE:
            return self._exact_grid(row_px, col_px), None
        return self._fast_block(r0, r1, c0, c1)

    def _fast_block(self, r0, r1, c0, c1):
        ny, nx = self._shape
        ra = _AxisPlan(grid_nodes(ny, self.step), r0, r1)
        ca = _AxisPlan(grid_nodes(nx, self.step), c0, c1)
        sub = CHECKS_PER_CELL

        # Exact map on the check lattice; the nodes are every sub-th lattice point.
        lattice = self._exact_grid(ra.lattice, ca.lattice)
        node_xy = np.ascontiguousarray(lattice[::sub, ::sub])
        exact_points = lattice.shape[0] * lattice.shape[1]

        # Interpolate on the checked cells' lattice and measure each cell's error.
        checked = np.ascontiguousarray(lattice[ra.checked, ca.checked])
        approx = np.empty_like(checked)
        no_skip = np.zeros((ra.n_cells, ca.n_cells), dtype=np.bool_)
        row_taps = ra.taps(ra.lattice[ra.checked])
        col_taps = ca.taps(ca.lattice[ca.checked])
        _interpolate(node_xy, row_taps, col_taps, no_skip, approx)
        errors = np.empty((ra.n_cells, ca.n_cells), dtype=np.float64)
        cell_max_errors(approx, checked, sub, errors)
        # Non-finite values anywhere in a cell or its 8 neighbours: the cell goes exact too,
        # so a NaN region that pokes into a cell between its check points is still caught.
        nonfinite = np.empty((lattice.shape[0] // sub, lattice.shape[1] // sub), dtype=np.bool_)
        nonfinite_cells(lattice, sub, nonfinite)
        near_nonfinite = _dilate(nonfinite)[ra.checked_cells, ca.checked_cells]
        fallback = ~(errors <= CHECK_MARGIN * self.tolerance) | near_nonfinite

        # Interpolate the block's pixels in the good cells, evaluate the others exactly.
        out = np.empty((r1 - r0, c1 - c0, 2), dtype=np.float64)
        row_taps = ra.taps(ra.pixels)
        col_taps = ca.taps(ca.pixels)
        _interpolate(node_xy, row_taps, col_taps, fallback, out)
        n_fallback = 0
        if fallback.any():
            jj, ii = np.nonzero(fallback[row_taps[0]][:, col_taps[0]])
            ox, oy = self.exact_at(ca.pixels[ii], ra.pixels[jj])
            out[jj, ii, 0] = ox
            out[jj, ii, 1] = oy
            n_fallback = jj.size
        report = GridReport(errors, fallback, exact_points + n_fallback, n_fallback)
        return out, report
