"""Parity of ``tiledrizzle.blot.blot_image`` with ``drizzle.resample.blot_image`` (drizzle 3.0).

The reference package is the oracle for every interpolator it has.  Tolerance
everywhere: ``rtol=1e-5, atol=1e-6`` (the kernels follow the reference's float
arithmetic step by step, so on x86-64 the results are in fact bit-identical,
which :func:`test_bit_identical_to_reference` checks).

Two documented exceptions, where the reference reads memory it does not own
and so has no well-defined answer; those output pixels are excluded from the
parity comparisons by :func:`reference_defined` and tested on their own:

* ``nearest`` for positions with ``x >= nx - 0.5`` or ``y >= ny - 0.5``: the
  reference indexes column/row ``nx``/``ny`` (past the row / the array); we
  sample the last column/row, the pixel actually nearest.
* ``poly3`` for positions on the last input row (``ny - 1 <= y < ny``): the
  reference reflects about the edge with an uninitialised stack row; we use
  the intended mirror row (a plane is reproduced exactly there).

``sinc`` is not available in drizzle 3.0 (it raises "Unknown interp type
'sinc'"); it is tested against a NumPy brute-force implementation of the
legacy drizzle / IRAF tapered sinc written in this file.
"""

import platform
import warnings

import numpy as np
import pytest
from helpers.wcs_data import nircam_pixmap, requires_wcs_data
from hypothesis import given, settings
from hypothesis import strategies as st

from tiledrizzle.engine.blot import blot_block, blot_image, blot_input_box

drizzle_resample = pytest.importorskip("drizzle.resample")

REFERENCE_INTERPS = ["nearest", "linear", "poly3", "poly5", "lanczos3", "lanczos5"]
ALL_INTERPS = REFERENCE_INTERPS + ["sinc"]
RTOL = 1e-5
ATOL = 1e-6


# --------------------------------------------------------------------------- helpers


def reference_blot(data, pixmap, **kwargs):
    """The reference ``blot_image``, with ``data`` followed by spare rows in memory.

    The reference ``nearest`` reads up to one row and one pixel past the array
    for positions in the last half pixel; a C-contiguous view of a padded
    buffer keeps those reads inside our own memory.
    """
    data = np.asarray(data, dtype=np.float32)
    padded = np.zeros((data.shape[0] + 2, data.shape[1]), dtype=np.float32)
    padded[:-2] = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return drizzle_resample.blot_image(padded[:-2], pixmap, **kwargs)


def reference_defined(pixmap, input_shape, interp):
    """Mask of output pixels where the reference is well defined (see module doc)."""
    ny, nx = input_shape
    xy = np.asarray(pixmap, dtype=np.float64).astype(np.float32).astype(np.float64)
    x, y = xy[..., 0], xy[..., 1]
    with np.errstate(invalid="ignore"):
        inside = (x >= 0) & (x < nx) & (y >= 0) & (y < ny)
        if interp == "nearest":
            return ~(inside & ((x + 0.5 >= nx) | (y + 0.5 >= ny)))
        if interp == "poly3":
            return ~(inside & (np.floor(y) == ny - 1))
    return np.ones(x.shape, dtype=bool)


def assert_matches_reference(data, pixmap, interp, **kwargs):
    ours = blot_image(data, pixmap, interp=interp, **kwargs)
    ref = reference_blot(data, pixmap, interp=interp, **kwargs)
    assert ours.dtype == np.float32
    assert ours.shape == ref.shape
    ok = reference_defined(pixmap, np.shape(data), interp)
    np.testing.assert_allclose(ours[ok], ref[ok], rtol=RTOL, atol=ATOL)
    return ours, ref


