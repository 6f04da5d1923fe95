"""Square-kernel geometry: exact quad/pixel overlap, including the edge cases that
broke fast overlap code before (collinear edges, corners just outside the output,
nearly degenerate quadrilaterals)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tiledrizzle.kernels.overlap import box_pixel_overlap, quad_pixel_overlap


def clip_area(quad, ii, jj):
    """Brute force: Sutherland-Hodgman clip of a convex quad to the pixel, shoelace area."""
    poly = [tuple(p) for p in quad]
    lo_x, hi_x, lo_y, hi_y = ii - 0.5, ii + 0.5, jj - 0.5, jj + 0.5
    for inside, cut in (
        (lambda p: p[0] >= lo_x, lambda a, b: _cut_x(a, b, lo_x)),
        (lambda p: p[0] <= hi_x, lambda a, b: _cut_x(a, b, hi_x)),
        (lambda p: p[1] >= lo_y, lambda a, b: _cut_y(a, b, lo_y)),
        (lambda p: p[1] <= hi_y, lambda a, b: _cut_y(a, b, hi_y)),
    ):
        out = []
        for k, cur in enumerate(poly):
            prev = poly[k - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(cut(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cut(prev, cur))
        poly = out
        if not poly:
            return 0.0
    x = np.array([p[0] for p in poly])
    y = np.array([p[1] for p in poly])
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _cut_x(a, b, x):
    t = (x - a[0]) / (b[0] - a[0])
    return (x, a[1] + t * (b[1] - a[1]))


def _cut_y(a, b, y):
    t = (y - a[1]) / (b[1] - a[1])
    return (a[0] + t * (b[0] - a[0]), y)


def overlap(quad, ii, jj):
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = quad
    return quad_pixel_overlap(ii, jj, x0, x1, x2, x3, y0, y1, y2, y3)


def quad_from(cx, cy, size, angle, shear):
    t = np.deg2rad(angle)
    base = np.array([[-0.5, 0.5], [0.5, 0.5], [0.5, -0.5], [-0.5, -0.5]]) * size
    base[:, 0] += shear * base[:, 1]
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return base @ rot.T + [cx, cy]


@settings(max_examples=200, deadline=None)
@given(
    cx=st.floats(-1.0, 1.0), cy=st.floats(-1.0, 1.0), size=st.floats(0.05, 2.5),
    angle=st.floats(-180, 180), shear=st.floats(-0.8, 0.8),
)  # fmt: skip
def test_overlap_matches_brute_force_clipping(cx, cy, size, angle, shear):
    quad = quad_from(cx, cy, size, angle, shear)
    area = 0.5 * abs(
        np.dot(quad[:, 0], np.roll(quad[:, 1], -1)) - np.dot(quad[:, 1], np.roll(quad[:, 0], -1))
    )
    total = 0.0
    for jj in range(-3, 4):
        for ii in range(-3, 4):
            got = abs(overlap(quad, ii, jj))
            assert abs(got - clip_area(quad, ii, jj)) <= 1e-9 * max(1.0, area)
            total += got
    assert abs(total - area) <= 1e-9 * max(1.0, area)


def test_edges_on_pixel_boundaries_and_collinear_edges():
    # a unit square exactly on the pixel grid: all of it in one pixel, none in neighbours
    q = [(-0.5, 0.5), (0.5, 0.5), (0.5, -0.5), (-0.5, -0.5)]
    assert abs(overlap(q, 0, 0)) == 1.0
    assert overlap(q, 1, 0) == 0.0 and overlap(q, 0, -1) == 0.0
    # a 2x1 rectangle whose long edges are collinear with pixel edges
    q = [(-0.5, 0.5), (1.5, 0.5), (1.5, -0.5), (-0.5, -0.5)]
    assert abs(overlap(q, 0, 0)) == 1.0 and abs(overlap(q, 1, 0)) == 1.0
    # orientation only flips the sign
    assert overlap(q[::-1], 0, 0) == -overlap(q, 0, 0)


def test_corners_just_outside_and_degenerate_quads():
    eps = 1e-12
    q = [(-0.5 - eps, 0.5 + eps), (0.5 + eps, 0.5 + eps), (0.5 + eps, -0.5 - eps),
         (-0.5 - eps, -0.5 - eps)]  # fmt: skip
    assert abs(abs(overlap(q, 0, 0)) - 1.0) < 1e-11
    # zero-area quads (a segment, a point) overlap nothing
    assert overlap([(0, 0), (0.3, 0.2), (0, 0), (0.3, 0.2)], 0, 0) == 0.0
    assert overlap([(0.1, 0.1)] * 4, 0, 0) == 0.0
    # a sliver: nearly collinear corners
    q = [(-0.4, 0.0), (0.4, 1e-9), (0.4, 0.0), (-0.4, -1e-9)]
    assert abs(overlap(q, 0, 0)) < 1e-8


def test_box_overlap():
    assert box_pixel_overlap(0, 0, -0.25, 0.25, -0.25, 0.25) == 0.25
    assert box_pixel_overlap(1, 0, -0.25, 0.25, -0.25, 0.25) == 0.0
    assert box_pixel_overlap(0, 0, 0.0, 1.0, 0.0, 1.0) == 0.25
