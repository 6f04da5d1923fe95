"""WCSPixmap: exact parity with calc_pixmap, fast mode's error bound, blocks, NaN, pickling."""

import copy
import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, DistortionLookupTable, FITSFixedWarning, Sip
from drizzle import utils as ref_utils
from helpers.wcs_data import (
    NIRCAM_INPUT,
    NIRCAM_OUTPUTS,
    WCS_DIR,
    read_header_wcs,
    requires_wcs_data,
)

from tiledrizzle import utils
from tiledrizzle.inputs.pixmap import WCSPixmap, grid_nodes
from tiledrizzle.kernels.grid_interp import interpolate_tensor, lagrange_taps

HST_FLT = WCS_DIR / "j8bt06nyq_sip_flt.fits"
PARITY = 1e-9  # px: exact mode vs calc_pixmap


def position_error(a, b):
    """Per-pixel distance (output pixels) between two pixmaps; NaN where either is NaN."""
    return np.hypot(a[..., 0] - b[..., 0], a[..., 1] - b[..., 1])


def assert_within(fast, exact, tolerance):
    """``fast`` is within ``tolerance`` of ``exact`` at every pixel and NaN exactly where it is."""
    assert fast.shape == exact.shape
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(exact))
    err = position_error(fast, exact)
    finite = np.isfinite(err)
    assert finite.any()
    worst = err[finite].max()
    assert worst <= tolerance, f"max error {worst:.3g} px > tolerance {tolerance:.3g} px"
    return worst


# -- synthetic WCS (no shared data needed) ---------------------------------------------------------


def tan_wcs(shape, crpix, scale_arcsec=0.05, rotation=0.3, crval=(150.0, 2.0), sip=None):
    """A TAN WCS (optionally TAN-SIP) for an image of ``shape`` (ny, nx)."""
    w = WCS(naxis=2)
    suffix = "-SIP" if sip is not None else ""
    w.wcs.ctype = ["RA---TAN" + suffix, "DEC--TAN" + suffix]
    w.wcs.crval = list(crval)
    w.wcs.crpix = list(crpix)
    c, s = np.cos(rotation), np.sin(rotation)
    w.wcs.cd = scale_arcsec / 3600.0 * np.array([[-c, s], [s, c]])
    if sip is not None:
        a, b = sip
        w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.pixel_shape = (shape[1], shape[0])
    return w


def sip_coefficients(strength=1.0):
    """5th-order SIP polynomials: about ``strength`` × 1 px of distortion at 300 px from CRPIX."""
    a = np.zeros((6, 6))
    b = np.zeros((6, 6))
    a[2, 0], a[1, 1], a[0, 2] = 6e-6, -3e-6, 2e-6
    a[3, 0], a[1, 2] = 8e-9, -5e-9
    a[5, 0], a[2, 3], a[4, 0] = 4e-15, -3e-15, 2e-12
    b[0, 2], b[1, 1], b[2, 0] = 5e-6, 4e-6, -2e-6
    b[0, 3], b[2, 1] = -7e-9, 6e-9
    b[0, 5], b[3, 2], b[1, 3] = -5e-15, 2e-15, -1e-12
    return a * strength, b * strength


SYN_SHAPE = (600, 700)


def synthetic_pair(strength=1.0):
    """A distorted (TAN-SIP) input of SYN_SHAPE and an undistorted output frame over it."""
    wcs_from = tan_wcs(SYN_SHAPE, (350.5, 300.5), sip=sip_coefficients(strength))
    wcs_to = tan_wcs((680, 760), (380.0, 340.0), scale_arcsec=0.045, rotation=0.0)
    return wcs_from, wcs_to


@pytest.fixture(scope="module")
def synthetic():
    wcs_from, wcs_to = synthetic_pair()
    exact = WCSPixmap(wcs_from, wcs_to).full()
    return wcs_from, wcs_to, exact


def test_exact_matches_calc_pixmap_synthetic(synthetic):
    wcs_from, wcs_to, exact = synthetic
    assert exact.shape == (*SYN_SHAPE, 2)
    assert np.abs(exact - utils.calc_pixmap(wcs_from, wcs_to)).max() <= PARITY
    assert np.abs(exact - ref_utils.calc_pixmap(wcs_from, wcs_to)).max() <= PARITY


