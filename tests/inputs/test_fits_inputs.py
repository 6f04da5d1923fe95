"""FITS exposures in, mosaic out: lazy reading, weighting, DQ masks, clear errors."""

import os
import pickle
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from helpers.fits_files import SHAPE, fits_inputs, output_wcs, write_exposure
from helpers.mosaic_inputs import store_checksum

from tiledrizzle import FitsExposure, FitsInputError, mosaic


@pytest.fixture
def files(tmp_path):
    return [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(3)]


def test_fits_mosaic_masks_bad_pixels_and_uses_inverse_variance(tmp_path, files):
    r = mosaic(fits_inputs(files), tmp_path / "m.zarr", wcs=output_wcs(), tile_shape=(32, 32))
    img, wht = r.img.compute(), r.wht.compute()
    good = wht > 0
    assert good.mean() > 0.4
    assert np.nanmax(img[good]) < 100  # the 1e4 bad pixels were masked
    dq = r.dq.compute()
    assert (dq & 1).any() and not (dq & 8).any()  # good pixels' DQ propagates, bad ones none
    assert r.img2[0].compute()[good].max() < 0.3**2  # variance co-added with squared weights
    # Inverse-variance weights: about 1/err^2 ~ 10..100 per input pixel.
    assert 5 < np.median(wht[good]) < 400
    assert r.store.attrs["total_exptime"] == 300.0
    assert r.store.attrs["wcs"]


def test_fits_inputs_equal_arrays_through_the_same_pixmaps(tmp_path, files):
    from tiledrizzle.inputs.pixmap import WCSPixmap
    from tiledrizzle.inputs.units import pixel_area_ratio

    out = output_wcs()
    from_files = mosaic(fits_inputs(files, weight="exptime", dq_ext=None, err_ext=None),
                        tmp_path / "f.zarr", wcs=out, tile_shape=(40, 40))  # fmt: skip
    arrays = []
    for p in files:
        with fits.open(p) as h:
            e = FitsExposure(p)
            e.describe()
            arrays.append(dict(  # counts per output pixel: the pixel-area ratio as iscale
                data=h["SCI"].data.astype(np.float32), exptime=100.0,
                iscale=pixel_area_ratio(e.wcs, out, SHAPE),
                weight_map=np.full(SHAPE, 100.0, np.float32), pixel_scale_ratio=None,
                pixmap=WCSPixmap(e.wcs, out, SHAPE, mode="exact"),
            ))  # fmt: skip
    from_arrays = mosaic(arrays, tmp_path / "a.zarr", out_shape=out.array_shape,
                         tile_shape=(40, 40))  # fmt: skip
    np.testing.assert_array_equal(from_files.img.compute(), from_arrays.img.compute())
    np.testing.assert_array_equal(from_files.wht.compute(), from_arrays.wht.compute())


def test_only_paths_and_small_metadata_travel(files):
    e = fits_inputs(files)[0]
    source = e.describe()
    assert len(pickle.dumps(source)) < 2_000
    assert os.path.getsize(files[0]) > 40_000
    data, weights, data2, dq = source.read(10, 20, 5, 25)
    assert data.shape == weights.shape == dq.shape == (10, 20) and data2.shape == (1, 10, 20)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_text("not fits"), "not a readable FITS file"),
        (lambda p: write_exposure(p, 0, DQ=np.zeros((5, 5), np.uint16)), "'DQ'.*shape"),
        (lambda p: write_exposure(p, 0, ERR=None), "no error extension 'ERR'"),
        (
            lambda p: fits.HDUList(
                [
                    fits.PrimaryHDU(),
                    fits.ImageHDU(np.zeros(SHAPE, np.float32), name="SCI"),
                    fits.ImageHDU(np.zeros(SHAPE, np.float32), name="ERR"),
                    fits.ImageHDU(np.zeros(SHAPE, np.uint16), name="DQ"),
                ]
            ).writeto(p),
            "exposure time keyword 'EXPTIME'",
        ),  # fmt: skip
        (lambda p: write_exposure(p, 0, exptime=0.0), "exposure time must be positive"),
    ],
)
def test_bad_files_are_clear_errors_and_leave_no_store(tmp_path, files, make, message):
    bad = tmp_path / "bad.fits"
    make(bad)
    store = tmp_path / "m.zarr"
    with pytest.raises(FitsInputError, match=f"bad.fits.*{message}"):
        mosaic(fits_inputs(files + [str(bad)]), store, wcs=output_wcs())
    assert not store.exists()


