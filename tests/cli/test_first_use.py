"""What a new user runs into first: reruns and repeated inputs never count an exposure
twice, every output path is checked before any work, options that would be ignored are
refused, and the command line behaves like the tools astronomers know (help with
defaults, --version, case-insensitive kernels, listed choices, quiet in a pipe)."""

import os
import shutil
import subprocess
import sys

import dask
import numpy as np
import pytest
import zarr
from astropy.io import fits
from helpers.fits_files import fits_inputs, output_wcs, write_exposure
from helpers.mosaic_inputs import OUT_SHAPE, exposures, store_checksum

from tiledrizzle import InputError, mosaic
from tiledrizzle.cli.commands import main as cli
from tiledrizzle.store.zarr_store import MosaicStore


def _argv(inputs, out, *extra, wcs=None):
    grid = ["--wcs", wcs] if wcs else []
    return ["mosaic", *inputs, "--out", str(out), *grid, "--tile", "32", "--scheduler",
            "sync", "--no-progress", *extra]  # fmt: skip


def _error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("tiledrizzle: error: ") and err.count("\n") == 1, err
    return err


def _record(path):
    attrs = MosaicStore.open(str(path)).attrs
    return attrs["total_exptime"], [i["name"] for i in attrs["inputs"]], len(attrs["batches"])


# -- the same exposure never counts twice unless asked ------------------------------------


def test_a_rerun_is_refused_and_leaves_the_store_as_it_was(tmp_path, files, header, capsys):
    out = tmp_path / "m.zarr"
    assert cli(_argv(files, out, wcs=header)) == 0
    once = _record(out)
    before = store_checksum(out)
    assert cli(_argv(files, out, wcs=header)) == 2
    err = _error(capsys)
    assert "input 0 (e0.fits) is the same exposure as 'e0.fits'" in err, err
    assert "--allow-duplicates" in err and "allow_duplicates=True" not in err, err
    assert store_checksum(out) == before and _record(out) == once

    assert cli(_argv(files, out, "--allow-duplicates", wcs=header)) == 0  # asked: added
    exptime, names, batches = _record(out)
    assert exptime == 2 * once[0] and names == 2 * once[1] and batches == 2


def test_overwrite_starts_the_store_afresh(tmp_path, files, header, capsys):
    out = tmp_path / "m.zarr"
    assert cli(_argv(files, out, wcs=header)) == 0
    once = _record(out)
    assert cli(_argv(files, out, "--overwrite", wcs=header)) == 0
    assert _record(out) == once
    assert not [p for p in os.listdir(tmp_path) if ".replaced-" in p]  # the old one is gone


def test_overwrite_puts_the_old_store_back_when_no_new_one_was_made(tmp_path, files, header,
                                                                     capsys):  # fmt: skip
    out = tmp_path / "m.zarr"
    assert cli(_argv(files, out, wcs=header)) == 0
    before = store_checksum(out)
    argv = _argv(files, out, "--overwrite", wcs=header)
    argv[argv.index("sync")] = "127.0.0.1:9"  # nothing listens there
    with dask.config.set({"tiledrizzle.connect-timeout": 1}):
        assert cli(argv) == 2
    _error(capsys)
    assert store_checksum(out) == before
    assert sorted(os.listdir(tmp_path)) == sorted(["m.zarr", "out.hdr", "e0.fits", "e1.fits"])
    assert cli(_argv(files, tmp_path / "n.zarr", wcs=header)) == 0  # the lock was let go
    assert cli(_argv(files, out, "--overwrite", wcs=header)) == 0


def test_overwrite_refuses_what_is_not_a_mosaic_store(tmp_path, files, header, capsys):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert cli(_argv(files, out, "--overwrite", wcs=header)) == 2
    assert "no mosaic store at" in _error(capsys)
    assert (out / "keep.txt").read_text() == "mine"


def test_the_same_file_given_again_in_one_run_is_refused(tmp_path, files, header, capsys):
    copy = tmp_path / "copy_of_e0.fits"
    shutil.copy(files[0], copy)
    for given in ([files[0], files[1], files[0]], [files[0], str(copy)]):
        out = tmp_path / "m.zarr"
        assert cli(_argv(given, out, wcs=header)) == 2
        err = _error(capsys)
        assert "is the same exposure as input 0 (e0.fits)" in err, err
        assert not out.exists()
    assert cli(_argv([files[0], str(copy)], out, "--allow-duplicates", wcs=header)) == 0
    assert _record(out)[1] == ["e0.fits", "copy_of_e0.fits"]


