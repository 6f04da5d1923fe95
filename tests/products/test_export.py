"""Export of finished mosaics: FITS file (atomic, bit-exact) and PNG quick-look."""

import math
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from helpers.mosaic_inputs import OUT_SHAPE, exposures

import tiledrizzle
from tiledrizzle import mosaic
from tiledrizzle.inputs.output_wcs import wcs_from_header_string
from tiledrizzle.products import export
from tiledrizzle.products.export import export_fits
from tiledrizzle.products.preview import block_mean, preview_png
from tiledrizzle.store.zarr_store import MosaicStore


def out_wcs(shape=OUT_SHAPE):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.123456789012, 2.2345678901234]
    w.wcs.crpix = [(shape[1] + 1) / 2 + 0.25, (shape[0] + 1) / 2 - 0.125]
    w.wcs.cdelt = [-0.1 / 3600, 0.1 / 3600]
    w.wcs.set()
    w.array_shape = shape
    return w


@pytest.fixture(scope="module")
def store_a(tmp_path_factory):
    """3 inputs, two variance arrays, DQ, an output WCS."""
    path = tmp_path_factory.mktemp("a") / "a.zarr"
    mosaic(exposures(3, seed=5, data2=True, dq=True), path, wcs=out_wcs(), tile_shape=(64, 64),
           scheduler="sync")  # fmt: skip
    return path


@pytest.fixture(scope="module")
def store_b(tmp_path_factory):
    """33 inputs (two context planes), one variance array, no DQ, no WCS."""
    path = tmp_path_factory.mktemp("b") / "b.zarr"
    inputs = exposures(33, seed=6, data2=True)
    for e in inputs:
        e["data2"] = e["data2"][:1]
    mosaic(inputs, path, out_shape=OUT_SHAPE, tile_shape=(80, 80), scheduler="sync")
    return path


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert a.dtype.kind == b.dtype.kind and a.dtype.itemsize == b.dtype.itemsize
    native = b.dtype.newbyteorder("=")
    assert a.astype(native).tobytes() == b.astype(native).tobytes()


def listing(directory):
    return sorted(os.listdir(directory))


# -- FITS ------------------------------------------------------------------------------


def test_export_fits_round_trip(store_a, tmp_path):
    st = MosaicStore.open(store_a)
    g, attrs = st.group, st.attrs
    path = tmp_path / "mosaic.fits"
    assert export_fits(st, path) == os.fspath(path)
    assert listing(tmp_path) == ["mosaic.fits"]
    with fits.open(path) as hdul:
        names = [h.name for h in hdul]
        assert names == ["PRIMARY", "SCI", "WHT", "CON", "VAR1", "VAR2", "DQ", "INPUTS"]
        same_bits(hdul["SCI"].data, g["img"][...])
        same_bits(hdul["WHT"].data, g["wht"][...])
        same_bits(hdul["CON"].data, g["ctx"][0])  # one plane: a 2-D image
        same_bits(hdul["VAR1"].data, g["img2/0"][...])
        same_bits(hdul["VAR2"].data, g["img2/1"][...])
        same_bits(hdul["DQ"].data, g["dq"][...])
        assert hdul["DQ"].data.dtype.kind == "u" and hdul["CON"].data.dtype == np.dtype(">i4")
        assert np.isnan(hdul["SCI"].data).any()  # empty pixels keep the NaN fill

        h = hdul[0].header
        assert h["KERNEL"] == "square" and h["PIXFRAC"] == 1.0
        assert h["EXPTIME"] == attrs["total_exptime"] > 0
        assert h["NINPUTS"] == 3
        assert h["TDRZVER"] == tiledrizzle.__version__
        assert h["FILLVAL"] == "INDEF"
        assert (h["MOSNY"], h["MOSNX"]) == OUT_SHAPE

        stored = wcs_from_header_string(attrs["wcs"])
        for name in ("SCI", "WHT", "CON", "VAR1", "VAR2", "DQ"):
            w = WCS(hdul[name].header)
            assert w.wcs.compare(stored.wcs), name
            assert w.array_shape == OUT_SHAPE
            np.testing.assert_allclose(w.wcs.crval, out_wcs().wcs.crval, rtol=1e-13)
            np.testing.assert_allclose(w.wcs.crpix, out_wcs().wcs.crpix, rtol=1e-13)

        table = hdul["INPUTS"].data
        assert list(table["NAME"]) == ["exp000", "exp001", "exp002"]
        assert list(table["CTX_ID"]) == [0, 1, 2]
        np.testing.assert_array_equal(table["EXPTIME"], [i["exptime"] for i in attrs["inputs"]])