@pytest.mark.parametrize("tolerance", [0.1, 0.01, 1e-4])
@pytest.mark.parametrize("step", [16, 64, 250])
def test_fast_within_tolerance_synthetic(synthetic, tolerance, step):
    wcs_from, wcs_to, exact = synthetic
    pm = WCSPixmap(wcs_from, wcs_to, mode="fast", tolerance=tolerance, step=step)
    assert_within(pm.full(), exact, tolerance)


def test_fast_is_mostly_interpolated_at_default_settings(synthetic):
    wcs_from, wcs_to, exact = synthetic
    pm = WCSPixmap(wcs_from, wcs_to, mode="fast")
    block, report = pm.block_with_report(slice(0, SYN_SHAPE[0]), slice(0, SYN_SHAPE[1]))
    assert report.fallback_pixels == 0 and not report.fallback.any()
    # Nodes and check points only: a small fraction of the pixels went through the WCS.
    assert report.exact_points < 0.05 * block.shape[0] * block.shape[1]
    assert_within(block, exact, pm.tolerance)


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_blocks_assemble_bit_for_bit(synthetic, mode):
    wcs_from, wcs_to, _ = synthetic
    pm = WCSPixmap(wcs_from, wcs_to, mode=mode, tolerance=1e-4, step=48)
    full = pm.full()
    rng = np.random.default_rng(7)
    ny, nx = SYN_SHAPE
    row_cuts = np.unique(np.r_[0, rng.integers(1, ny, 5), 1, ny - 1, ny])
    col_cuts = np.unique(np.r_[0, rng.integers(1, nx, 4), 47, 48, 49, nx])
    assembled = np.full_like(full, -1.0)
    for r0, r1 in zip(row_cuts[:-1], row_cuts[1:], strict=True):
        for c0, c1 in zip(col_cuts[:-1], col_cuts[1:], strict=True):
            block = pm(slice(int(r0), int(r1)), slice(int(c0), int(c1)))
            assert block.shape == (r1 - r0, c1 - c0, 2)
            assembled[r0:r1, c0:c1] = block
    np.testing.assert_array_equal(assembled, full)


def test_fallback_triggers_and_bound_holds(synthetic):
    wcs_from, wcs_to, exact = synthetic
    # A tolerance at the median measured cell error fails some cells, not all.
    probe = WCSPixmap(wcs_from, wcs_to, mode="fast", tolerance=1.0, step=128)
    errors = probe.block_with_report(slice(0, SYN_SHAPE[0]), slice(0, SYN_SHAPE[1]))[1].cell_errors
    pm = WCSPixmap(wcs_from, wcs_to, mode="fast", tolerance=2 * np.median(errors), step=128)
    block, report = pm.block_with_report(slice(0, SYN_SHAPE[0]), slice(0, SYN_SHAPE[1]))
    assert 0 < report.fallback.sum() < report.fallback.size
    assert report.fallback_pixels > 0
    assert_within(block, exact, pm.tolerance)
    # Fallback cells are exact to the bit; interpolated cells are not (they are approximations).
    assert (position_error(block, exact) == 0).sum() >= report.fallback_pixels


def test_strong_distortion_falls_back_everywhere():
    wcs_from, wcs_to = synthetic_pair(strength=400.0)
    exact = WCSPixmap(wcs_from, wcs_to).full()
    pm = WCSPixmap(wcs_from, wcs_to, mode="fast", tolerance=1e-3, step=128)
    block, report = pm.block_with_report(slice(0, SYN_SHAPE[0]), slice(0, SYN_SHAPE[1]))
    assert report.fallback.mean() > 0.5
    assert_within(block, exact, pm.tolerance)


def test_tolerance_below_rounding_gives_exact(synthetic):
    wcs_from, wcs_to, exact = synthetic
    pm = WCSPixmap(wcs_from, wcs_to, mode="fast", tolerance=1e-14)
    block, report = pm.block_with_report(slice(100, 300), slice(0, 700))
    assert report.fallback.all()
    np.testing.assert_array_equal(block, exact[100:300])