def smooth_image(shape, seed=0):
    """Sum of 2-D Gaussians and sinusoids (well sampled, as blot expects)."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    img = 2.0 + 0.5 * np.sin(x / 5.3 + 0.4) * np.cos(y / 7.1 - 0.2)
    for cx, cy, amp, sig in zip(
        rng.uniform(0, nx, 8),
        rng.uniform(0, ny, 8),
        rng.uniform(1, 10, 8),
        rng.uniform(1.5, 4, 8),
        strict=True,
    ):
        img += amp * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sig**2))
    return img.astype(np.float32)


def affine_pixmap(out_shape, in_shape, angle_deg=0.0, scale=1.0, shift=(0.0, 0.0)):
    """Positions in the input of output pixels: rotation/scale about the centres + shift."""
    ny, nx = out_shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    t = np.deg2rad(angle_deg)
    dx, dy = x - (nx - 1) / 2, y - (ny - 1) / 2
    xin = scale * (np.cos(t) * dx - np.sin(t) * dy) + (in_shape[1] - 1) / 2 + shift[0]
    yin = scale * (np.sin(t) * dx + np.cos(t) * dy) + (in_shape[0] - 1) / 2 + shift[1]
    return np.dstack([xin, yin])


def drizzled_star_field(shape=(64, 72), seed=3):
    """A star field drizzled (reference ``Drizzle``, square kernel) onto a rotated grid."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    stars = np.full(shape, 0.1)
    for cx, cy, f in zip(
        rng.uniform(2, nx - 2, 25), rng.uniform(2, ny - 2, 25), rng.lognormal(2, 1, 25), strict=True
    ):
        stars += f * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 1.2**2))
    pixmap = affine_pixmap(shape, shape, angle_deg=17.0, scale=0.9, shift=(0.3, -0.4))
    driz = drizzle_resample.Drizzle(kernel="square", out_shape=shape, fillval=0.0)
    driz.add_image(stars.astype(np.float32), exptime=1.0, pixmap=pixmap)
    return driz.out_img.copy()


# --------------------------------------------------------------------------- parity

IN_SHAPE = (48, 56)
PIXMAP_CASES = {
    "identity": dict(),
    "subpixel-shift": dict(shift=(0.37, -0.61)),
    "rotation": dict(angle_deg=33.0),
    "scale-up": dict(scale=0.73, shift=(0.2, 0.1)),
    "scale-down-rotated": dict(angle_deg=-71.0, scale=1.31),
}


@pytest.mark.parametrize("case", sorted(PIXMAP_CASES))
@pytest.mark.parametrize("interp", REFERENCE_INTERPS)
def test_smooth_image_matches_reference(interp, case):
    data = smooth_image(IN_SHAPE, seed=1)
    pixmap = affine_pixmap((44, 50), IN_SHAPE, **PIXMAP_CASES[case])
    assert_matches_reference(data, pixmap, interp, fillval=-3.0, iscale=1.7)


@pytest.mark.parametrize("interp", REFERENCE_INTERPS)
def test_drizzled_star_field_matches_reference(interp):
    field = drizzled_star_field()
    pixmap = affine_pixmap((60, 66), field.shape, angle_deg=-17.0, scale=1.1, shift=(-0.3, 0.4))
    assert_matches_reference(field, pixmap, interp, iscale=0.81)


@pytest.mark.parametrize("interp", REFERENCE_INTERPS)
def test_borders_match_reference(interp):
    """Positions on a fine grid over and beyond all four borders, incl. exact edges."""
    ny, nx = 13, 17
    data = smooth_image((ny, nx), seed=5)
    xs = np.concatenate([np.linspace(-1.5, nx + 0.5, 83), [0.0, nx - 1.0, nx - 1e-4, nx]])
    ys = np.concatenate([np.linspace(-1.5, ny + 0.5, 71), [0.0, ny - 1.0, ny - 1e-4, ny]])
    pixmap = np.dstack(np.meshgrid(xs, ys))
    ours, ref = assert_matches_reference(data, pixmap, interp, fillval=123.0)
    outside = (
        (pixmap[..., 0] < 0)
        | (pixmap[..., 0] >= nx)
        | (pixmap[..., 1] < 0)
        | (pixmap[..., 1] >= ny)
    )
    assert outside.any() and (~outside).any()
    assert np.all(ours[outside] == 123.0) and np.all(ref[outside] == 123.0)


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"),
    reason="bit identity assumes both sides compiled without FMA contraction",
)
@pytest.mark.parametrize("interp", REFERENCE_INTERPS)
def test_bit_identical_to_reference(interp):
    data = smooth_image(IN_SHAPE, seed=2)
    rng = np.random.default_rng(7)
    pixmap = np.dstack(
        [rng.uniform(-2, IN_SHAPE[1] + 2, (40, 45)), rng.uniform(-2, IN_SHAPE[0] + 2, (40, 45))]
    )
    ours, ref = assert_matches_reference(data, pixmap, interp, iscale=1.3)
    ok = reference_defined(pixmap, IN_SHAPE, interp)
    assert np.array_equal(ours[ok], ref[ok])


