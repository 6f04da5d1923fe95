"""The ``tiledrizzle`` command: mosaic, info, blot and help; a user's mistake is one line
and exit status 2, a bug shows its traceback."""

import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from helpers.fits_files import SHAPE, fits_inputs, output_wcs, write_exposure

from tiledrizzle import mosaic
from tiledrizzle.cli import commands
from tiledrizzle.cli.commands import main as cli
from tiledrizzle.core.errors import InputError, PlanError, StoreError, StoreLockedError
from tiledrizzle.inputs.output_wcs import wcs_to_header_string
from tiledrizzle.store.zarr_store import MosaicStore


@pytest.fixture
def files(tmp_path):
    return [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(3)]


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


def test_cli_mosaic_preview_format_stretch_and_array(tmp_path, files, capsys):
    from PIL import Image

    from tiledrizzle.products.preview import preview_png

    store, quick = tmp_path / "m.zarr", tmp_path / "quick.JPEG"
    rc = cli(["mosaic", *files, "--out", str(store), "--pixel-scale", "0.2", "--tile", "32",
              "--scheduler", "sync", "--no-progress", "--preview", str(quick),
              "--stretch", "zscale", "--preview-of", "wht"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    with Image.open(quick) as im:
        assert im.format == "JPEG" and im.mode == "L"
    # the preview the options asked for: the weight map, zscale levels
    preview_png(store, tmp_path / "same.jpg", stretch="zscale", array="wht")
    assert quick.read_bytes() == (tmp_path / "same.jpg").read_bytes()
    preview_png(store, tmp_path / "img.jpg")
    assert quick.read_bytes() != (tmp_path / "img.jpg").read_bytes()


@pytest.mark.parametrize("name", ["quick.tif", "quick.png.txt", "quick"])
def test_cli_mosaic_refuses_a_preview_format_before_any_work(tmp_path, files, capsys, name):
    store = tmp_path / "m.zarr"
    preview = str(tmp_path / name)
    rc = cli(["mosaic", *files, "--out", str(store), "--pixel-scale", "0.2",
              "--scheduler", "sync", "--no-progress", "--preview", preview])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert err.startswith("tiledrizzle: error: --preview: ") and ".png, .jpg or .jpeg" in err
    assert not store.exists() and not (tmp_path / name).exists()


def test_cli_help_for_every_command(capsys):
    for command in ("mosaic", "info", "blot", "demo"):
        with pytest.raises(SystemExit) as exc:
            cli([command, "--help"])
        assert exc.value.code == 0
        assert "usage: tiledrizzle " + command in capsys.readouterr().out


@pytest.mark.parametrize(
    "error",
    [
        InputError("'pixfrac' must be positive"),
        PlanError("give the output grid"),
        StoreError("no mosaic store at 'x'"),
        StoreLockedError("the store 'x' is being written by another job"),
        FileNotFoundError(2, "No such file or directory", "x.fits"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_user_error_class_is_one_line_and_status_2(monkeypatch, capsys, error):
    def refuse(args):
        raise error

    monkeypatch.setitem(commands.COMMANDS, "info", refuse)
    assert cli(["info", "some.zarr"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tiledrizzle: error: ") and err.count("\n") == 1, err
    assert str(error).split(":")[0] in err


@pytest.mark.parametrize("bug", [ZeroDivisionError, KeyError, ValueError, TypeError])
def test_a_bug_is_not_dressed_as_a_user_error(monkeypatch, capsys, bug):
    # A plain ValueError/TypeError is no TiledrizzleError: it came from our code or a library,
    # so the user must see where.
    def broken(args):
        raise bug("internal")

    monkeypatch.setitem(commands.COMMANDS, "info", broken)
    with pytest.raises(bug):
        cli(["info", "some.zarr"])
    assert "tiledrizzle: error" not in capsys.readouterr().err


def test_a_bug_in_the_installed_command_prints_its_traceback(tmp_path):
    script = (
        "import sys; import tiledrizzle.cli.commands as c\n"
        "def broken(args):\n"
        "    return {}['no such key']\n"
        "c.COMMANDS['info'] = broken\n"
        "sys.argv = ['tiledrizzle', 'info', 'x.zarr']\n"
        "c.run()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    assert "KeyError: 'no such key'" in proc.stderr and "tiledrizzle: error" not in proc.stderr


def test_demo_recovers_star_fluxes(tmp_path, capsys):
    from PIL import Image

    from tiledrizzle.cli.demo import ZOOM_SIZE, run_demo

    result, summary = run_demo(n_exposures=2, workdir=str(tmp_path / "demo"), scheduler="sync")
    out = capsys.readouterr().out
    assert "star fluxes" in out and (tmp_path / "demo" / "mosaic.png").stat().st_size > 1000
    # The preview: the whole mosaic, then a crop at the mosaic's pixel scale, enlarged.
    ny, nx = result.plan.grid.shape
    rep = ny // ZOOM_SIZE
    png = np.asarray(Image.open(tmp_path / "demo" / "mosaic.png"))
    assert rep >= 2 and png.shape == (ny, nx + 8 + ZOOM_SIZE * rep)
    zy, zx = summary["zoom"]
    assert result.wht[zy, zx].compute() > 0 and f"around a bright star at x={zx}, y={zy}" in out
    assert result.report["tiles_written"] > 0 and summary["n_stars"] >= 3
    # Flux conservation of the square kernel through the FITS + WCS path, on noisy stars.
    assert abs(summary["flux_ratio"] - 1.0) < 0.03, summary
    assert summary["coverage"] > 0.8
