"""Output grid fitting (fit_output_wcs) and WCS header I/O."""

import math
import warnings

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning, Sip
from astropy.wcs.utils import proj_plane_pixel_scales
from helpers.wcs_data import (
    NIRCAM_INPUT,
    NIRCAM_OUTPUTS,
    WCS_DIR,
    read_header_wcs,
    requires_wcs_data,
)

from tiledrizzle.inputs.output_wcs import (
    fit_output_wcs,
    wcs_from_header_file,
    wcs_from_header_string,
    wcs_to_header_string,
)


def sip_wcs(ra, dec, shape=(200, 240), scale=0.1, pa=0.0, sip=None, crpix=None):
    """A TAN (+SIP) WCS: ``scale`` arcsec/pixel, +y at position angle ``pa``, east left."""
    ny, nx = shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        w = WCS(naxis=2)
    s, t = scale / 3600.0, math.radians(pa)
    w.wcs.crpix = crpix if crpix is not None else [(nx + 1) / 2, (ny + 1) / 2]
    w.wcs.crval = [ra, dec]
    w.wcs.cd = s * np.array([[-math.cos(t), math.sin(t)], [math.sin(t), math.cos(t)]])
    if sip is None:
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    else:
        w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
        a, b = np.zeros((4, 4)), np.zeros((4, 4))
        for (i, j), v in sip.get("a", {}).items():
            a[i, j] = v
        for (i, j), v in sip.get("b", {}).items():
            b[i, j] = v
        w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.wcs.set()
    w.array_shape = shape
    return w


SIP = {
    "a": {(2, 0): 3e-6, (0, 2): -2e-6, (1, 1): 4e-6, (3, 0): 2e-9},
    "b": {(0, 2): 3e-6, (2, 0): -1e-6, (1, 1): -3e-6, (0, 3): -1e-9},
}


def dithered(ra0=150.1, dec0=2.2, n=5, seed=1, shape=(200, 240), scale=0.1):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        dra = rng.uniform(-20, 20) / 3600 / math.cos(math.radians(dec0))
        ddec = rng.uniform(-20, 20) / 3600
        out.append(sip_wcs(ra0 + dra, dec0 + ddec, shape, scale, rng.uniform(-40, 40), SIP))
    return out


def dense_boundary(w, shape=None, step=0.5):
    """Sky positions of the pixel boundary (edges -0.5 .. n-0.5) every ``step`` pixels."""
    ny, nx = shape or w.array_shape
    xs = np.arange(-0.5, nx - 0.5 + 1e-9, step)
    ys = np.arange(-0.5, ny - 0.5 + 1e-9, step)
    x = np.concatenate([xs, xs, np.full(ys.size, -0.5), np.full(ys.size, nx - 0.5)])
    y = np.concatenate([np.full(xs.size, -0.5), np.full(xs.size, ny - 0.5), ys, ys])
    return w.all_pix2world(x, y, 0)


def footprint_pixels(out, inputs):
    xs, ys = [], []
    for w in inputs:
        ra, dec = dense_boundary(w)
        x, y = out.all_world2pix(ra, dec, 0)
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def assert_covers_tightly(out, inputs, padding=0, tol=1e-3):
    ny, nx = out.array_shape
    x, y = footprint_pixels(out, inputs)
    for p, n in ((x, nx), (y, ny)):
        assert p.min() >= -0.5 + padding - tol
        assert p.max() <= n - 0.5 - padding + tol
        # tight: the footprint reaches within one pixel of the padded edges on both sides
        assert p.min() <= -0.5 + padding + 1.0
        assert p.max() >= n - 0.5 - padding - 1.0


def position_angle(w, dx, dy):
    """Position angle (deg E of N) on the sky of the pixel direction (dx, dy) at CRPIX."""
    x0, y0 = w.wcs.crpix - 1
    ra, dec = w.all_pix2world([x0, x0 + dx], [y0, y0 + dy], 0)
    c = SkyCoord(ra, dec, unit="deg")
    return c[0].position_angle(c[1]).deg % 360.0


def angle_diff(a, b):
    return abs((a - b + 180.0) % 360.0 - 180.0)


# -- coverage --------------------------------------------------------------------------


@pytest.mark.parametrize("padding", [0, 7])
def test_fit_covers_dithered_rotated_sip_inputs(padding):
    inputs = dithered()
    out = fit_output_wcs(inputs, padding=padding)
    assert out.sip is None and out.wcs.ctype[0] == "RA---TAN" and out.wcs.ctype[1] == "DEC--TAN"
    assert out.array_shape == tuple(out.pixel_shape[::-1])
    assert_covers_tightly(out, inputs, padding)