@settings(max_examples=15, deadline=None)
@given(
    interp=st.sampled_from(REFERENCE_INTERPS),
    in_shape=st.tuples(st.integers(12, 40), st.integers(12, 40)),
    out_shape=st.tuples(st.integers(5, 30), st.integers(5, 30)),
    angle=st.floats(-180, 180),
    scale=st.floats(0.5, 2.0),
    shift=st.tuples(st.floats(-6, 6), st.floats(-6, 6)),
    warp=st.tuples(st.floats(-0.01, 0.01), st.floats(-0.01, 0.01), st.floats(-0.01, 0.01)),
    seed=st.integers(0, 2**16),
)
def test_random_smooth_distortions_match_reference(
    interp, in_shape, out_shape, angle, scale, shift, warp, seed
):
    data = smooth_image(in_shape, seed=seed)
    pixmap = affine_pixmap(out_shape, in_shape, angle, scale, shift)
    u = pixmap[..., 0] - in_shape[1] / 2
    v = pixmap[..., 1] - in_shape[0] / 2
    pixmap[..., 0] += warp[0] * u * v + warp[1] * v * v
    pixmap[..., 1] += warp[2] * u * u - warp[0] * v * v
    assert_matches_reference(data, pixmap, interp, fillval=np.nan, iscale=scale)


@requires_wcs_data
@pytest.mark.parametrize("interp", REFERENCE_INTERPS)
def test_nircam_sip_matches_reference(interp):
    """Blot an output-frame image back onto the (subsampled) distorted NIRCam detector."""
    pixmap, out_frame_shape = nircam_pixmap(1.0, 4)
    sky = smooth_image(out_frame_shape, seed=11)
    assert_matches_reference(sky, pixmap, interp)


# --------------------------------------------------------------------------- quirks


def test_nearest_last_half_pixel_samples_last_pixel():
    ny, nx = 6, 7
    data = np.arange(ny * nx, dtype=np.float32).reshape(ny, nx)
    pixmap = np.array([[[nx - 0.3, 2.0], [3.0, ny - 0.4], [nx - 0.01, ny - 0.01]]])
    ours = blot_image(data, pixmap, interp="nearest")
    np.testing.assert_array_equal(ours[0], [data[2, nx - 1], data[ny - 1, 3], data[-1, -1]])
    # the reference reads one past the row: the first pixel of the next row
    ref = reference_blot(data, pixmap[:, :1], interp="nearest")
    assert ref[0, 0] == data[3, 0]


def test_poly3_last_row_reproduces_a_plane():
    """poly3 is exact for linear data; on the last row the reference reads garbage instead."""
    ny, nx = 9, 11
    y, x = np.mgrid[0:ny, 0:nx]
    data = (3.0 + 0.5 * x - 0.25 * y).astype(np.float32)
    xs = np.linspace(0, nx - 0.01, 23)
    ys = np.linspace(ny - 1.0, ny - 0.01, 5)
    pixmap = np.dstack(np.meshgrid(xs, ys))
    ours = blot_image(data, pixmap, interp="poly3")
    expect = 3.0 + 0.5 * pixmap[..., 0] - 0.25 * pixmap[..., 1]
    np.testing.assert_allclose(ours, expect, rtol=1e-5, atol=1e-5)


def test_poly5_top_rows_follow_reference_quirk():
    """poly5 near the last rows copies input row ny - 4 into its window (reproduced)."""
    ny, nx = 10, 12
    data = smooth_image((ny, nx), seed=8)
    data[ny - 4] += 5.0  # makes the quirk visible
    pixmap = np.dstack(np.meshgrid(np.linspace(2, 9, 15), np.linspace(ny - 3, ny - 0.1, 9)))
    ours, ref = assert_matches_reference(data, pixmap, "poly5")
    mirrored = data.copy()
    mirrored[ny - 4] -= 5.0
    assert not np.allclose(ours, blot_image(mirrored, pixmap, interp="poly5"))


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (3, 2), (4, 5)])
@pytest.mark.parametrize("interp", ALL_INTERPS)
def test_images_smaller_than_the_window_are_safe(interp, shape):
    """The reference reads out of bounds here; we stay in bounds and deterministic."""
    ny, nx = shape
    data = np.full(shape, 2.5, dtype=np.float32)
    pixmap = np.dstack(np.meshgrid(np.linspace(0, nx - 0.01, 9), np.linspace(0, ny - 0.01, 7)))
    out = blot_image(data, pixmap, interp=interp)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out, blot_image(data, pixmap, interp=interp))
    if interp in ("nearest", "linear", "sinc"):
        np.testing.assert_allclose(out, 2.5, rtol=1e-6)