def lookup_table_wcs(base, amplitude, spacing, seed, det2im=False):
    """``base`` with random lookup tables (cpdis, optionally det2im) ``spacing`` px apart."""
    rng = np.random.default_rng(seed)
    ny, nx = base.array_shape
    table_shape = (ny // spacing + 3, nx // spacing + 3)
    w = base.deepcopy()

    def table():
        values = amplitude * rng.standard_normal(table_shape)
        return DistortionLookupTable(values.astype(np.float32), (1, 1), (1, 1), (spacing, spacing))

    w.cpdis1, w.cpdis2 = table(), table()
    if det2im:
        w.det2im1, w.det2im2 = table(), table()
    return w


@pytest.mark.parametrize(
    ("amplitude", "spacing", "tolerance", "fallback"),
    [(0.002, 128, 0.01, "none"), (0.05, 64, 0.1, "some"), (0.5, 24, 0.01, "all")],
)
def test_lookup_table_distortion(amplitude, spacing, tolerance, fallback):
    """Lookup tables are bilinear between their nodes: kinks the cubic grid cannot follow."""
    base = tan_wcs(SYN_SHAPE, (350.5, 300.5))
    wcs_from = lookup_table_wcs(base, amplitude, spacing, seed=spacing, det2im=True)
    wcs_to = tan_wcs((680, 760), (380.0, 340.0), rotation=0.0)
    exact = WCSPixmap(wcs_from, wcs_to).full()
    assert np.abs(exact - utils.calc_pixmap(wcs_from, wcs_to)).max() <= PARITY
    assert np.abs(exact - ref_utils.calc_pixmap(wcs_from, wcs_to)).max() <= PARITY
    # The tables really distort the map.
    assert np.abs(exact - WCSPixmap(base, wcs_to).full()).max() > amplitude
    pm = WCSPixmap(wcs_from, wcs_to, mode="fast", tolerance=tolerance)
    block, report = pm.block_with_report(slice(0, SYN_SHAPE[0]), slice(0, SYN_SHAPE[1]))
    share = report.fallback.mean()
    assert {"none": share == 0, "some": 0 < share < 1, "all": share == 1}[fallback], share
    assert_within(block, exact, tolerance)


# -- NaN regions -----------------------------------------------------------------------------------


def test_nan_outside_pixel_bounds(synthetic):
    """APE 14 ``pixel_bounds`` make the exact map NaN beyond them; fast mode must agree."""
    wcs_from, wcs_to, _ = synthetic
    bounded = wcs_from.deepcopy()
    bounded.pixel_bounds = [(-0.5, 455.3), (20.7, 599.5)]
    exact = WCSPixmap(bounded, wcs_to).full()
    np.testing.assert_array_equal(exact, utils.calc_pixmap(bounded, wcs_to))
    assert np.isnan(exact[:, 456:]).all() and np.isnan(exact[:21]).all()
    pm = WCSPixmap(bounded, wcs_to, mode="fast", tolerance=0.01, step=64)
    full, report = pm.block_with_report(slice(0, SYN_SHAPE[0]), slice(0, SYN_SHAPE[1]))
    assert np.isinf(report.cell_errors).any() and not report.fallback.all()
    assert_within(full, exact, pm.tolerance)
    # And block by block (blocks that cut through the NaN edge).
    for rows, cols in [(slice(0, 30), slice(400, 700)), (slice(13, 401), slice(450, 460))]:
        np.testing.assert_array_equal(pm(rows, cols), full[rows, cols])


class HoleyWCS:
    """An APE 14 WCS (duck-typed) whose sky is undefined inside a disc of input pixels.

    Stands in for a distortion model with a validity region (gwcs pipelines
    return NaN outside theirs).
    """

    def __init__(self, wcs, centre, radius):
        self.wcs = wcs
        self.centre = centre
        self.radius = radius
        self.array_shape = wcs.array_shape
        self.pixel_n_dim = self.world_n_dim = 2
        self.world_axis_physical_types = ["pos.eq.ra", "pos.eq.dec"]

    def pixel_to_world_values(self, x, y):
        ra, dec = self.wcs.pixel_to_world_values(x, y)
        hole = np.hypot(x - self.centre[0], y - self.centre[1]) < self.radius
        return np.where(hole, np.nan, ra), np.where(hole, np.nan, dec)

    def world_to_pixel_values(self, ra, dec):
        return self.wcs.world_to_pixel_values(ra, dec)


@pytest.mark.parametrize(
    ("centre", "radius"),
    [
        ((300.0, 260.0), 45.0),
        ((0.0, 599.0), 70.0),
        # Covers check points of one cell and pokes across its edge (y = 192) between two
        # edge check points, into a cell none of whose own points is NaN: caught because
        # cells next to a non-finite cell are evaluated exactly too.
        ((216.0, 181.0), 12.0),
    ],
)
def test_nan_hole_is_never_interpolated(synthetic, centre, radius):
    wcs_from, wcs_to, _ = synthetic
    holey = HoleyWCS(wcs_from, centre, radius)
    exact = WCSPixmap(holey, wcs_to).full()
    np.testing.assert_array_equal(exact, utils.calc_pixmap(holey, wcs_to))
    assert np.isnan(exact).any()
    pm = WCSPixmap(holey, wcs_to, mode="fast", step=64)
    full = pm.full()
    assert_within(full, exact, pm.tolerance)
    np.testing.assert_array_equal(pm(slice(200, 333), slice(250, 290)), full[200:333, 250:290])


def test_nan_hole_between_check_points_needs_a_finer_step(synthetic):
    """The documented limit: a hole touching no node or check point is invisible to the check."""
    wcs_from, wcs_to, _ = synthetic
    holey = HoleyWCS(wcs_from, (216.0, 186.0), 9.9)  # check points every 16 px at step 64
    exact = WCSPixmap(holey, wcs_to).full()
    assert np.isnan(exact).any()
    missed = WCSPixmap(holey, wcs_to, mode="fast", step=64).full()
    assert np.isfinite(missed).all()
    caught = WCSPixmap(holey, wcs_to, mode="fast", step=32).full()
    assert_within(caught, exact, 0.01)


# -- gwcs-style objects ----------------------------------------------------------------------------


class PipelineWCS:
    """A gwcs-like object: ``forward_transform``, ``invert`` and an optional bounding box.

    With a bounding box set (x then y intervals), pixels or sky positions
    outside it map to NaN, as gwcs does. No APE 14 calls: the oldest gwcs
    interface.
    """

    def __init__(self, wcs, bounding_box=None, shape=None):
        self.wcs = wcs
        self.bounding_box = bounding_box
        self.array_shape = shape

    def _outside(self, x, y):
        if self.bounding_box is None:
            return np.zeros(np.shape(x), dtype=bool)
        (x0, x1), (y0, y1) = self.bounding_box
        return (x < x0) | (x > x1) | (y < y0) | (y > y1)

    def forward_transform(self, x, y):
        ra, dec = self.wcs.all_pix2world(x, y, 0)
        out = self._outside(x, y)
        return np.where(out, np.nan, ra), np.where(out, np.nan, dec)

    def invert(self, ra, dec):
        x, y = self.wcs.all_world2pix(ra, dec, 0)
        out = self._outside(x, y)
        return np.where(out, np.nan, x), np.where(out, np.nan, y)


class APE14PipelineWCS(PipelineWCS):
    """The same object with the APE 14 calls (what gwcs has today, and calc_pixmap needs)."""

    pixel_n_dim = world_n_dim = 2
    world_axis_physical_types = ("pos.eq.ra", "pos.eq.dec")

    def pixel_to_world_values(self, x, y):
        return self.forward_transform(x, y)

    def world_to_pixel_values(self, ra, dec):
        return self.invert(ra, dec)


def test_pipeline_wcs_shape_from_bounding_box_and_bbox_disabling(synthetic):
    wcs_from, wcs_to, exact = synthetic
    ny, nx = SYN_SHAPE
    source_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    target_box = ((-0.5, 400.5), (-0.5, 300.5))
    # Default disable_bbox="to": the output's box is ignored (on a private copy).
    target = PipelineWCS(wcs_to, bounding_box=target_box)
    pm = WCSPixmap(PipelineWCS(wcs_from, bounding_box=source_box), target)
    assert pm.shape == SYN_SHAPE
    assert np.abs(pm.full() - exact).max() <= PARITY
    assert target.bounding_box == target_box
    # "none": the output's box applies, as in calc_pixmap.
    source = APE14PipelineWCS(wcs_from, bounding_box=source_box)
    target = APE14PipelineWCS(wcs_to, bounding_box=target_box)
    boxed = WCSPixmap(source, target, disable_bbox="none", mode="fast").full()
    reference = utils.calc_pixmap(source, target, disable_bbox="none")
    assert np.isnan(reference).any()
    assert_within(boxed, reference, 0.01)


# -- pickling, threads, small images ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_pickle_round_trip(synthetic, mode):
    base, wcs_to, _ = synthetic
    wcs_from = lookup_table_wcs(base, 0.02, 128, seed=3)
    pm = WCSPixmap(wcs_from, wcs_to, mode=mode, tolerance=0.005, step=32)
    before = pm(slice(10, 200), slice(300, 520))  # leaves per-thread WCS copies behind
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        payload = pickle.dumps(pm)
        clone = pickle.loads(payload)
    assert len(payload) < 100_000
    assert (clone.shape, clone.mode, clone.tolerance, clone.step) == (
        pm.shape,
        pm.mode,
        pm.tolerance,
        pm.step,
    )
    np.testing.assert_array_equal(clone(slice(10, 200), slice(300, 520)), before)
    assert repr(clone) == repr(pm)


def test_pixmap_keeps_its_own_wcs_copies(synthetic):
    wcs_from, wcs_to, exact = synthetic
    mine = wcs_from.deepcopy()
    pm = WCSPixmap(mine, wcs_to)
    mine.wcs.crpix = [0.0, 0.0]  # the caller changes its object afterwards
    np.testing.assert_array_equal(pm(slice(0, 50), slice(0, 60)), exact[:50, :60])


def test_threads_share_one_pixmap(synthetic):
    wcs_from, wcs_to, _ = synthetic
    pm = WCSPixmap(wcs_from, wcs_to, mode="fast", tolerance=1e-5, step=32)
    blocks = [(slice(j, j + 150), slice(i, i + 175)) for j in (0, 150, 300, 450) for i in (0, 525)]
    serial = [pm(r, c) for r, c in blocks]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            threaded = list(pool.map(lambda rc: pm(*rc), blocks))
            for a, b in zip(serial, threaded, strict=True):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(1, 1), (3, 50), (5, 7), (65, 66), (130, 2)])