def test_fit_with_input_shapes_argument():
    inputs = dithered(n=3)
    shapes = [w.array_shape for w in inputs]
    bare = [w.deepcopy() for w in inputs]
    for w in bare:
        w.pixel_shape = None
    out = fit_output_wcs(bare, shapes)
    ref = fit_output_wcs(inputs)
    assert out.array_shape == ref.array_shape
    assert out.wcs.compare(ref.wcs)


def test_default_scale_is_smallest_input_scale():
    inputs = [
        sip_wcs(10.0, -30.0, scale=0.12, pa=10, sip=SIP),
        sip_wcs(10.001, -30.0, scale=0.08, pa=50, sip=SIP),
        sip_wcs(10.0, -30.001, scale=0.1, pa=-20),
    ]
    out = fit_output_wcs(inputs)
    np.testing.assert_allclose(proj_plane_pixel_scales(out) * 3600, [0.08, 0.08], rtol=1e-6)
    assert_covers_tightly(out, inputs)


def test_default_scale_includes_distortion_at_centre():
    # A linear SIP term stretches x by 10 % everywhere: the pixel area grows by 1.1.
    w = sip_wcs(50.0, 20.0, scale=0.1, sip={"a": {(1, 0): 0.1}})
    out = fit_output_wcs([w])
    expected = 0.1 * math.sqrt(1.1)
    np.testing.assert_allclose(proj_plane_pixel_scales(out) * 3600, expected, rtol=1e-6)
    assert_covers_tightly(out, [w])


@pytest.mark.parametrize("rotation", [None, 0.0, 30.0, -75.0, 180.0])
def test_pixel_scale_and_rotation_honoured(rotation):
    inputs = dithered(n=3, seed=4)
    out = fit_output_wcs(inputs, pixel_scale=0.05, rotation=rotation, padding=2)
    np.testing.assert_allclose(proj_plane_pixel_scales(out) * 3600, [0.05, 0.05], rtol=1e-9)
    rot = 0.0 if rotation is None else rotation
    t = math.radians(rot)
    s = 0.05 / 3600
    expected_cd = s * np.array([[-math.cos(t), math.sin(t)], [math.sin(t), math.cos(t)]])
    np.testing.assert_allclose(out.pixel_scale_matrix, expected_cd, atol=1e-15)
    # +y points at PA = rotation; +x at PA = rotation - 90 (east to the left of north).
    assert angle_diff(position_angle(out, 0, 100), rot) < 1e-6
    assert angle_diff(position_angle(out, 100, 0), rot - 90.0) < 1e-6
    if rotation is None:
        assert out.wcs.cdelt[0] < 0 < out.wcs.cdelt[1]
        np.testing.assert_allclose(out.wcs.get_pc(), np.eye(2), atol=0)
    assert_covers_tightly(out, inputs, padding=2)


def test_crval_centre_of_footprint_and_explicit_crval():
    inputs = dithered(n=4, seed=2)
    out = fit_output_wcs(inputs)
    ny, nx = out.array_shape
    # the tangent point sits in the middle of the grid
    assert abs(out.wcs.crpix[0] - (nx + 1) / 2) <= 1.0
    assert abs(out.wcs.crpix[1] - (ny + 1) / 2) <= 1.0
    given = fit_output_wcs(inputs, crval=(150.1, 2.21))
    np.testing.assert_array_equal(given.wcs.crval, [150.1, 2.21])
    assert_covers_tightly(given, inputs)


def test_ra_wrap():
    dec = 10.0
    inputs = [
        sip_wcs(359.995, dec, scale=0.1, pa=5, sip=SIP),
        sip_wcs(0.004, dec + 0.001, scale=0.1, pa=-5, sip=SIP),
        sip_wcs(0.0, dec - 0.002, scale=0.1, pa=20),
    ]
    out = fit_output_wcs(inputs, padding=1)
    ra0 = out.wcs.crval[0]
    assert 0.0 <= ra0 < 360.0
    assert min(ra0, 360.0 - ra0) < 0.01
    ny, nx = out.array_shape
    # ~0.01 deg wide: about 400 pixels of 0.1", not a grid spanning 360 degrees
    assert nx < 700 and ny < 700
    assert_covers_tightly(out, inputs, padding=1)