def test_export_many_inputs_context_cube_single_var_no_wcs(store_b, tmp_path):
    path = tmp_path / "b.fits"
    export_fits(os.fspath(store_b), path)  # a path works as well as a MosaicStore
    g = MosaicStore.open(store_b).group
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "WHT", "CON", "VAR", "INPUTS"]
        con = hdul["CON"].data
        assert con.shape == (2,) + OUT_SHAPE
        same_bits(con, g["ctx"][...])
        assert (con[1] != 0).any()  # input 32 lives on the second plane
        same_bits(hdul["VAR"].data, g["img2/0"][...])
        assert hdul[0].header["NINPUTS"] == 33 and hdul[0].header["NCONPLN"] == 2
        for name in ("SCI", "CON", "VAR"):
            assert "CTYPE1" not in hdul[name].header


def test_export_refuses_existing_file_unless_overwrite(store_a, tmp_path):
    path = tmp_path / "m.fits"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="m.fits.*overwrite=True"):
        export_fits(store_a, path)
    assert path.read_bytes() == b"precious"
    assert listing(tmp_path) == ["m.fits"]
    export_fits(store_a, path, overwrite=True)
    with fits.open(path) as hdul:
        assert hdul[0].header["NINPUTS"] == 3
    assert listing(tmp_path) == ["m.fits"]


def test_export_failure_leaves_nothing(store_a, tmp_path, monkeypatch):
    real = export._array_data

    def failing(st, name):
        if name == "img2/1":  # SCI, WHT, CON, VAR1 are already in the temporary file
            raise RuntimeError("disk on fire")
        return real(st, name)

    monkeypatch.setattr(export, "_array_data", failing)
    path = tmp_path / "m.fits"
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_fits(store_a, path)
    assert listing(tmp_path) == []
    # an existing file survives a failed overwrite untouched
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_fits(store_a, path, overwrite=True)
    assert listing(tmp_path) == ["m.fits"] and path.read_bytes() == b"old"


def test_export_size_limit(store_a, tmp_path):
    ny, nx = OUT_SHAPE
    total = ny * nx * (4 + 4 + 4 + 4 + 4 + 4)  # img, wht, ctx, 2 x img2, dq
    with pytest.raises(ValueError, match=rf"GiB \({total} bytes\), above max_bytes"):
        export_fits(store_a, tmp_path / "m.fits", max_bytes=total - 1)
    assert listing(tmp_path) == []
    export_fits(store_a, tmp_path / "m.fits", max_bytes=total)


def test_export_refuses_unfinished_batch(store_a, tmp_path):
    copy = tmp_path / "copy.zarr"
    shutil.copytree(store_a, copy)
    st = MosaicStore.open(copy, mode="r+")
    batches = st.attrs["batches"]
    batches[-1]["status"] = "running"
    st.update_attrs(batches=batches)
    with pytest.raises(ValueError, match="unfinished batch 1"):
        export_fits(st, tmp_path / "m.fits")
    assert not (tmp_path / "m.fits").exists()


# -- PNG -------------------------------------------------------------------------------


def read_png(path, fmt="PNG"):
    """The 8-bit grayscale image at ``path`` (PNG unless ``fmt`` says otherwise)."""
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == fmt and im.mode == "L"
        return np.asarray(im)


@pytest.fixture()
def bright_store(store_a, tmp_path):
    """A copy of store A with a bright square at rows 134..137, columns 12..15 (north-east)."""
    copy = tmp_path / "bright.zarr"
    shutil.copytree(store_a, copy)
    st = MosaicStore.open(copy, mode="r+")
    st.group["img"][134:138, 12:16] = 1000.0
    st.group["wht"][134:138, 12:16] = 5.0
    return st