def test_small_and_odd_shapes(synthetic, shape):
    wcs_from, wcs_to, exact = synthetic
    ny, nx = shape
    pm = WCSPixmap(wcs_from, wcs_to, shape=shape, mode="fast", tolerance=1e-6, step=64)
    assert pm.shape == shape
    assert_within(pm.full(), exact[:ny, :nx], 1e-6)


def test_empty_block(synthetic):
    wcs_from, wcs_to, _ = synthetic
    pm = WCSPixmap(wcs_from, wcs_to, mode="fast")
    assert pm(slice(5, 5), slice(0, 10)).shape == (0, 10, 2)


def test_grid_nodes():
    np.testing.assert_array_equal(grid_nodes(2048, 64)[-3:], [1920.0, 1984.0, 2047.0])
    np.testing.assert_array_equal(grid_nodes(130, 64), [0.0, 64.0, 129.0])
    np.testing.assert_array_equal(grid_nodes(150, 64), [0.0, 64.0, 149.0])  # 128 merged away
    np.testing.assert_array_equal(grid_nodes(2, 64), [0.0, 1.0])


def test_kernel_reproduces_cubics_on_uneven_nodes():
    """Cubic Lagrange interpolation is exact for bicubic maps, even with uneven node spacing."""
    rows = np.array([0.0, 40.0, 64.0, 130.0, 200.0, 203.0])
    cols = np.array([0.0, 17.0, 64.0, 99.0])

    def cubic(y, x):
        return (
            1e-6 * x**3 - 2e-6 * y**3 + 3e-7 * x**2 * y + 0.5 * x + 0.1 * y,
            -4e-6 * x * y**2 + 1e-3 * x**2 + y + 7,
        )

    yy, xx = np.meshgrid(rows, cols, indexing="ij")
    node_xy = np.dstack(cubic(yy, xx))
    qy = np.linspace(0.0, 203.0, 57)
    qx = np.linspace(0.0, 99.0, 31)
    taps = []
    for coords, nodes in ((qy, rows), (qx, cols)):
        cells = np.empty(coords.size, dtype=np.int64)
        starts = np.empty(coords.size, dtype=np.int64)
        weights = np.empty((coords.size, 4))
        width = lagrange_taps(coords, nodes, 0, nodes.size - 2, cells, starts, weights)
        taps.append((cells, starts, weights, width))
    (rc, rs, rw, rwidth), (cc, cs, cw, cwidth) = taps
    out = np.empty((qy.size, qx.size, 2))
    skip = np.zeros((rows.size - 1, cols.size - 1), dtype=np.bool_)
    interpolate_tensor(node_xy, rs, rw, rwidth, cs, cw, cwidth, rc, cc, skip, out)
    yy, xx = np.meshgrid(qy, qx, indexing="ij")
    np.testing.assert_allclose(out, np.dstack(cubic(yy, xx)), rtol=0, atol=1e-9)