def test_a_file_changed_in_place_is_still_the_file_in_the_store(tmp_path, files, header,
                                                                capsys):  # fmt: skip
    out = tmp_path / "m.zarr"
    assert cli(_argv(files[:1], out, wcs=header)) == 0
    with fits.open(files[0], mode="update") as hdul:  # e.g. its WCS refined in place
        hdul["SCI"].header["CRVAL1"] += 1e-5
    assert cli(_argv(files[:1], out, wcs=header)) == 2
    assert "the same file (changed since)" in _error(capsys)


def test_same_pixels_under_another_pointing_are_another_exposure(tmp_path):
    rng = np.random.default_rng(1)
    same = {
        "SCI": rng.normal(1, 0.1, (60, 70)).astype(np.float32),
        "ERR": np.full((60, 70), 0.1, np.float32),
        "DQ": np.zeros((60, 70), np.uint16),
    }
    paths = []
    for k, checksum in ((0, False), (1, False), (2, True), (3, True)):
        p = write_exposure(tmp_path / f"s{k}.fits", k % 2, **same)
        if checksum:  # mission files carry DATASUM: the headers stand for the data
            with fits.open(p, mode="update") as hdul:
                for hdu in hdul:
                    hdu.add_checksum()
        paths.append(str(p))
    wcs = output_wcs()
    for pair in (paths[:2], paths[2:]):
        r = mosaic(fits_inputs(pair), tmp_path / f"{pair[0][-7:]}.zarr", wcs=wcs,
                   tile_shape=(32, 32), scheduler="sync")  # fmt: skip
        assert r.report["inputs_used"] == 2
    with pytest.raises(InputError, match="same exposure"):  # the DATASUM path tells copies
        mosaic(fits_inputs([paths[2], paths[2]]), tmp_path / "d.zarr", wcs=wcs,
               tile_shape=(32, 32), scheduler="sync")  # fmt: skip


def test_arrays_added_again_are_refused_in_the_python_api(tmp_path):
    inputs = exposures(2, seed=5)
    path = tmp_path / "a.zarr"
    kw = dict(out_shape=OUT_SHAPE, tile_shape=(64, 64), scheduler="sync")
    mosaic(inputs, path, **kw)
    before = store_checksum(path)
    with pytest.raises(InputError, match=r"input 0 \(exp000\) is the same exposure as 'exp000'"):
        mosaic([dict(e) for e in exposures(2, seed=5)], path, **kw)  # new arrays, same pixels
    assert store_checksum(path) == before
    with pytest.raises(InputError, match=r"input 1 \(exp000\) is the same exposure as input 0"):
        mosaic([inputs[0], inputs[0]], tmp_path / "b.zarr", **kw)
    assert not (tmp_path / "b.zarr").exists()
    star = dict(inputs[0], name="moved star")  # one pixel changed: another exposure
    star["data"] = inputs[0]["data"].copy()
    star["data"][40, 41] += 100.0
    mosaic([star], path, **kw)
    mosaic(inputs, path, allow_duplicates=True, **kw)
    assert len(MosaicStore.open(str(path)).attrs["batches"]) == 3