@pytest.mark.parametrize("stretch", ["asinh", "zscale"])
def test_preview_full_size_orientation_and_bright_source(bright_store, tmp_path, stretch):
    path = tmp_path / "p.png"
    shape = preview_png(bright_store, path, stretch=stretch)
    assert shape == OUT_SHAPE
    png = read_png(path)
    assert png.shape == OUT_SHAPE
    img = bright_store.group["img"][...]
    ny = OUT_SHAPE[0]
    # north (last store row) at the top: store row r is PNG row ny - 1 - r
    assert (png[ny - 138 : ny - 134, 12:16] == 255).all()
    assert not (png[134:138, 12:16] == 255).all()
    # empty pixels are black, covered ones respond to the data
    empty = ~np.isfinite(img)
    assert empty.any() and (png[::-1][empty] == 0).all()
    covered = np.isfinite(img) & (img < 100)
    a, p = img[covered], png[::-1][covered].astype(float)
    assert np.corrcoef(a, p)[0, 1] > 0.8
    assert p.std() > 5


def test_preview_stretches_differ(bright_store, tmp_path):
    preview_png(bright_store, tmp_path / "a.png", stretch="asinh")
    preview_png(bright_store, tmp_path / "z.png", stretch="zscale")
    assert not np.array_equal(read_png(tmp_path / "a.png"), read_png(tmp_path / "z.png"))


def test_preview_downsampled(bright_store, tmp_path):
    path = tmp_path / "small.png"
    shape = preview_png(bright_store, path, max_size=50)
    f = math.ceil(max(OUT_SHAPE) / 50)  # 4
    assert shape == (math.ceil(OUT_SHAPE[0] / f), math.ceil(OUT_SHAPE[1] / f)) == (38, 43)
    png = read_png(path)
    assert png.shape == shape
    h = shape[0]
    # the bright square is half of blocks (33, 3) and (34, 3): PNG rows h-1-34 .. h-1-33
    assert (png[h - 1 - 34 : h - 33, 3] == 255).all()
    assert png.max() == 255 and np.median(png) < 200
    assert [n for n in listing(tmp_path) if n.endswith(".tmp")] == []


def test_block_mean_is_nan_aware():
    import dask.array as da

    rng = np.random.default_rng(0)
    a = rng.normal(size=(37, 50))
    a[rng.uniform(size=a.shape) < 0.3] = np.nan
    a[0:4, 0:4] = np.nan  # one block with no finite value
    got = block_mean(da.from_array(a, chunks=(10, 16)), 4)
    pad = np.full((40, 52), np.nan)
    pad[:37, :50] = a
    blocks = pad.reshape(10, 4, 13, 4).swapaxes(1, 2).reshape(10, 13, 16)
    valid = np.isfinite(blocks)
    count = valid.sum(-1)
    expected = np.full((10, 13), np.nan)
    expected[count > 0] = np.where(valid, blocks, 0).sum(-1)[count > 0] / count[count > 0]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.isnan(got[0, 0])
    np.testing.assert_array_equal(block_mean(da.from_array(a, chunks=7), 1), a)


def test_preview_weight_map(store_a, tmp_path):
    st = MosaicStore.open(store_a)
    wht = st.group["wht"][...]
    shape = preview_png(st, tmp_path / "w.png", array="wht", stretch="asinh")
    png = read_png(tmp_path / "w.png")[::-1]
    assert shape == OUT_SHAPE
    assert (png[wht == 0] == 0).all()
    assert (png[wht > 0] > 0).mean() > 0.99
    preview_png(st, tmp_path / "v.png", array="img2/1", stretch="zscale")
    assert read_png(tmp_path / "v.png").shape == OUT_SHAPE