# -- bad arguments ---------------------------------------------------------------------------------


def linear_wcs():
    w = WCS(naxis=2)
    w.pixel_shape = (10, 10)
    return w


def test_bad_wcs(synthetic):
    wcs_from, wcs_to, _ = synthetic
    with pytest.raises(ValueError, match="'wcs_from' is missing"):
        WCSPixmap(None, wcs_to)
    with pytest.raises(ValueError, match="'wcs_to' must be a WCS"):
        WCSPixmap(wcs_from, object())
    with pytest.raises(ValueError, match="'wcs_to' is not celestial"):
        WCSPixmap(wcs_from, linear_wcs())
    cube = WCS(naxis=3)
    cube.wcs.ctype = ["RA---TAN", "DEC--TAN", "FREQ"]
    with pytest.raises(ValueError, match="'wcs_from' must have 2 pixel and 2 world axes"):
        WCSPixmap(cube, wcs_to)
    no_shape = wcs_from.deepcopy()
    no_shape.pixel_shape = None
    with pytest.raises(ValueError, match="input shape is unknown"):
        WCSPixmap(no_shape, wcs_to)
    assert WCSPixmap(no_shape, wcs_to, shape=(4, 5)).shape == (4, 5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "approx"}, "'mode'"),
        ({"tolerance": 0}, "'tolerance'"),
        ({"tolerance": -1.0}, "'tolerance'"),
        ({"tolerance": float("nan")}, "'tolerance'"),
        ({"tolerance": "small"}, "'tolerance'"),
        ({"tolerance": None}, "'tolerance'"),
        ({"step": 1}, "'step'"),
        ({"step": 8.0}, "'step'"),
        ({"step": True}, "'step'"),
        ({"disable_bbox": "all"}, "'disable_bbox'"),
        ({"shape": (10,)}, "'shape'"),
        ({"shape": (0, 10)}, "'shape'"),
        ({"shape": (10.0, 10)}, "'shape'"),
    ],
)
def test_bad_options(synthetic, kwargs, match):
    wcs_from, wcs_to, _ = synthetic
    with pytest.raises(ValueError, match=match):
        WCSPixmap(wcs_from, wcs_to, **kwargs)


