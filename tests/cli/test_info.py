"""``tiledrizzle info`` tells what a store holds: its inputs, where the grid lies on the
sky, its coverage, sizes in human units, the fill value one way; ``--json`` for scripts."""

import json

import numpy as np
import pytest
import zarr
from helpers.fits_files import SCALE, fits_inputs, output_wcs, write_exposure

from tiledrizzle import mosaic
from tiledrizzle.cli.commands import main as cli
from tiledrizzle.products.summary import human_bytes, store_summary


@pytest.fixture
def store(tmp_path):
    files = [str(write_exposure(tmp_path / f"e{k}.fits", k, exptime=50.0 + k)) for k in range(3)]
    path = tmp_path / "m.zarr"
    mosaic(fits_inputs(files[:2]), path, wcs=rotated_wcs(), tile_shape=(32, 32), fillval=0)
    mosaic(fits_inputs(files[2:]), path, wcs=rotated_wcs(), tile_shape=(32, 32), fillval=0)
    return path


def rotated_wcs(degrees=30.0, shape=(110, 120)):
    w = output_wcs(shape)
    t = np.deg2rad(degrees)
    w.wcs.cdelt = [1.0, 1.0]
    w.wcs.cd = SCALE * np.array([[-np.cos(t), np.sin(t)], [np.sin(t), np.cos(t)]])
    w.array_shape = shape
    return w


def test_info_lists_inputs_sky_and_coverage(store, capsys):
    assert cli(["info", str(store)]) == 0
    out = capsys.readouterr().out
    assert "kernel          : square, pixfrac 1, fillval 0\n" in out
    for name, exptime, batch, ctx in (("e0.fits", 50, 1, 0), ("e1.fits", 51, 1, 1),
                                      ("e2.fits", 52, 2, 2)):  # fmt: skip
        row = next(line for line in out.splitlines() if line.strip().startswith(name))
        assert row.split()[1:] == [f"{exptime:.1f}", str(batch), str(ctx)], row
    assert "0.2 arcsec/pixel, rotation 30.00 deg" in out
    assert "centre          : RA 10.000000, Dec -30.000000" in out
    wht = zarr.open_group(str(store))["wht"][:]
    assert f"coverage        : {100 * (wht > 0).mean():.1f} %" in out
    assert "bytes on disk   : " in out and " KiB" in out


def test_json_is_the_same_summary(store, capsys):
    assert cli(["info", str(store), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == json.loads(json.dumps(store_summary(store)))
    assert [i["name"] for i in got["inputs"]] == ["e0.fits", "e1.fits", "e2.fits"]
    assert got["fillval"] == "0" and got["total_exptime"] == 153.0
    assert got["grid"]["tiles_written"] == got["grid"]["tiles"] == 16
    sky = got["sky"]
    w = rotated_wcs()
    corners = w.pixel_to_world_values([-0.5, 119.5], [-0.5, -0.5])
    assert sky["corners"][0] == pytest.approx([corners[0][0], corners[1][0]], abs=1e-9)
    assert sky["corners"][1] == pytest.approx([corners[0][1], corners[1][1]], abs=1e-9)
    assert sky["pixel_scale_arcsec"] == pytest.approx(0.2)
    assert sky["rotation_deg"] == pytest.approx(30.0, abs=1e-3)
    assert got["coverage"] == pytest.approx(
        (zarr.open_group(str(store))["wht"][:] > 0).mean(), abs=0
    )


def test_no_fill_value_is_nan_in_the_summary_and_info(tmp_path, capsys):
    f = str(write_exposure(tmp_path / "e.fits", 0))
    hdr = tmp_path / "o.hdr"
    from tiledrizzle.inputs.output_wcs import wcs_to_header_string

    hdr.write_text(wcs_to_header_string(output_wcs()))
    argv = ["mosaic", f, "--out", str(tmp_path / "m.zarr"), "--wcs", str(hdr), "--tile",
            "32", "--scheduler", "sync", "--no-progress"]  # fmt: skip
    assert cli(argv) == 0
    assert "fillval NaN" in capsys.readouterr().out
    assert cli(["info", str(tmp_path / "m.zarr")]) == 0
    assert "fillval NaN" in capsys.readouterr().out


def test_a_large_store_skips_the_coverage_unless_asked(store, capsys, monkeypatch):
    from tiledrizzle.products import summary

    monkeypatch.setattr(summary, "COVERAGE_MAX_PIXELS", 100)
    assert store_summary(store)["coverage"] is None
    assert cli(["info", str(store)]) == 0
    assert "not counted" in capsys.readouterr().out
    assert cli(["info", str(store), "--coverage"]) == 0
    assert "% of the grid has weight" in capsys.readouterr().out


def test_a_store_without_a_wcs_says_so(tmp_path, capsys):
    from helpers.mosaic_inputs import OUT_SHAPE, exposures

    mosaic(exposures(1, seed=2), tmp_path / "a.zarr", out_shape=OUT_SHAPE, tile_shape=(64, 64))
    assert cli(["info", str(tmp_path / "a.zarr")]) == 0
    out = capsys.readouterr().out
    assert "output WCS      : none" in out and "exp000" in out
    assert store_summary(tmp_path / "a.zarr")["sky"] is None


@pytest.mark.parametrize(
    "n, text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 2**30, "5.0 GiB")]
)
def test_human_bytes(n, text):
    assert human_bytes(n) == text