def test_preview_leaves_out_numeric_fill(tmp_path):
    path = tmp_path / "fill.zarr"
    mosaic(exposures(2, seed=9), path, out_shape=OUT_SHAPE, fillval=-1000.0, scheduler="sync")
    st = MosaicStore.open(path)
    img, wht = st.group["img"][...], st.group["wht"][...]
    assert (img[wht == 0] == -1000.0).all()
    preview_png(st, tmp_path / "f.png")
    png = read_png(tmp_path / "f.png")[::-1]
    assert (png[wht == 0] == 0).all()
    # the stretch is set by the data, not by the fill value: covered pixels span the range
    assert png[wht > 0].std() > 20


def test_preview_errors(store_a, tmp_path):
    with pytest.raises(ValueError, match="'array' must be one of"):
        preview_png(store_a, tmp_path / "x.png", array="dq")
    with pytest.raises(ValueError, match="'stretch' must be one of"):
        preview_png(store_a, tmp_path / "x.png", stretch="sqrt")
    with pytest.raises(ValueError, match="max_size"):
        preview_png(store_a, tmp_path / "x.png", max_size=0)
    with pytest.raises(ValueError, match="'zoom' must be a"):
        preview_png(store_a, tmp_path / "x.png", zoom=(3,))
    with pytest.raises(ValueError, match="'zoom_size' must be"):
        preview_png(store_a, tmp_path / "x.png", zoom=(3, 4), zoom_size=0)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("name", ["x.tif", "x", "x.png.bak", "x.gif"])
def test_preview_format_is_checked_before_the_store_is_read(tmp_path, name):
    # No store at all: the suffix is refused first, naming the file.
    with pytest.raises(tiledrizzle.InputError, match=r"\.png, \.jpg or \.jpeg") as info:
        preview_png(tmp_path / "no-such.zarr", tmp_path / name)
    assert name in str(info.value)
    assert listing(tmp_path) == []


def star_field_store(store_a, tmp_path, fluxes=(20.0, 50.0, 200.0, 1000.0, 5000.0)):
    """A copy of store A holding unit-noise sky and Gaussian stars of the given peak
    values (sorted faint to bright), every pixel covered; returns it and the star pixels."""
    copy = tmp_path / "stars.zarr"
    shutil.copytree(store_a, copy)
    st = MosaicStore.open(copy, mode="r+")
    ny, nx = OUT_SHAPE
    rng = np.random.default_rng(1)
    img = rng.normal(0.0, 1.0, OUT_SHAPE)
    yy, xx = np.mgrid[:ny, :nx]
    stars = [(30 + 22 * k, 25 + 28 * k) for k in range(len(fluxes))]
    for (y, x), peak in zip(stars, fluxes, strict=True):
        img += peak * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.5**2))
    st.group["img"][...] = img.astype(np.float32)
    st.group["wht"][...] = np.ones(OUT_SHAPE, np.float32)
    return st, stars


@pytest.mark.parametrize("stretch", ["asinh", "log", "linear"])
def test_preview_sky_is_quiet_and_stars_are_not_clipped(store_a, tmp_path, stretch):
    st, stars = star_field_store(store_a, tmp_path)
    kwargs = {} if stretch == "asinh" else {"stretch": stretch}  # asinh is the default
    preview_png(st, tmp_path / "p.png", **kwargs)
    png = read_png(tmp_path / "p.png")[::-1].astype(int)  # store row order
    ny, nx = OUT_SHAPE
    yy, xx = np.mgrid[:ny, :nx]
    far = np.ones(OUT_SHAPE, bool)
    for y, x in stars:
        far &= (yy - y) ** 2 + (xx - x) ** 2 > 10**2
    # The sky is a dark, even gray: noise does not fill the range...
    assert np.median(png[far]) < 30 and png[far].std() < 10, (np.median(png[far]), png[far].std())
    # ...and the stars stand out, brighter with flux; only the brightest reaches white.
    peaks = [png[y, x] for y, x in stars]
    assert peaks[-1] == 255 and (png == 255).sum() == 1, peaks
    assert all(b >= a for a, b in zip(peaks, peaks[1:], strict=False)), peaks
    assert peaks[-2] < 255
    if stretch != "linear":  # linear squeezes the faint stars into a few levels
        assert all(b > a for a, b in zip(peaks, peaks[1:], strict=False)), peaks
        assert peaks[0] > np.percentile(png[far], 99.5) + 20, peaks


