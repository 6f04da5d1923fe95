"""Which input pixels are drizzled: the input image's overlap with the output, per row.

The reference drizzle does not visit every input pixel. It maps the input
bounding box into the output frame, clips it to the output image, maps the
clipped polygon back to the input frame (by a golden-section inversion of the
pixel map), and then, row by row, drizzles only the input pixels whose centres
lie inside that polygon. This decides which input pixels reach the edge pixels
of the output, and it is what the reference's ``nskip``/``nmiss`` counters
count. To give the same numbers, tiledrizzle computes the same polygon and the
same per-row column limits here, once per input, and the kernels then visit
exactly those pixels.

This runs once per input, never per pixel: the polygon (a handful of
vertices) is plain Python; the pass over the rows (``kernels.scan.scan_rows``) is compiled,
as it runs once per input row.

Conventions: pixel centres are at integer coordinates, ``pixmap[j, i] = (x, y)``
is the output position of input pixel ``(i, j)``, and an input box
``xmin..xmax, ymin..ymax`` is inclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tiledrizzle.core.errors import InputError
from tiledrizzle.kernels.scan import MAX_INV_ERR, golden_section, interpolate, scan_rows

VERTEX_ATOL = 1.0e-12
APPROX_ZERO = 1.0e3 * np.finfo(np.float64).tiny
MAX_POLYGON_VERTICES = 8


@dataclass(frozen=True)
class ScanPlan:
    """Per-row column limits of the input pixels to drizzle, plus the reference's counters.

    ``x_first[j]..x_last[j]`` (inclusive) are the columns of input row ``j`` to
    drizzle; rows that are not drizzled have ``x_first > x_last``. ``nskip`` and
    ``nmiss_rows`` are the reference's counts before any per-pixel misses are
    added by the kernels. ``polygon`` is the overlap polygon in input
    coordinates (used to estimate the pixel scale ratio when none is given).
    ``drizzles`` is False when the reference would drizzle nothing at all
    (no overlap polygon), in which case it reports ``nmiss = nskip = 0``.
    """

    x_first: np.ndarray
    x_last: np.ndarray
    row_first: int
    row_last: int
    nskip: int
    nmiss_rows: int
    polygon: tuple
    drizzles: bool

    @property
    def n_pixels(self) -> int:
        """Number of input pixels that the kernels will visit."""
        span = self.x_last.astype(np.int64) - self.x_first + 1
        return int(span[span > 0].sum())


def _interpolate_point(pixmap, xin, yin):
    """``kernels.scan.interpolate`` as ``(x, y)``, or None when the result is NaN."""
    xo, yo, ok = interpolate(pixmap, float(xin), float(yin))
    return (xo, yo) if ok else None


def _map_point(pixmap, box, xin, yin):
    """Input position -> output position: exact lookup at integer points, else interpolation."""
    xmin, xmax, ymin, ymax = box
    i = int(xin)
    j = int(yin)
    if float(i) == xin and float(j) == yin:
        if xmin <= i <= xmax and ymin <= j <= ymax:
            xo, yo = float(pixmap[j, i, 0]), float(pixmap[j, i, 1])
            if math.isnan(xo) or math.isnan(yo):
                return None
            return xo, yo
        return None
    return _interpolate_point(pixmap, xin, yin)


def _invert_pixmap(pixmap, box, xout, yout):
    """Output position -> input position by golden-section search on the pixmap.

    Accurate to ``MAX_INV_ERR`` input pixels; None when it fails to converge or
    the interpolation hits NaN.
    """
    bxmin, bxmax, bymin, bymax = box
    x, y, ok = golden_section(
        pixmap, float(bxmin) - 0.5, float(bxmax) + 0.5, float(bymin) - 0.5, float(bymax) + 0.5,
        float(xout), float(yout),
    )  # fmt: skip
    return (x, y) if ok else None


# --- polygons: lists of (x, y) tuples, last vertex != first ---------------------------


def _cross(a, b):
    return a[0] * b[1] - a[1] * b[0]


def _strictly_left(pt, v_, v):
    """True when ``pt`` lies strictly to the left of the directed edge ``v_ -> v``."""
    return (_cross(v, pt) - _cross(v_, pt) - _cross(v, v_)) > 0.0


def _same_vertex(a, b):
    return abs(a[0] - b[0]) < VERTEX_ATOL and abs(a[1] - b[1]) < VERTEX_ATOL


def _append_vertex(poly, v):
    """Append unless it repeats the last or first vertex or the polygon is full."""
    if poly and (_same_vertex(poly[-1], v) or _same_vertex(poly[0], v)):
        return
    if len(poly) >= MAX_POLYGON_VERTICES:
        return
    poly.append(v)


def _orient_ccw(poly):
    """Reverse the vertex order in place when the polygon runs clockwise."""
    n = len(poly)
    if n < 3:
        return
    cx = sum(v[0] for v in poly) / n
    cy = sum(v[1] for v in poly) / n
    v1 = (poly[0][0] - cx, poly[0][1] - cy)
    v2 = (poly[1][0] - cx, poly[1][1] - cy)
    if _cross(v1, v2) >= 0.0:
        return
    poly.reverse()


def _simplify(poly):
    """Drop vertices that lie on the line through their neighbours."""
    n = len(poly)
    if n < 3:
        return poly
    kept = []
    for k in range(n):
        prev = poly[k - 1]
        cur = poly[k]
        nxt = poly[(k + 1) % n]
        dp = (nxt[0] - prev[0], nxt[1] - prev[1])
        dq = (cur[0] - prev[0], cur[1] - prev[1])
        if abs(_cross(dp, dq)) > APPROX_ZERO and math.hypot(dp[0], dp[1]) > VERTEX_ATOL:
            kept.append(cur)
    return kept


def _clip_to_window(poly, window):
    """Sutherland-Hodgman clip of ``poly`` to the convex ``window`` (both oriented CCW here)."""
    poly = list(poly)
    window = list(window)
    _orient_ccw(poly)
    _orient_ccw(window)
    current = poly
    w_prev = window[-1]
    for w in window:
        dw = (w[0] - w_prev[0], w[1] - w_prev[1])
        result = []
        if current:
            p_prev = current[-1]
            for p in current:
                dp = (p[0] - p_prev[0], p[1] - p_prev[1])
                prev_in = _strictly_left(p_prev, w_prev, w)
                cur_in = _strictly_left(p, w_prev, w)
                if cur_in != prev_in:
                    d = _cross(dp, dw)
                    app = _cross(p, p_prev)
                    aww = _cross(w, w_prev)
                    with np.errstate(all="ignore"):
                        vi = ((app * dw[0] - aww * dp[0]) / d, (app * dw[1] - aww * dp[1]) / d)
                    if math.isfinite(vi[0]) and math.isfinite(vi[1]):
                        _append_vertex(result, vi)
                    if cur_in:
                        _append_vertex(result, p)
                elif prev_in:
                    _append_vertex(result, p)
                p_prev = p
        current = result
        w_prev = w
    _orient_ccw(current)
    return _simplify(current)


# --- the scanner -----------------------------------------------------------------------


@dataclass
class _Edge:
    v1: tuple
    v2: tuple
    m: float
    c: float


def _edge(v1, v2, position):
    """Edge v1 -> v2 as x = m*y + c, with c moved so whole pixels fit inside (+1 right, -1 left).

    Division follows IEEE rules (a horizontal edge gives inf/nan), as in C.
    """
    with np.errstate(all="ignore"):
        dy = np.float64(v2[1]) - np.float64(v1[1])
        m = float((np.float64(v2[0]) - np.float64(v1[0])) / dy)
        b = float((np.float64(v1[0]) * v2[1] - np.float64(v1[1]) * v2[0]) / dy)
    c = b - math.copysign(0.5 + 0.5 * abs(m), float(position))
    return _Edge(v1, v2, m, c)


def _split_edges(poly):
    """Split a CCW polygon into left and right edge chains running bottom -> top."""
    n = len(poly)
    ys = [v[1] for v in poly]
    min_y = ys[0]
    min_left = 0
    for k in range(1, n):
        if ys[k] < min_y:
            min_left, min_y = k, ys[k]
    i1, i2 = (min_left - 1) % n, (min_left + 1) % n
    min_right = i1 if ys[i1] < ys[i2] else i2
    if ys[min_right] <= min_y * (1.0 + math.copysign(VERTEX_ATOL, min_y)):
        if poly[min_left][0] > poly[min_right][0]:
            min_left, min_right = min_right, min_left
    else:
        min_right = min_left

    max_y = ys[0]
    max_right = 0
    for k in range(1, n):
        if ys[k] > max_y:
            max_right, max_y = k, ys[k]
    i1, i2 = (max_right - 1) % n, (max_right + 1) % n
    max_left = i1 if ys[i1] > ys[i2] else i2
    if ys[max_left] >= max_y * (1.0 - math.copysign(VERTEX_ATOL, max_y)):
        if poly[max_left][0] > poly[max_right][0]:
            max_left, max_right = max_right, max_left
    else:
        max_left = max_right

    if max_left > min_left:
        min_left += n
    left = []
    for k in range(min_left - max_left):
        a = (min_left - k) % n
        left.append(_edge(poly[a], poly[(a - 1) % n], -1))
    if max_right < min_right:
        max_right += n
    right = []
    for k in range(max_right - min_right):
        a = (min_right + k) % n
        right.append(_edge(poly[a], poly[(a + 1) % n], 1))
    return left, right, min_y, max_y


def _edge_arrays(edges):
    """(top y, m, c) float64 arrays of an edge chain, for ``scan_rows``."""
    tops = np.array([e.v2[1] for e in edges], dtype=np.float64)
    ms = np.array([e.m for e in edges], dtype=np.float64)
    cs = np.array([e.c for e in edges], dtype=np.float64)
    return tops, ms, cs


def overlap_polygon(pixmap, box, out_shape):
    """The polygon (input coordinates) of the input box that lands on the output image.

    Returns ``(polygon, valid)``; on a mapping failure the polygon is the input
    box itself or what was built before the failure, as the reference does.
    """
    pixmap = np.asarray(pixmap, dtype=np.float64)
    xmin, xmax, ymin, ymax = box
    in_box = [
        (xmin - 0.5, ymin - 0.5),
        (xmax + 0.5, ymin - 0.5),
        (xmax + 0.5, ymax + 0.5),
        (xmin - 0.5, ymax + 0.5),
    ]
    mapped = []
    for v in in_box:
        p = _map_point(pixmap, box, v[0], v[1])
        if p is None:
            return in_box, False
        mapped.append(p)
    ony, onx = out_shape
    window = [(-0.5, -0.5), (onx - 0.5, -0.5), (onx - 0.5, ony - 0.5), (-0.5, ony - 0.5)]
    clipped = _clip_to_window(mapped, window)
    polygon = []
    for v in clipped:
        p = _invert_pixmap(pixmap, box, v[0], v[1])
        if p is None:
            return polygon, False
        _append_vertex(polygon, p)
    _orient_ccw(polygon)
    return polygon, True


def plan_scanlines(pixmap, box, out_shape):
    """Per-row limits of the input pixels to drizzle onto an output of ``out_shape``.

    ``box = (xmin, xmax, ymin, ymax)`` is the inclusive input box (already shrunk
    to valid pixmap values). The counters follow the reference exactly, including
    its quirks: ``nmiss`` starts from ``nskip * (xmax - xmin)`` (not ``+1``).
    """
    in_ny = pixmap.shape[0]
    xmin, xmax, ymin, ymax = box
    x_first = np.zeros(in_ny, dtype=np.int32)
    x_last = np.full(in_ny, -1, dtype=np.int32)
    polygon, _valid = overlap_polygon(pixmap, box, out_shape)
    if len(polygon) < 3:
        return ScanPlan(x_first, x_last, 0, -1, 0, 0, tuple(polygon), False)
    left, right, min_y, max_y = _split_edges(polygon)
    row_first = max(0, int(min_y + 0.5 + 2.0 * MAX_INV_ERR))
    row_last = min(ymax, int(max_y + 2.0 * MAX_INV_ERR))
    width = xmax - xmin
    nskip = (ymax - ymin) - (row_last - row_first)
    nmiss = nskip * width
    nskip, nmiss = scan_rows(
        *_edge_arrays(left), *_edge_arrays(right), float(min_y), float(max_y),
        xmin, xmax, ymin, ymax, row_first, row_last, nskip, nmiss, x_first, x_last,
    )  # fmt: skip
    nskip, nmiss = int(nskip), int(nmiss)
    return ScanPlan(x_first, x_last, row_first, row_last, nskip, nmiss, tuple(polygon), True)


def polygon_centroid(polygon):
    """Centroid of a simple polygon, or None when it is degenerate."""
    n = len(polygon)
    if n < 3:
        return None
    a = 0.0
    for k in range(n):
        xj, yj = polygon[k - 1]
        xk, yk = polygon[k]
        a += (xj + xk) * (yj - yk)
    a *= 0.5
    if abs(a) < APPROX_ZERO:
        return None
    sx = sy = 0.0
    for k in range(n):
        xj, yj = polygon[k - 1]
        xk, yk = polygon[k]
        f = xj * yk - xk * yj
        sx += (xj + xk) * f
        sy += (yj + yk) * f
    return sx / (6.0 * a), sy / (6.0 * a)


def estimate_local_scale_ratio(pixmap, polygon):
    """Pixel scale ratio from the pixmap's Jacobian at the overlap polygon's centroid.

    Used when ``pixel_scale_ratio`` is None. Returns a float32 value, or raises
    ValueError when it cannot be estimated.
    """
    c = polygon_centroid(polygon)
    ny, nx = pixmap.shape[:2]
    if c is None or nx < 2 or ny < 2:
        raise InputError("Unable to estimate pscale_ratio")
    i = min(max(int(c[0]), 0), nx - 2)
    j = min(max(int(c[1]), 0), ny - 2)
    p0, p1, p2 = pixmap[j, i], pixmap[j, i + 1], pixmap[j + 1, i]
    if np.isnan(p0).any() or np.isnan(p1).any() or np.isnan(p2).any():
        raise InputError("Unable to estimate pscale_ratio")
    cd11 = p1[0] - p0[0]
    cd12 = p1[1] - p0[1]
    cd21 = p2[0] - p0[0]
    cd22 = p2[1] - p0[1]
    return np.float32(math.sqrt(abs(cd11 * cd22 - cd12 * cd21)))