# --------------------------------------------------------------------------- fill, NaN, scale


@pytest.mark.parametrize("interp", ALL_INTERPS)
def test_nan_pixmap_gives_fillval(interp):
    data = smooth_image((20, 24), seed=4)
    pixmap = affine_pixmap((15, 18), data.shape, angle_deg=12.0)
    pixmap[3, 4, 0] = np.nan
    pixmap[5, :, 1] = np.nan
    pixmap[7, 2] = np.nan
    nan = np.isnan(pixmap).any(axis=-1)
    ours = blot_image(data, pixmap, interp=interp, fillval=-9.5)
    assert np.all(ours[nan] == -9.5)
    far = np.where(np.isnan(pixmap), -1e6, pixmap)
    np.testing.assert_array_equal(ours, blot_image(data, far, interp=interp, fillval=-9.5))
    if interp != "sinc":
        ok = reference_defined(far, data.shape, interp)
        ref = reference_blot(data, far, interp=interp, fillval=-9.5)
        np.testing.assert_allclose(ours[ok], ref[ok], rtol=RTOL, atol=ATOL)
        with pytest.raises(Exception, match="NaN in pixmap"):
            drizzle_resample.blot_image(data, pixmap, interp=interp)


@pytest.mark.parametrize("fillval", [0.0, -1.5, np.nan, None, 7])
def test_fillval_matches_reference(fillval):
    data = smooth_image((20, 24), seed=4)
    pixmap = affine_pixmap((15, 18), data.shape, scale=1.8)
    ours, ref = assert_matches_reference(data, pixmap, "linear", fillval=fillval)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))


def test_iscale_scales_values_not_fill():
    data = smooth_image((20, 24), seed=4)
    pixmap = affine_pixmap((15, 18), data.shape, scale=1.8)
    one = blot_image(data, pixmap, interp="poly5", fillval=2.0)
    three = blot_image(data, pixmap, interp="poly5", fillval=2.0, iscale=3.0)
    inside = (
        (pixmap[..., 0] >= 0)
        & (pixmap[..., 0] < 24)
        & (pixmap[..., 1] >= 0)
        & (pixmap[..., 1] < 20)
    )
    np.testing.assert_allclose(three[inside], 3.0 * one[inside], rtol=1e-6)
    assert np.all(three[~inside] == 2.0)


def test_integer_input_and_float32_pixmap_match_reference():
    data = (smooth_image((20, 24), seed=6) * 100).astype(np.int32)
    pixmap = affine_pixmap((15, 18), data.shape, angle_deg=5.0).astype(np.float32)
    assert_matches_reference(data, pixmap, "lanczos3")


# --------------------------------------------------------------------------- API


@pytest.fixture
def small_case():
    data = smooth_image((12, 14), seed=9)
    pixmap = affine_pixmap((10, 11), data.shape, angle_deg=20.0, shift=(0.2, 0.3))
    return data, pixmap


def test_deprecated_pix_ratio_exptime_output_shape(small_case):
    data, pixmap = small_case
    with pytest.deprecated_call(match="'pix_ratio' has been deprecated"):
        a = blot_image(data, pixmap, pix_ratio=2.0)
    np.testing.assert_allclose(a, blot_image(data, pixmap, iscale=0.25), rtol=1e-7)
    np.testing.assert_allclose(a, reference_blot(data, pixmap, pix_ratio=2.0), rtol=RTOL)
    with pytest.deprecated_call(match="'exptime' has been deprecated"):
        b = blot_image(data, pixmap, exptime=3.0, iscale=2.0)
    np.testing.assert_allclose(b, blot_image(data, pixmap, iscale=6.0), rtol=1e-7)
    with pytest.deprecated_call(match="'output_pixel_shape' has been deprecated"):
        c = blot_image(data, pixmap, output_pixel_shape=(11, 10))
    np.testing.assert_array_equal(c, blot_image(data, pixmap))