@pytest.mark.parametrize("name", ["p.jpg", "p.jpeg", "P.JPG"])
def test_preview_writes_jpeg_from_the_suffix(bright_store, tmp_path, name):
    shape = preview_png(bright_store, tmp_path / name)
    preview_png(bright_store, tmp_path / "p.png")
    jpeg = read_png(tmp_path / name, fmt="JPEG").astype(int)
    png = read_png(tmp_path / "p.png").astype(int)
    assert jpeg.shape == png.shape == shape
    assert np.abs(jpeg - png).mean() < 3  # the same picture, lossy
    assert [n for n in listing(tmp_path) if n.endswith(".tmp")] == []


def test_popcount32():
    from tiledrizzle.products.preview import popcount32

    rng = np.random.default_rng(3)
    a = rng.integers(-(2**31), 2**31, size=(7, 9), dtype=np.int64).astype(np.int32)
    a[0, :3] = [0, -1, np.iinfo(np.int32).min]
    bits = np.unpackbits(a.astype("<u4").view(np.uint8).reshape(7, 9, 4), axis=-1).sum(-1)
    np.testing.assert_array_equal(popcount32(a), bits)
    assert popcount32(a)[0, :3].tolist() == [0, 32, 1]


def test_preview_of_ctx_counts_the_inputs_of_each_pixel(store_b, tmp_path):
    st = MosaicStore.open(store_b)
    ctx = st.group["ctx"][...]
    assert ctx.shape[0] == 2  # 33 inputs: the count spans both context planes
    count = sum(((ctx.astype(np.int64) & 0xFFFFFFFF) >> b & 1).sum(axis=0) for b in range(32))
    assert (ctx[1] != 0).any()  # input 33 is counted from the second plane
    preview_png(st, tmp_path / "c.png", array="ctx", stretch="linear")
    png = read_png(tmp_path / "c.png")[::-1]
    np.testing.assert_array_equal(png, np.round(count / count.max() * 255).astype(np.uint8))


def test_preview_zoom_panel_at_native_scale(bright_store, tmp_path):
    preview_png(bright_store, tmp_path / "full.png")
    full = read_png(tmp_path / "full.png")[::-1]  # store row order
    shape = preview_png(bright_store, tmp_path / "z.png", zoom=(135, 5), zoom_size=20)
    png = read_png(tmp_path / "z.png")
    ny, nx = OUT_SHAPE
    rep = ny // 20  # the crop is enlarged to about the full view's height
    assert shape == png.shape == (ny, nx + 8 + 20 * rep)
    left, gap, right = png[:, :nx][::-1], png[:, nx : nx + 8], png[:, nx + 8 :]
    assert (gap == 128).all()
    # the crop is clamped inside the grid: rows 125..144, columns 0..19 (centre column 5 - 10 < 0)
    crop = full[125:145, 0:20]
    np.testing.assert_array_equal(
        right[: 20 * rep], np.repeat(np.repeat(crop, rep, 0), rep, 1)[::-1]
    )
    assert (right[20 * rep :] == 0).all()
    # the full view is unchanged but for the crop's outline
    box = np.zeros(OUT_SHAPE, bool)
    box[[125, 144], 0:20] = box[125:145, [0, 19]] = True
    assert (left[box] == 255).all()
    np.testing.assert_array_equal(left[~box], full[~box])


def test_the_preview_needs_no_matplotlib(bright_store, tmp_path):
    """matplotlib is a test extra, not a dependency: a fresh install has no matplotlib, and
    parts of astropy.visualization (ImageNormalize) need it. Every stretch must work
    with matplotlib unimportable."""
    import subprocess
    import sys

    script = f"""
import sys
sys.modules["matplotlib"] = None  # "import matplotlib" now fails as when it is absent
from tiledrizzle.products.preview import preview_png
for stretch in ("asinh", "zscale", "linear", "log"):
    preview_png({bright_store.path!r}, {str(tmp_path)!r} + f"/p_{{stretch}}.png", stretch=stretch)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len([n for n in listing(tmp_path) if n.startswith("p_")]) == 4