@pytest.mark.parametrize(
    ("rows", "cols", "match"),
    [
        ((0, 10), slice(0, 10), "'rows' must be a slice"),
        (slice(0, 10), slice(None, 10), "'cols' must have explicit integer start and stop"),
        (slice(0, None), slice(0, 10), "'rows' must have explicit integer start and stop"),
        (slice(0, 10, 2), slice(0, 10), "'rows' must have step 1"),
        (slice(0, 601), slice(0, 10), "'rows' must satisfy"),
        (slice(0, 10), slice(-1, 10), "'cols' must satisfy"),
        (slice(0, 10), slice(20, 10), "'cols' must satisfy"),
        (slice(0.0, 10), slice(0, 10), "'rows' must have explicit integer"),
    ],
)
@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_bad_slices(synthetic, rows, cols, match, mode):
    wcs_from, wcs_to, _ = synthetic
    pm = WCSPixmap(wcs_from, wcs_to, mode=mode)
    with pytest.raises(ValueError, match=match):
        pm(rows, cols)


# -- real instrument headers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def nircam_exact():
    """Exact NIRCam pixmaps per output pixel-scale ratio (computed once)."""
    wcs_from = read_header_wcs(NIRCAM_INPUT)
    cache = {}

    def get(ratio):
        if ratio not in cache:
            wcs_to = read_header_wcs(NIRCAM_OUTPUTS[ratio])
            cache[ratio] = (wcs_from, wcs_to, WCSPixmap(wcs_from, wcs_to).full())
        return cache[ratio]

    return get