def test_missing_and_non_celestial_wcs(tmp_path, files):
    p = tmp_path / "nowcs.fits"
    h = fits.Header([("EXPTIME", 10.0)])
    fits.HDUList([fits.PrimaryHDU(header=h),
                  fits.ImageHDU(np.zeros(SHAPE, np.float32), name="SCI")]).writeto(p)  # fmt: skip
    with pytest.raises(FitsInputError, match=r"nowcs.fits\['SCI'\]: the WCS is missing"):
        FitsExposure(p).describe()
    p2 = tmp_path / "linear.fits"
    lin = WCS(naxis=2)
    lin.wcs.ctype = ["X", "Y"]
    fits.HDUList([fits.PrimaryHDU(header=h),
                  fits.ImageHDU(np.zeros(SHAPE, np.float32), header=lin.to_header(),
                                name="SCI")]).writeto(p2)  # fmt: skip
    with pytest.raises(FitsInputError, match="not celestial"):
        FitsExposure(p2).describe()


def test_store_unchanged_after_a_failed_add(tmp_path, files):
    store = tmp_path / "m.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mosaic(fits_inputs(files[:2]), store, wcs=output_wcs(), tile_shape=(32, 32))
    before = store_checksum(store)
    bad = tmp_path / "bad.fits"
    write_exposure(bad, 0, exptime=-5.0)
    with pytest.raises(FitsInputError):
        mosaic(fits_inputs([files[2], str(bad)]), store, wcs=output_wcs(), tile_shape=(32, 32))
    assert store_checksum(store) == before


def test_rows_read_straight_from_the_file_equal_astropy(tmp_path):
    """Plain images are read with one seek per extension; scaled ones (BZERO: the uint16
    DQ here, a BSCALE'd SCI) and weight maps go through astropy. Same arrays either way."""
    from dataclasses import replace

    path = write_exposure(tmp_path / "plain.fits", 0)
    scaled = write_exposure(tmp_path / "scaled.fits", 1)
    with fits.open(scaled, mode="update") as hdul:
        hdul["SCI"].scale("int16", bscale=0.01, bzero=2.0)
    for p, raw_exts in ((path, {"SCI", "ERR"}), (scaled, {"ERR"})):
        source = FitsExposure(str(p), err_ext="ERR", dq_ext="DQ", bad_bits=8,
                              weight="ivm").describe()  # fmt: skip
        assert {ext for ext, _, _ in source.layouts} == raw_exts
        via_astropy = replace(source, layouts=())
        for box in ((0, SHAPE[0], 0, SHAPE[1]), (3, 17, 5, 40)):
            for a, b in zip(source.read(*box), via_astropy.read(*box), strict=True):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)


def test_masked_pixels_flags_stay_out_of_the_mosaic_dq_as_in_the_reference():
    # README: dq is the OR over pixels with weight; the reference skips zero-weight pixels.
    from drizzle.resample import Drizzle as Reference

    from tiledrizzle.resample import Drizzle

    pm = np.dstack(np.mgrid[0:10, 0:10][::-1]).astype(float)
    weights = np.ones((10, 10), np.float32)
    weights[5, 5] = 0.0
    dq = np.zeros((10, 10), np.uint32)
    dq[5, 5], dq[2, 2] = 4, 1
    got = []
    for cls in (Reference, Drizzle):
        d = cls(out_shape=(10, 10))
        d.add_image(np.ones((10, 10), np.float32), exptime=1.0, pixmap=pm, weight_map=weights,
                    dq=dq)  # fmt: skip
        got.append((int(d.out_dq[5, 5]), int(d.out_dq[2, 2])))
    assert got[0] == got[1] == (0, 1)
