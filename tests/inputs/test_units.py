"""The mosaic's units are stated and its values mean what they say: counts and rates per
output pixel (aperture sums conserve flux across pixel scales), surface brightness as it
is, per input pixel on request; BUNIT reaches the store, ``info`` and the FITS export;
inputs of different units are not averaged; ``--exptime`` stands in for a missing
keyword."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from helpers.fits_files import SCALE, SHAPE, write_exposure

from tiledrizzle import FitsExposure, InputError, export_fits, mosaic
from tiledrizzle.cli.commands import main as cli
from tiledrizzle.inputs.output_wcs import wcs_to_header_string
from tiledrizzle.inputs.units import is_surface_brightness, pixel_area_ratio

FINE = 0.5  # output pixel over input pixel (linear)


def fine_wcs(shape=(150, 160)):
    """An output grid with pixels half the inputs' size, around the inputs."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [10.0, -30.0]
    w.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    w.wcs.cdelt = [-SCALE * FINE, SCALE * FINE]
    w.array_shape = shape
    return w


def star_file(path, bunit="DN/s", k=1, with_exptime=True):
    """One exposure holding a Gaussian star on a zero background (no bad pixels)."""
    y, x = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    star = 500.0 * np.exp(-((x - 35.0) ** 2 + (y - 30.0) ** 2) / (2 * 2.0**2))
    extra = {"BUNIT": bunit} if bunit else {}
    p = write_exposure(path, k, header_extra=extra, SCI=star.astype(np.float32),
                       DQ=np.zeros(SHAPE, np.uint16))  # fmt: skip
    if not with_exptime:
        with fits.open(p, mode="update") as hdul:
            del hdul[0].header["EXPTIME"]
    return str(p), float(star.astype(np.float32).sum())


def run(paths, out, tmp_path, **kw):
    inputs = [FitsExposure(p, weight="exptime", pixmap_mode="exact", **kw) for p in paths]
    return mosaic(inputs, tmp_path / out, wcs=fine_wcs(), tile_shape=(50, 50), scheduler="sync")


@pytest.mark.parametrize(
    "bunit, expected", [("MJy/sr", True), ("MJy sr-1", True), ("uJy/arcsec2", True),
                        ("DN/s", False), ("ELECTRONS/S", False), ("electron", False),
                        ("", False), (None, False), ("not a unit", False)],
)  # fmt: skip
def test_surface_brightness_is_told_from_per_pixel_units(bunit, expected):
    assert is_surface_brightness(bunit) is expected


def test_counts_are_per_output_pixel_so_aperture_sums_conserve_flux(tmp_path):
    path, total = star_file(tmp_path / "s.fits")
    scaled = run([path], "out.zarr", tmp_path)
    kept = run([path], "in.zarr", tmp_path, pixel_units="input")
    img_out, img_in = scaled.img.compute(), kept.img.compute()
    # The star's flux: summed over output pixels, per output pixel values keep it.
    assert np.nansum(img_out) == pytest.approx(total, rel=2e-3)
    # Per input pixel values sum to 1 / FINE^2 times the flux: what users were given before.
    assert np.nansum(img_in) == pytest.approx(total / FINE**2, rel=2e-3)
    ratio = pixel_area_ratio(FitsExposure(path).wcs or _described(path), fine_wcs(), SHAPE)
    assert ratio == pytest.approx(FINE**2, rel=2e-3)  # SIP makes it not exactly 0.25
    np.testing.assert_allclose(img_out, img_in * np.float32(ratio), rtol=2e-6, atol=1e-7)
    units = scaled.store.attrs["units"]
    assert units == {"bunit": "DN/s", "flux_per": "output pixel"}
    assert kept.store.attrs["units"] == {"bunit": "DN/s", "flux_per": "input pixel"}
    assert scaled.store.attrs["inputs"][0]["area_ratio"] == pytest.approx(ratio)


def _described(path):
    e = FitsExposure(path)
    e.describe()
    return e.wcs


def test_surface_brightness_is_left_as_it_is(tmp_path):
    path, total = star_file(tmp_path / "s.fits", bunit="MJy/sr")
    sb = run([path], "sb.zarr", tmp_path)
    kept = run([path], "in.zarr", tmp_path, pixel_units="input")
    np.testing.assert_array_equal(sb.img.compute(), kept.img.compute())
    assert np.nansum(sb.img.compute()) == pytest.approx(total / FINE**2, rel=2e-3)
    assert sb.store.attrs["units"] == {"bunit": "MJy/sr", "flux_per": "surface brightness"}


def test_bunit_reaches_info_and_the_fits_export(tmp_path, capsys):
    path, _ = star_file(tmp_path / "s.fits", bunit="DN/s")
    r = run([path], "m.zarr", tmp_path)
    export_fits(r.store, tmp_path / "m.fits")
    with fits.open(tmp_path / "m.fits") as hdul:
        for h in (hdul[0].header, hdul["SCI"].header):
            assert h["BUNIT"] == "DN/s" and h["PIXUNITS"] == "output pixel"
        assert any("per output pixel" in str(c) for c in hdul["SCI"].header["COMMENT"])
    assert cli(["info", str(tmp_path / "m.zarr")]) == 0
    assert "units           : DN/s per output pixel" in capsys.readouterr().out


def test_inputs_of_different_units_are_not_averaged(tmp_path):
    a, _ = star_file(tmp_path / "a.fits", bunit="DN/s", k=0)
    b, _ = star_file(tmp_path / "b.fits", bunit="MJy/sr", k=1)
    with pytest.raises(InputError, match=r"input 1 \(b.fits\) has BUNIT 'MJy/sr'"):
        run([a, b], "ab.zarr", tmp_path)
    run([a], "m.zarr", tmp_path)
    with pytest.raises(InputError, match=r"the store .* 'DN/s': a mosaic has one unit"):
        run([b], "m.zarr", tmp_path)
    c, _ = star_file(tmp_path / "c.fits", bunit="DN/s", k=2)
    with pytest.raises(InputError, match="values per 'input pixel'"):
        run([c], "m.zarr", tmp_path, pixel_units="input")


def test_cli_states_units_and_takes_exptime_for_files_without_the_keyword(tmp_path, capsys):
    path, total = star_file(tmp_path / "s.fits", with_exptime=False)
    hdr = tmp_path / "out.hdr"
    hdr.write_text(wcs_to_header_string(fine_wcs()))
    argv = ["mosaic", path, "--out", str(tmp_path / "m.zarr"), "--wcs", str(hdr), "--tile",
            "50", "--scheduler", "sync", "--no-progress"]  # fmt: skip
    assert cli(argv) == 2
    assert "exposure time keyword 'EXPTIME' not found" in capsys.readouterr().err
    assert cli([*argv, "--exptime", "250"]) == 0
    out = capsys.readouterr().out
    assert "units           : DN/s per output pixel" in out
    from tiledrizzle.store.zarr_store import MosaicStore

    attrs = MosaicStore.open(str(tmp_path / "m.zarr")).attrs
    assert attrs["total_exptime"] == 250.0
    assert cli([*argv, "--exptime", "250", "--pixel-units", "input", "--overwrite"]) == 0
    attrs = MosaicStore.open(str(tmp_path / "m.zarr")).attrs
    assert attrs["units"]["flux_per"] == "input pixel"