@requires_wcs_data
@pytest.mark.parametrize("ratio", sorted(NIRCAM_OUTPUTS))
def test_nircam_exact_matches_calc_pixmap(nircam_exact, ratio):
    wcs_from, wcs_to, exact = nircam_exact(ratio)
    assert exact.shape == (2048, 2048, 2)
    assert np.abs(exact - utils.calc_pixmap(wcs_from, wcs_to)).max() <= PARITY
    assert np.abs(exact - ref_utils.calc_pixmap(wcs_from, wcs_to)).max() <= PARITY


@requires_wcs_data
@pytest.mark.parametrize("ratio", sorted(NIRCAM_OUTPUTS))
@pytest.mark.parametrize("tolerance", [0.1, 0.01, 1e-3, 1e-5])
def test_nircam_fast_within_tolerance_everywhere(nircam_exact, ratio, tolerance):
    wcs_from, wcs_to, exact = nircam_exact(ratio)
    pm = WCSPixmap(wcs_from, wcs_to, mode="fast", tolerance=tolerance)
    assert_within(pm.full(), exact, tolerance)


@requires_wcs_data
def test_nircam_tight_tolerance_falls_back_and_holds(nircam_exact):
    wcs_from, wcs_to, exact = nircam_exact(1.0)
    pm = WCSPixmap(wcs_from, wcs_to, mode="fast", tolerance=2e-6, step=64)
    block, report = pm.block_with_report(slice(0, 2048), slice(0, 2048))
    assert 0 < report.fallback.sum() < report.fallback.size
    assert_within(block, exact, pm.tolerance)


@requires_wcs_data
def test_nircam_blocks_assemble(nircam_exact):
    wcs_from, wcs_to, _ = nircam_exact(1.0)
    pm = WCSPixmap(wcs_from, wcs_to, mode="fast", tolerance=1e-3)
    full = pm.full()
    assembled = np.empty_like(full)
    for j in range(0, 2048, 512):
        for i in range(0, 2048, 700):
            rows, cols = slice(j, j + 512), slice(i, min(i + 700, 2048))
            assembled[rows, cols] = pm(rows, cols)
    np.testing.assert_array_equal(assembled, full)


def read_hst_wcs():
    """The ACS/HRC SIP WCS of the HST header (its data were stripped: NAXIS = 0)."""
    with fits.open(HST_FLT) as hdul, warnings.catch_warnings():
        # "more axes (2) than the image (0)": expected, the header has no image.
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(hdul["SCI"].header, hdul)
        shape = (hdul["SCI"].header["WCSNAX2"], hdul["SCI"].header["WCSNAX1"])
    wcs.pixel_shape = shape[::-1]
    return wcs