def test_single_untouched_tan_input_reproduces_its_grid():
    w = sip_wcs(200.0, -60.0, shape=(100, 150), scale=0.2, pa=0.0)
    out = fit_output_wcs([w])
    assert out.array_shape == (100, 150)
    x, y = out.all_world2pix(*w.all_pix2world([0, 149], [0, 99], 0), 0)
    np.testing.assert_allclose(x, [0, 149], atol=1e-6)
    np.testing.assert_allclose(y, [0, 99], atol=1e-6)


def test_galactic_inputs_keep_their_system():
    w = sip_wcs(120.0, 5.0)
    w.wcs.ctype = ["GLON-TAN", "GLAT-TAN"]
    w.wcs.set()
    out = fit_output_wcs([w])
    assert list(out.wcs.ctype) == ["GLON-TAN", "GLAT-TAN"]
    assert_covers_tightly(out, [w])


# -- errors ----------------------------------------------------------------------------


def linear_wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ["LINEAR", "LINEAR"]
    w.array_shape = (10, 10)
    return w


def test_errors():
    good = sip_wcs(10.0, 10.0)
    with pytest.raises(ValueError, match="no input WCS"):
        fit_output_wcs([])
    with pytest.raises(ValueError, match="input 1: .*not a 2-D celestial"):
        fit_output_wcs([good, linear_wcs()])
    with pytest.raises(TypeError, match="input 0: expected an astropy WCS"):
        fit_output_wcs(["RA---TAN"])
    for bad in (0, -0.1, float("nan"), "x"):
        with pytest.raises(ValueError, match="pixel_scale"):
            fit_output_wcs([good], pixel_scale=bad)
    bare = good.deepcopy()
    bare.pixel_shape = None
    with pytest.raises(ValueError, match="input 1: the array shape is unknown"):
        fit_output_wcs([good, bare])
    with pytest.raises(ValueError, match="2 input shapes given for 1"):
        fit_output_wcs([good], [(10, 10), (10, 10)])
    with pytest.raises(ValueError, match="padding"):
        fit_output_wcs([good], padding=-1)
    with pytest.raises(ValueError, match="rotation"):
        fit_output_wcs([good], rotation=float("inf"))
    with pytest.raises(ValueError, match="crval"):
        fit_output_wcs([good], crval=(10.0, 95.0))
    gal = sip_wcs(10.0, 10.0)
    gal.wcs.ctype = ["GLON-TAN", "GLAT-TAN"]
    gal.wcs.set()
    with pytest.raises(ValueError, match="different celestial systems"):
        fit_output_wcs([good, gal])
    with pytest.raises(ValueError, match="TAN grid is limited"):
        fit_output_wcs([sip_wcs(0.0, 0.0), sip_wcs(120.0, 0.0), sip_wcs(240.0, 1.0)])


# -- headers ---------------------------------------------------------------------------


def test_header_string_round_trip():
    out = fit_output_wcs(dithered(n=3), pixel_scale=0.07, rotation=12.5)
    s = wcs_to_header_string(out)
    back = wcs_from_header_string(s)
    assert back.wcs.compare(out.wcs)
    assert back.array_shape == out.array_shape
    np.testing.assert_array_equal(back.pixel_scale_matrix, out.pixel_scale_matrix)
    # once more: a fixed point
    assert wcs_to_header_string(back) == s
    # one card per line reads the same
    lines = fits.Header.fromstring(s).tostring(sep="\n")
    assert wcs_from_header_string(lines).wcs.compare(out.wcs)


def test_header_string_round_trip_sip_and_shape_override():
    w = sip_wcs(33.0, -5.0, shape=(50, 60), sip=SIP)
    back = wcs_from_header_string(wcs_to_header_string(w))
    assert back.wcs.compare(w.wcs)
    np.testing.assert_array_equal(back.sip.a, w.sip.a)
    np.testing.assert_array_equal(back.sip.b, w.sip.b)
    assert back.array_shape == (50, 60)
    # a header without NAXISn (as mosaic() stores it): no shape unless given
    plain = w.to_header(relax=True).tostring()
    assert wcs_from_header_string(plain).array_shape is None
    assert wcs_from_header_string(plain, shape=(50, 60)).array_shape == (50, 60)
    with pytest.raises(ValueError, match="not a 2-D celestial"):
        wcs_from_header_string(fits.Header({"CTYPE1": "LINEAR", "CTYPE2": "LINEAR"}).tostring())


