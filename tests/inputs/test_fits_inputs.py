"""FITS exposures in, mosaic out: lazy reading, weighting, DQ masks, the CLI, clear errors."""

import os
import pickle
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, Sip
from helpers.mosaic_inputs import store_checksum

from tiledrizzle import FitsExposure, FitsInputError, mosaic
from tiledrizzle.cli.commands import main as cli
from tiledrizzle.inputs.output_wcs import wcs_to_header_string
from tiledrizzle.store.zarr_store import MosaicStore

SHAPE = (60, 70)
SCALE = 0.2 / 3600


def detector_wcs(ra, dec, roll=0.0):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [35.5, 30.5]
    t = np.deg2rad(roll)
    w.wcs.cd = SCALE * np.array([[-np.cos(t), np.sin(t)], [np.sin(t), np.cos(t)]])
    a, b = np.zeros((3, 3)), np.zeros((3, 3))
    a[2, 0], b[0, 2], a[1, 1] = 3e-4, -2e-4, 1e-4
    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.array_shape = SHAPE
    return w


def output_wcs(shape=(110, 120)):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [10.0, -30.0]
    w.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    w.wcs.cdelt = [-SCALE, SCALE]
    w.array_shape = shape
    return w


def write_exposure(path, k, seed=0, exptime=100.0, header_extra=None, **overrides):
    rng = np.random.default_rng(seed + k)
    ra = 10.0 + (k - 1) * 15 * SCALE
    dec = -30.0 + (k % 2) * 10 * SCALE
    wcs = detector_wcs(ra, dec, roll=5.0 * k)
    sci = rng.normal(2.0, 0.3, SHAPE).astype(np.float32)
    err = rng.uniform(0.1, 0.3, SHAPE).astype(np.float32)
    dq = np.zeros(SHAPE, np.uint16)
    dq[rng.integers(0, SHAPE[0], 30), rng.integers(0, SHAPE[1], 30)] = 8
    dq[rng.integers(0, SHAPE[0], 30), rng.integers(0, SHAPE[1], 30)] = 1
    sci[dq == 8] = 1e4  # bad pixels: must get no weight when bit 8 is masked
    h = wcs.to_header(relax=True)
    primary = fits.Header([("EXPTIME", exptime)] + list((header_extra or {}).items()))
    hdus = [fits.PrimaryHDU(header=primary)]
    for name, arr in (("SCI", sci), ("ERR", err), ("DQ", dq)):
        arr = overrides.get(name, arr)
        if arr is not None:
            hdus.append(fits.ImageHDU(arr, header=h, name=name))
    fits.HDUList(hdus).writeto(path)
    return path


@pytest.fixture
def files(tmp_path):
    return [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(3)]