@pytest.mark.parametrize(("alias", "name"), [("lan3", "lanczos3"), ("lan5", "lanczos5")])
def test_deprecated_lanczos_aliases(small_case, alias, name):
    data, pixmap = small_case
    with pytest.deprecated_call(match=f"Use '{name}' instead"):
        a = blot_image(data, pixmap, interp=alias)
    np.testing.assert_array_equal(a, blot_image(data, pixmap, interp=name))


def test_out_img_is_written_in_place(small_case):
    data, pixmap = small_case
    out = np.full(pixmap.shape[:2], -1.0, dtype=np.float32)
    result = blot_image(data, pixmap, out_img=out, interp="poly3")
    assert result is out
    np.testing.assert_array_equal(out, blot_image(data, pixmap, interp="poly3"))
    # float64 out_img: a float32 copy is written and returned (as the reference)
    out64 = np.zeros(pixmap.shape[:2])
    result = blot_image(data, pixmap, out_img=out64)
    assert result.dtype == np.float32 and not np.shares_memory(result, out64)


def test_non_contiguous_out_img_is_written(small_case):
    """The reference leaves a non-contiguous float32 ``out_img`` untouched; we write it."""
    data, pixmap = small_case
    buf = np.zeros((pixmap.shape[0], 2 * pixmap.shape[1]), dtype=np.float32)
    view = buf[:, ::2]
    blot_image(data, pixmap, out_img=view, interp="linear")
    np.testing.assert_array_equal(view, blot_image(data, pixmap, interp="linear"))


def _bad_inputs(data, pixmap):
    ok = dict(data=data, pixmap=pixmap)
    return {
        "unknown interp": ({**ok, "interp": "bicubic"}, "interp"),
        "interp wrong case": ({**ok, "interp": "Poly5"}, "interp"),
        "interp not str": ({**ok, "interp": None}, "interp"),
        "out_img shape": ({**ok, "out_img": np.zeros((3, 3), np.float32)}, "output_image"),
        # (arrays of the wrong rank are passed with a dtype the reference must
        # convert: it skips its rank check, and may crash, for arrays it takes as is)
        "pixmap 2D": ({**ok, "pixmap": pixmap[..., 0].astype(np.float32)}, "pixmap"),
        "pixmap 4D": ({**ok, "pixmap": pixmap[None].astype(np.float32)}, "pixmap"),
        "pixmap complex": ({**ok, "pixmap": pixmap.astype(complex)}, "pixmap"),
        "pixmap empty": ({**ok, "pixmap": np.zeros((0, 4, 2))}, "pixmap"),
        "data 1D": ({**ok, "data": data[0].astype(np.float64)}, "data"),
        "data 3D": ({**ok, "data": data[None].astype(np.float64)}, "data"),
        "data complex": ({**ok, "data": data.astype(complex)}, "data"),
        "iscale zero": ({**ok, "iscale": 0.0}, "iscale"),
        "iscale negative": ({**ok, "iscale": -2.0}, "iscale"),
        "iscale nan": ({**ok, "iscale": np.nan}, "iscale"),
        "iscale inf": ({**ok, "iscale": np.inf}, "iscale"),
        "iscale underflows float32": ({**ok, "iscale": 1e-60}, "iscale"),
        "iscale overflows float32": ({**ok, "iscale": 1e60}, "iscale"),
        "iscale str": ({**ok, "iscale": "2"}, "iscale"),
        "fillval str": ({**ok, "fillval": "INDEF"}, "fillval"),
        "exptime zero": ({**ok, "exptime": 0.0}, "iscale"),
        "output_pixel_shape": ({**ok, "output_pixel_shape": (10, 11)}, "dimensions"),
        "pix_ratio zero": ({**ok, "pix_ratio": 0.0}, "division"),
    }