# -- every output path checked before any work ---------------------------------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--fits", "nodir/x.fits"], "--fits 'nodir/x.fits': the directory"),
        (["--preview", "nodir/x.png"], "--preview 'nodir/x.png': the directory"),
        (["--fits", "."], "--fits '.' is a directory"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_first(
    tmp_path, files, header, capsys, monkeypatch, extra, message
):
    monkeypatch.chdir(tmp_path)
    assert cli(_argv(files, "m.zarr", *extra, wcs=header)) == 2
    assert message in _error(capsys)
    assert not (tmp_path / "m.zarr").exists()


def test_an_existing_fits_or_preview_needs_overwrite(tmp_path, files, header, capsys):
    for flag, name in (("--fits", "m.fits"), ("--preview", "m.png")):
        target = tmp_path / name
        target.write_text("the user's")
        out = tmp_path / f"{name}.zarr"
        assert cli(_argv(files, out, flag, str(target), wcs=header)) == 2
        assert "exists (use --overwrite to replace it)" in _error(capsys)
        assert target.read_text() == "the user's" and not out.exists()
        assert cli(_argv(files, out, flag, str(target), "--overwrite", wcs=header)) == 0
        assert target.read_bytes() != b"the user's"
    with fits.open(tmp_path / "m.fits") as hdul:
        assert hdul["SCI"].data.shape == output_wcs().array_shape


def test_a_store_with_a_fits_name_is_refused_with_a_hint(tmp_path, files, header, capsys):
    assert cli(_argv(files, tmp_path / "m.fits", wcs=header)) == 2
    assert "use --fits for a FITS copy" in _error(capsys)
    assert not (tmp_path / "m.fits").exists()


# -- options that would be dropped are refused ----------------------------------------------


def test_grid_options_that_would_be_ignored_are_refused(tmp_path, files, header, capsys):
    out = tmp_path / "m.zarr"
    assert cli(_argv(files, out, "--pixel-scale", "0.1", wcs=header)) == 2
    assert "--pixel-scale fit a grid and --wcs gives one" in _error(capsys)
    assert cli(_argv(files[:1], out)) == 0  # a fitted grid
    for extra in (["--pixel-scale", "0.1"], ["--rotation", "30"]):
        assert cli(_argv(files[1:], out, *extra)) == 2
        assert "apply to a new store only" in _error(capsys)
    assert cli(_argv(files[1:], out, wcs=header)) == 2  # another grid than the store's
    assert "is not the grid of the store" in _error(capsys)
    assert _record(out)[1] == ["e0.fits"]
    assert cli(_argv(files[1:], out)) == 0  # the store's own grid


def test_the_store_grid_given_again_as_wcs_is_accepted(tmp_path, files, header):
    out = tmp_path / "m.zarr"
    assert cli(_argv(files[:1], out, wcs=header)) == 0
    assert cli(_argv(files[1:], out, wcs=header)) == 0
    assert _record(out)[1] == ["e0.fits", "e1.fits"]


# -- the command line --------------------------------------------------------------------


def test_help_shows_defaults_and_choices(capsys):
    with pytest.raises(SystemExit):
        cli(["mosaic", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "drizzle kernel (default: square)" in text
    assert "(default: 1.0)" in text and "(default: EXPTIME)" in text
    with pytest.raises(SystemExit):
        cli(["blot", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "nearest,linear,poly3,poly5,lanczos3,lanczos5,sinc" in text
    assert "(default: poly5)" in text


def test_version(capsys):
    from tiledrizzle import __version__

    with pytest.raises(SystemExit) as done:
        cli(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"tiledrizzle {__version__}"


def test_kernel_names_are_case_insensitive(tmp_path, files, header):
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    assert cli(_argv(files, a, "--kernel", "Square", wcs=header)) == 0
    assert cli(_argv(files, b, wcs=header)) == 0
    for name in ("img", "wht", "ctx"):
        np.testing.assert_array_equal(zarr.open_group(a)[name][:], zarr.open_group(b)[name][:])
    assert MosaicStore.open(str(a)).attrs["kernel"] == "square"


def test_info_into_a_closed_pipe_ends_quietly(tmp_path, files, header):
    out = tmp_path / "m.zarr"
    assert cli(_argv(files, out, wcs=header)) == 0
    script = (
        "import sys; from tiledrizzle.cli.commands import run; "
        f"sys.argv = ['tiledrizzle', 'info', {str(out)!r}]; run()"
    )
    # A reader that has gone (as 'head' does once it has its lines): writes meet a closed
    # pipe.
    with open(tmp_path / "err.txt", "wb") as err_file:
        info = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                stderr=err_file)  # fmt: skip
        info.stdout.close()
        assert info.wait(timeout=60) != 0
    err = (tmp_path / "err.txt").read_text()
    assert err == "", err


def test_a_bad_fillval_is_the_reference_message_in_the_facade_and_names_the_flag(
    tmp_path, files, header, capsys
):
    from drizzle.resample import Drizzle as RefDrizzle

    from tiledrizzle.resample import Drizzle

    with pytest.raises(ValueError) as ref:
        RefDrizzle(out_shape=(4, 4), fillval="fillval")
    with pytest.raises(ValueError) as ours:
        Drizzle(out_shape=(4, 4), fillval="fillval")
    assert str(ours.value) == str(ref.value) == "could not convert string to float: 'fillval'"
    assert cli(_argv(files, tmp_path / "m.zarr", "--fillval", "zero", wcs=header)) == 2
    assert "--fillval: could not convert string to float: 'zero'" in _error(capsys)