def write_header_files(tmp_path, w, shape):
    ny, nx = shape
    header = w.to_header(relax=True)
    header.insert(0, ("NAXIS", 2))
    header.insert(1, ("NAXIS1", nx))
    header.insert(2, ("NAXIS2", ny))
    txt = tmp_path / "out.hdr"
    header.totextfile(txt)
    sep = tmp_path / "sep.hdr"
    header.tofile(sep, sep="\n", endcard=True, padding=False)
    prim = tmp_path / "prim.fits"
    fits.PrimaryHDU(np.zeros(shape, np.float32), header=w.to_header(relax=True)).writeto(prim)
    ext = tmp_path / "ext.fits"
    fits.HDUList(
        [fits.PrimaryHDU(), fits.ImageHDU(np.zeros(shape, np.float32), w.to_header(relax=True))]
    ).writeto(ext)
    gz = tmp_path / "ext.fits.gz"
    fits.HDUList(
        [fits.PrimaryHDU(), fits.ImageHDU(np.zeros(shape, np.float32), w.to_header(relax=True))]
    ).writeto(gz)
    return [txt, sep, prim, ext, gz]


def test_wcs_from_header_file_text_and_fits(tmp_path):
    w = sip_wcs(80.0, -69.0, shape=(30, 40), pa=17.0, sip=SIP)
    for path in write_header_files(tmp_path, w, (30, 40)):
        got = wcs_from_header_file(path)
        assert got.array_shape == (30, 40), path
        assert got.sip is not None, path
        np.testing.assert_allclose(got.wcs.crval, w.wcs.crval, rtol=1e-13)
        np.testing.assert_allclose(got.pixel_scale_matrix, w.pixel_scale_matrix, rtol=1e-12)
        x = np.array([0.0, 39.0, 20.0])
        y = np.array([0.0, 29.0, 10.0])
        np.testing.assert_allclose(
            got.all_pix2world(x, y, 0), w.all_pix2world(x, y, 0), rtol=0, atol=1e-10
        )


def test_wcs_from_header_file_errors(tmp_path):
    missing = tmp_path / "missing.hdr"
    with pytest.raises(FileNotFoundError, match="missing.hdr"):
        wcs_from_header_file(missing)
    junk = tmp_path / "junk.hdr"
    junk.write_bytes(b"\x00\x01 this is not a header \xff\n" * 5)
    with pytest.raises(ValueError, match="junk.hdr"):
        wcs_from_header_file(junk)
    linear = tmp_path / "linear.hdr"
    fits.Header(
        {"NAXIS": 2, "NAXIS1": 5, "NAXIS2": 5, "CTYPE1": "LINEAR", "CTYPE2": "LINEAR"}
    ).totextfile(linear)
    with pytest.raises(ValueError, match="linear.hdr.*not a 2-D celestial"):
        wcs_from_header_file(linear)
    noshape = tmp_path / "noshape.hdr"
    sip_wcs(1.0, 1.0).to_header().totextfile(noshape)
    with pytest.raises(ValueError, match="noshape.hdr.*NAXIS1/NAXIS2"):
        wcs_from_header_file(noshape)
    table = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([
        fits.Column("a", "E", array=np.zeros(3))
    ])]).writeto(table)  # fmt: skip
    with pytest.raises(ValueError, match="table.fits.*no image HDU"):
        wcs_from_header_file(table)


# -- real headers ----------------------------------------------------------------------


@requires_wcs_data
def test_nircam_sip_footprint_and_scale():
    win = read_header_wcs(NIRCAM_INPUT)
    out = fit_output_wcs([win], padding=3)
    assert_covers_tightly(out, [win], padding=3)
    cd = win.pixel_scale_matrix
    input_scale = math.sqrt(abs(np.linalg.det(cd))) * 3600
    np.testing.assert_allclose(proj_plane_pixel_scales(out) * 3600, input_scale, rtol=1e-6)
    ref = read_header_wcs(NIRCAM_OUTPUTS[1.0])  # the reference frame at ratio 1.0
    np.testing.assert_allclose(proj_plane_pixel_scales(out), proj_plane_pixel_scales(ref), 1e-3)
    # the header reader gives the same WCS and shape as the test helper
    again = wcs_from_header_file(NIRCAM_INPUT)
    assert again.array_shape == win.array_shape == (2048, 2048)
    assert again.wcs.compare(win.wcs)


@requires_wcs_data
def test_acs_fits_header_file():
    w = wcs_from_header_file(WCS_DIR / "j8bt06nyq_sip_flt.fits")
    assert w.array_shape == (1024, 1024)  # from WCSNAXn: the file holds no pixels
    assert w.sip is not None
    out = fit_output_wcs([w], rotation=15.5)
    assert_covers_tightly(out, [w])