@pytest.mark.parametrize("case", sorted(_bad_inputs(np.zeros((2, 2)), np.zeros((2, 2, 2)))))
def test_errors_are_compatible_with_reference(small_case, case):
    """Each bad input raises in both; ours is the reference's type or a subclass of it.

    (The reference's C layer raises plain ``Exception``; we raise ``ValueError``
    or ``TypeError``, so ``except Exception`` code written for it still works.)
    """
    data, pixmap = small_case
    kwargs, named = _bad_inputs(data, pixmap)[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(Exception) as ref_err:
            drizzle_resample.blot_image(**kwargs)
        with pytest.raises(Exception) as our_err:
            blot_image(**kwargs)
    assert isinstance(our_err.value, type(ref_err.value)), (our_err.value, ref_err.value)
    assert type(our_err.value) is not Exception  # a specific type
    assert named in str(our_err.value)


def test_pixmap_with_wrong_last_axis_is_rejected(small_case):
    """The reference reads out of bounds for a (Ny, Nx, 1) pixmap; we refuse it."""
    data, pixmap = small_case
    for bad in (pixmap[..., :1], np.dstack([pixmap, pixmap[..., :1]])):
        with pytest.raises(ValueError, match="pixmap"):
            blot_image(data, bad)


def test_sinscl_must_be_positive(small_case):
    data, pixmap = small_case
    with pytest.raises(ValueError, match="sinscl"):
        blot_image(data, pixmap, interp="sinc", sinscl=0.0)


# --------------------------------------------------------------------------- tiles


@pytest.mark.parametrize("interp", ALL_INTERPS)
def test_tiles_with_halo_are_bit_identical(interp):
    data = smooth_image((41, 47), seed=12)
    pixmap = affine_pixmap((37, 43), data.shape, angle_deg=28.0, scale=1.15, shift=(0.4, -0.2))
    whole = blot_image(data, pixmap, interp=interp, fillval=-1.0, iscale=1.1)
    tiled = np.full_like(whole, np.inf)
    edges_y, edges_x = [0, 9, 20, 37], [0, 13, 14, 30, 43]
    for y0, y1 in zip(edges_y[:-1], edges_y[1:], strict=True):
        for x0, x1 in zip(edges_x[:-1], edges_x[1:], strict=True):
            tile_pixmap = pixmap[y0:y1, x0:x1]
            box = blot_input_box(tile_pixmap, data.shape, interp)
            if box is None:
                box = (0, 1, 0, 1)
            by0, by1, bx0, bx1 = box
            block = data[by0:by1, bx0:bx1].copy()
            # tile-local pixmap/out, and the full frame with a region: both paths
            out_tile = np.empty((y1 - y0, x1 - x0), np.float32)
            blot_block(
                block,
                (by0, bx0),
                data.shape,
                tile_pixmap,
                out_tile,
                interp=interp,
                fillval=-1.0,
                iscale=1.1,
            )
            blot_block(
                data[by0:by1, bx0:bx1],
                (by0, bx0),
                data.shape,
                pixmap,
                tiled,
                (y0, y1, x0, x1),
                interp=interp,
                fillval=-1.0,
                iscale=1.1,
            )
            np.testing.assert_array_equal(out_tile, whole[y0:y1, x0:x1])
    np.testing.assert_array_equal(tiled, whole)


@pytest.mark.parametrize("interp", ALL_INTERPS)
def test_block_without_halo_is_refused(interp):
    data = smooth_image((30, 30), seed=13)
    pixmap = affine_pixmap((10, 10), data.shape, shift=(0.5, 0.5))
    y0, y1, x0, x1 = blot_input_box(pixmap, data.shape, interp)
    out = np.empty((10, 10), np.float32)
    with pytest.raises(IndexError, match="footprint"):
        blot_block(data[y0 + 1 : y1, x0:x1], (y0 + 1, x0), data.shape, pixmap, out, interp=interp)
    with pytest.raises(IndexError, match="footprint"):
        blot_block(data[y0:y1, x0 : x1 - 1], (y0, x0), data.shape, pixmap, out, interp=interp)


def test_input_box_is_none_when_all_outside():
    pixmap = np.full((4, 5, 2), -3.0)
    pixmap[0, 0] = np.nan
    pixmap[1, 1] = 1e300
    assert blot_input_box(pixmap, (10, 10), "poly5") is None
    out = np.zeros((4, 5), np.float32)
    assert (
        blot_block(np.zeros((1, 1), np.float32), (0, 0), (10, 10), pixmap, out, fillval=4.0) == 20
    )
    assert np.all(out == 4.0)


# --------------------------------------------------------------------------- sinc


def brute_force_sinc(data, x, y, sinscl=1.0):
    """Legacy drizzle / IRAF tapered sinc at float32 positions (x, y), straight from the formula.

    Centre ``c = round(x)`` (halves away from zero), offset ``d = (x - c) * sinscl``;
    taps ``k = -7..7`` with weight ``(-1)**k T(k) / (k - d)``, ``T(k) = (1 - 0.4967 u
    + 0.03705 u**2)**2``, ``u = (pi k / 14)**2`` (weight 1 where ``k == d``; a delta
    if ``d == 0``); the same in y; pixels beyond the border replaced by the edge
    pixel; normalised by the weight sums.  Offsets both below 0.001: nearest pixel.
    """
    ny, nx = data.shape
    x = np.asarray(x, dtype=np.float32).astype(np.float64).ravel()
    y = np.asarray(y, dtype=np.float32).astype(np.float64).ravel()
    k = np.arange(-7, 8, dtype=np.float64)
    u = (np.pi * k / 14.0) ** 2
    taper = (-1.0) ** np.abs(k) * (1.0 - 0.49670 * u + 0.03705 * u * u) ** 2

    def weights(d):
        dist = k[None, :] - d[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            w = taper[None, :] / dist
        w = np.where(d[:, None] == 0.0, 0.0, w)
        return np.where(dist == 0.0, 1.0, w)

    cx, cy = np.floor(x + 0.5), np.floor(y + 0.5)
    dx, dy = (x - cx) * sinscl, (y - cy) * sinscl
    wx, wy = weights(dx), weights(dy)
    cols = np.clip(cx[:, None] + k[None, :], 0, nx - 1).astype(int)
    rows = np.clip(cy[:, None] + k[None, :], 0, ny - 1).astype(int)
    patch = data.astype(np.float64)[rows[:, :, None], cols[:, None, :]]
    value = np.einsum("pm,pk,pmk->p", wy, wx, patch) / wx.sum(1) / wy.sum(1)
    exact = (np.abs(dx) < 0.001) & (np.abs(dy) < 0.001)
    nearest = data[np.minimum(cy, ny - 1).astype(int), np.minimum(cx, nx - 1).astype(int)]
    return np.where(exact, nearest, value)


@pytest.mark.parametrize("image", ["smooth", "noise"])
@pytest.mark.parametrize("sinscl", [1.0, 0.6, 2.0])
def test_sinc_matches_brute_force(sinscl, image):
    ny, nx = 26, 31
    rng = np.random.default_rng(15)
    if image == "smooth":
        data = smooth_image((ny, nx), seed=14)
    else:  # white noise: every tap and taper value matters
        data = rng.normal(size=(ny, nx)).astype(np.float32)
    pts = np.stack([rng.uniform(0, nx, 400), rng.uniform(0, ny, 400)], axis=-1)
    special = np.array(
        [
            [3.0, 4.0],
            [3.5, 4.25],
            [0.0, 0.0],
            [nx - 0.5, ny - 0.5],
            [nx - 0.0004, 2.0],
            [7.0, 5.3],
            [5.2, 9.0],
            [0.4, ny - 0.3],
        ]
    )
    pixmap = np.concatenate([pts, special])[None]
    ours = blot_image(data, pixmap, interp="sinc", sinscl=sinscl, iscale=1.25)[0]
    expect = 1.25 * brute_force_sinc(data, pixmap[0, :, 0], pixmap[0, :, 1], sinscl)
    np.testing.assert_allclose(ours, expect, rtol=RTOL, atol=ATOL)


def test_sinc_interpolates_smooth_data_closely():
    """Sanity of the brute force itself: on well-sampled data sinc is close to the truth."""
    ny, nx = 40, 40
    y, x = np.mgrid[0:ny, 0:nx]
    data = np.sin(x / 4.0) * np.cos(y / 5.0)
    px = np.array([[15.3, 20.6], [22.45, 18.1]])
    ours = blot_image(data, px[None], interp="sinc")[0]
    truth = np.sin(px[:, 0] / 4.0) * np.cos(px[:, 1] / 5.0)
    np.testing.assert_allclose(ours, truth, atol=2e-3)