@requires_wcs_data
def test_hst_sip_header():
    wcs_from = read_hst_wcs()
    assert wcs_from.sip is not None and wcs_from.array_shape == (1024, 1024)
    # Output: the same tangent plane without distortion, padded by 40 pixels.
    wcs_to = copy.deepcopy(wcs_from)
    wcs_to.sip = None
    wcs_to.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs_to.wcs.crpix = wcs_to.wcs.crpix + 40
    wcs_to.pixel_shape = (1104, 1104)
    exact = WCSPixmap(wcs_from, wcs_to).full()
    assert np.abs(exact - utils.calc_pixmap(wcs_from, wcs_to)).max() <= PARITY
    assert np.abs(exact - ref_utils.calc_pixmap(wcs_from, wcs_to)).max() <= PARITY
    for tolerance in (0.01, 1e-4):
        pm = WCSPixmap(wcs_from, wcs_to, mode="fast", tolerance=tolerance)
        assert_within(pm.full(), exact, tolerance)
        assert_within(pm(slice(100, 612), slice(512, 1024)), exact[100:612, 512:1024], tolerance)


# -- gwcs (when installed) ------------------------------------------------------------------------


def gwcs_pair(distorted=True):
    """A gwcs detector -> ICRS pipeline (shift, polynomial distortion, CD, TAN, rotation)."""
    gwcs = pytest.importorskip("gwcs", reason="gwcs is not installed (optional)")
    from astropy import coordinates as coord
    from astropy import units as u
    from astropy.modeling import models
    from gwcs import coordinate_frames as cf

    def pipeline(crpix, scale_arcsec, rotation, shape, distortion):
        c, s = np.cos(rotation), np.sin(rotation)
        cd = scale_arcsec / 3600.0 * np.array([[-c, s], [s, c]])
        shift = models.Shift(-crpix[0]) & models.Shift(-crpix[1])
        linear = models.AffineTransformation2D(matrix=cd)
        sky = models.Pix2Sky_TAN() | models.RotateNative2Celestial(150.0, 2.0, 180.0)
        if distortion:
            poly_x = models.Polynomial2D(3, c1_0=1.0, c2_0=6e-6, c1_1=-3e-6, c3_0=8e-9, c0_2=2e-6)
            poly_y = models.Polynomial2D(3, c0_1=1.0, c0_2=5e-6, c1_1=4e-6, c2_1=6e-9)
            undistort = models.Mapping((0, 1, 0, 1)) | (poly_x & poly_y)
            forward = shift | undistort | linear | sky
        else:
            forward = shift | linear | sky
        detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
        icrs = cf.CelestialFrame(reference_frame=coord.ICRS(), name="icrs", unit=(u.deg, u.deg))
        w = gwcs.wcs.WCS(forward_transform=forward, input_frame=detector, output_frame=icrs)
        ny, nx = shape
        w.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
        w.array_shape = shape
        return w

    wcs_from = pipeline((350.0, 300.0), 0.05, 0.3, SYN_SHAPE, distortion=distorted)
    wcs_to = pipeline((380.0, 340.0), 0.045, 0.0, (680, 760), distortion=False)
    return wcs_from, wcs_to


def test_gwcs_pair():
    wcs_from, wcs_to = gwcs_pair()
    exact = WCSPixmap(wcs_from, wcs_to).full()
    assert np.isfinite(exact).all()
    assert np.abs(exact - utils.calc_pixmap(wcs_from, wcs_to)).max() <= PARITY
    assert np.abs(exact - ref_utils.calc_pixmap(wcs_from, wcs_to)).max() <= PARITY
    assert wcs_to.bounding_box is not None  # disabled on a private copy only
    for tolerance in (0.01, 1e-5):
        pm = WCSPixmap(wcs_from, wcs_to, mode="fast", tolerance=tolerance)
        assert_within(pm.full(), exact, tolerance)
        clone = pickle.loads(pickle.dumps(pm))
        np.testing.assert_array_equal(clone(slice(0, 100), slice(50, 650)), pm.full()[:100, 50:650])
    # With the output's bounding box on, pixels landing outside it are NaN, as in calc_pixmap.
    boxed = WCSPixmap(wcs_from, wcs_to, disable_bbox="none", mode="fast").full()
    reference = utils.calc_pixmap(wcs_from, wcs_to, disable_bbox="none")
    assert np.isnan(reference).any()
    assert_within(boxed, reference, 0.01)