def fits_inputs(files, **kw):
    opts = dict(err_ext="ERR", dq_ext="DQ", bad_bits=8, weight="ivm", pixmap_mode="exact")
    opts.update(kw)
    return [FitsExposure(p, **opts) for p in files]


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

    out = output_wcs()
    from_files = mosaic(fits_inputs(files, weight="exptime", dq_ext=None, err_ext=None),
                        tmp_path / "f.zarr", wcs=out, tile_shape=(40, 40))  # fmt: skip
    arrays = []
    for p in files:
        with fits.open(p) as h:
            e = FitsExposure(p)
            e.describe()
            arrays.append(dict(
                data=h["SCI"].data.astype(np.float32), exptime=100.0,
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


def test_cli_mosaic_info_fits_export_and_blot(tmp_path, files, capsys):
    store = tmp_path / "cli.zarr"
    out_fits = tmp_path / "cli.fits"
    preview = tmp_path / "cli.png"
    hdr = tmp_path / "out.hdr"
    hdr.write_text(wcs_to_header_string(output_wcs()))
    rc = cli(["mosaic", *files, "--out", str(store), "--wcs", str(hdr), "--err-ext", "ERR",
              "--dq-ext", "DQ", "--bad-bits", "8", "--weight", "ivm", "--tile", "32",
              "--scheduler", "sync", "--fits", str(out_fits), "--preview", str(preview),
              "--no-progress"])  # fmt: skip
    captured = capsys.readouterr()
    text = captured.out
    assert rc == 0, captured.err
    assert "inputs used     : 3 of 3" in text and "tiles written" in text
    api = mosaic(fits_inputs(files, pixmap_mode="fast"), tmp_path / "api.zarr",
                 wcs=MosaicStore.open(store).wcs(), tile_shape=(32, 32))  # fmt: skip
    with fits.open(out_fits) as h:
        np.testing.assert_array_equal(h["SCI"].data, api.img.compute())
        np.testing.assert_array_equal(h["WHT"].data, api.wht.compute())
    assert preview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli(["info", str(store)]) == 0
    assert "inputs          : 3" in capsys.readouterr().out
    blotted = tmp_path / "blot.fits"
    assert cli(["blot", str(store), "--like", files[1], "--out", str(blotted)]) == 0
    with fits.open(blotted) as h:
        assert h[0].data.shape == SHAPE and np.nanmedian(h[0].data) == pytest.approx(2.0, 0.1)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_text("not fits"), "not a readable FITS file"),
        (lambda p: write_exposure(p, 0, DQ=np.zeros((5, 5), np.uint16)), "'DQ'.*shape"),
        (lambda p: write_exposure(p, 0, ERR=None), "no error extension 'ERR'"),
        (lambda p: fits.HDUList([fits.PrimaryHDU(),
                                 fits.ImageHDU(np.zeros(SHAPE, np.float32), name="SCI"),
                                 fits.ImageHDU(np.zeros(SHAPE, np.float32), name="ERR"),
                                 fits.ImageHDU(np.zeros(SHAPE, np.uint16), name="DQ")]
                                ).writeto(p), "exposure time keyword 'EXPTIME'"),  # fmt: skip
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


def test_cli_errors_are_one_line_without_traceback(tmp_path, files, capsys):
    store = tmp_path / "m.zarr"
    cases = [
        ["mosaic", str(tmp_path / "missing.fits"), "--out", str(store), "--pixel-scale", "0.2"],
        ["mosaic", *files, "--out", str(store), "--pixel-scale", "-1"],
        ["mosaic", *files, "--out", str(store), "--scheduler", "gpu"],
        ["info", str(tmp_path / "nothing.zarr")],
        ["blot", str(tmp_path / "nothing.zarr"), "--like", files[0], "--out", "x.fits"],
    ]
    for argv in cases:
        assert cli(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("tiledrizzle: error: ") and err.count("\n") == 1, err
        assert "Traceback" not in err
    assert not store.exists()


def test_cli_skip_bad_lists_the_skipped_file(tmp_path, files, capsys):
    bad = tmp_path / "broken.fits"
    bad.write_text("garbage")
    rc = cli(["mosaic", *files, str(bad), "--out", str(tmp_path / "m.zarr"), "--skip-bad",
              "--pixel-scale", "0.2", "--scheduler", "sync", "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0 and "inputs used     : 3 of 4" in out and "broken.fits" in out


def test_cli_help_for_every_command(capsys):
    for command in ("mosaic", "info", "blot", "demo"):
        with pytest.raises(SystemExit) as exc:
            cli([command, "--help"])
        assert exc.value.code == 0
        assert "usage: tiledrizzle " + command in capsys.readouterr().out


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


def test_demo_recovers_star_fluxes(tmp_path, capsys):
    from tiledrizzle.cli.demo import run_demo

    result, summary = run_demo(n_exposures=2, workdir=str(tmp_path / "demo"), scheduler="sync")
    out = capsys.readouterr().out
    assert "star fluxes" in out and (tmp_path / "demo" / "mosaic.png").stat().st_size > 1000
    assert result.report["tiles_written"] > 0 and summary["n_stars"] >= 3
    # Flux conservation of the square kernel through the FITS + WCS path, on noisy stars.
    assert abs(summary["flux_ratio"] - 1.0) < 0.03, summary
    assert summary["coverage"] > 0.8


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
