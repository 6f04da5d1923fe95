"""Nothing the user did not name as an output is touched, a refusable mistake is refused
before any work, and every refusal is one line: outputs over inputs, empty or ignored
options, bad scheduler addresses and servers that never answer, a full disk, grids too
large to run, unparsable WCS keywords, compressed and non-ASCII inputs."""

import errno
import gzip
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import dask
import numpy as np
import pytest
from astropy.io import fits
from helpers.fits_files import fits_inputs, output_wcs
from helpers.mosaic_inputs import assert_identical, outputs, store_checksum

from tiledrizzle import FitsInputError, InputError, PlanError, export_fits, mosaic, plan_mosaic
from tiledrizzle.cli.commands import main as cli
from tiledrizzle.inputs.output_wcs import wcs_from_header_file, wcs_to_header_string
from tiledrizzle.store.zarr_store import MosaicStore


def _run(files, header, out, *extra):
    return ["mosaic", *files, "--out", str(out), "--wcs", header, "--tile", "32",
            "--scheduler", "sync", "--no-progress", *extra]  # fmt: skip


def _one_line(capsys, pattern):
    err = capsys.readouterr().err
    assert err.startswith("tiledrizzle: error: ") and err.count("\n") == 1, err
    assert pattern in err, err
    return err


@pytest.mark.parametrize("flag", ["--fits", "--preview", "--out"])
def test_an_output_over_an_input_is_refused_before_any_work(tmp_path, files, header, capsys,
                                                             flag):  # fmt: skip
    before = Path(files[0]).read_bytes()
    args = {"--out": str(tmp_path / "m.zarr")}
    args[flag] = files[0]
    argv = ["mosaic", *files, "--wcs", header, "--scheduler", "sync", "--no-progress"]
    for k, v in args.items():
        argv += [k, v]
    assert cli(argv) == 2
    _one_line(capsys, f"{flag} {files[0]!r} is an input file")
    assert Path(files[0]).read_bytes() == before
    assert not (tmp_path / "m.zarr").exists()


def test_two_outputs_on_one_file_are_refused(tmp_path, files, header, capsys):
    same = str(tmp_path / "x.fits")
    assert cli(_run(files, header, tmp_path / "m.zarr", "--fits", same, "--preview", same)) == 2
    _one_line(capsys, "--fits and --preview name the same file")


def test_empty_out_and_ignored_bad_bits_are_refused(tmp_path, files, header, capsys,
                                                    monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    listing = sorted(os.listdir(tmp_path))
    assert cli(_run(files, header, "")) == 2
    _one_line(capsys, "--out is empty")
    assert cli(_run(files, header, tmp_path / "m.zarr", "--bad-bits", "8")) == 2
    _one_line(capsys, "--bad-bits needs --dq-ext")
    assert sorted(os.listdir(tmp_path)) == listing


def test_demo_refuses_a_bad_kernel_before_touching_its_directory(tmp_path, capsys):
    work = tmp_path / "demo"
    (work / "mosaic.zarr").mkdir(parents=True)
    (work / "mosaic.zarr" / "keep").write_text("the user's")
    assert cli(["demo", "--workdir", str(work), "--kernel", "bogus"]) == 2
    _one_line(capsys, "argument --kernel: invalid choice: 'bogus'")
    assert (work / "mosaic.zarr" / "keep").read_text() == "the user's"
    assert sorted(os.listdir(work)) == ["mosaic.zarr"]


def test_a_malformed_scheduler_address_is_named(tmp_path, files, header, capsys):
    assert cli(_run(files, header, tmp_path / "m.zarr", "--scheduler", "foo:bar")) == 2
    _one_line(capsys, "scheduler address 'foo:bar' is not of the form HOST:PORT")


def test_a_server_that_never_answers_is_left_within_the_timeout(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held = []

    def accept_and_stay_silent():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept_and_stay_silent, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    t0 = time.perf_counter()
    try:
        with dask.config.set({"tiledrizzle.connect-timeout": "2s"}):
            with pytest.raises(InputError, match="no Dask scheduler replied within 2 s"):
                mosaic([dict(data=np.ones((8, 8), np.float32), exptime=1.0,
                             pixmap=np.dstack(np.mgrid[0:8, 0:8][::-1]).astype(float))],
                       tmp_path / "m.zarr", out_shape=(10, 10), tile_shape=(8, 8),
                       scheduler=address)  # fmt: skip
    finally:
        server.close()
    assert time.perf_counter() - t0 < 30
    assert not (tmp_path / "m.zarr").exists() or MosaicStore.open(tmp_path / "m.zarr")


def test_a_full_disk_says_which_store_and_how_to_go_on(tmp_path, files, header, capsys,
                                                        monkeypatch):  # fmt: skip
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(MosaicStore, "write_tile", no_space)
    store = tmp_path / "m.zarr"
    assert cli(_run(files, header, store)) == 2
    _one_line(capsys, f"no space left writing the store {str(store)!r}")
    monkeypatch.undo()
    assert cli(_run(files, header, store, "--resume")) == 0


@pytest.mark.parametrize("shape, tile, message", [
    ((1_000_000, 1_000_000), (1024, 1024), "at most 65536 per store"),
    ((2000, 2000), (1, 1), "at most 65536 per store"),
    ((20000, 20000), (10000, 10000), "use smaller tiles"),
])  # fmt: skip
def test_grids_that_cannot_run_are_refused_at_once(shape, tile, message):
    t0 = time.perf_counter()
    with pytest.raises(PlanError, match=message):
        plan_mosaic([dict(data=np.ones((8, 8), np.float32), exptime=1.0,
                          pixmap=np.dstack(np.mgrid[0:8, 0:8][::-1]).astype(float))],
                    out_shape=shape, tile_shape=tile)  # fmt: skip
    assert time.perf_counter() - t0 < 5


def test_a_tiny_pixel_scale_is_one_line(tmp_path, files, capsys):
    argv = ["mosaic", *files, "--out", str(tmp_path / "m.zarr"), "--pixel-scale", "1e-6",
            "--scheduler", "sync", "--no-progress"]  # fmt: skip
    assert cli(argv) == 2
    _one_line(capsys, "per store")
    assert not (tmp_path / "m.zarr").exists()


def test_facade_refuses_a_non_finite_pixfrac_before_any_change():
    from tiledrizzle.resample import Drizzle

    pm = np.dstack(np.mgrid[0:10, 0:10][::-1]).astype(float)
    d = Drizzle(out_shape=(12, 12))
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="'pixfrac' must be finite"):
            d.add_image(np.ones((10, 10), np.float32), exptime=1.0, pixmap=pm, pixfrac=bad)
        assert d.total_exptime == 0 and d.ctx_id == 0 and not d.out_wht.any()


def _with_card(src, dst, key, value):
    with fits.open(src) as h:
        for hdu in h[1:]:
            hdu.header[key] = value
        h.writeto(dst)


def test_an_unparsable_wcs_keyword_is_an_error_naming_file_and_keyword(tmp_path, files):
    bad = str(tmp_path / "bad.fits")
    _with_card(files[0], bad, "CDELT1", "-0.0001")  # a string where a number belongs
    with pytest.raises(FitsInputError, match=r"bad.fits\['SCI'\]: the header keyword CDELT1"):
        fits_inputs([bad])[0].describe()
    hdr = tmp_path / "bad.hdr"
    hdr.write_text(open(tmp_path / "out.hdr").read() if (tmp_path / "out.hdr").exists()
                   else wcs_to_header_string(output_wcs()))  # fmt: skip
    text = fits.Header.fromstring(hdr.read_text())
    text["CRVAL1"] = "ten"
    hdr.write_text(text.tostring())
    with pytest.raises(InputError, match="the header keyword CRVAL1 cannot be read"):
        wcs_from_header_file(hdr)


@pytest.mark.parametrize("opener", [gzip.open, None], ids=["gzip", "bzip2"])
def test_compressed_inputs_give_the_mosaic_of_the_plain_files(tmp_path, files, opener):
    import bz2

    packed = []
    for p in files:
        target = p + (".gz" if opener else ".bz2")
        with open(p, "rb") as src, (opener or bz2.open)(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        packed.append(target)
    kw = dict(wcs=output_wcs(), tile_shape=(32, 32), scheduler="sync")
    plain = mosaic(fits_inputs(files), tmp_path / "plain.zarr", **kw)
    squeezed = mosaic(fits_inputs(packed), tmp_path / "packed.zarr", **kw)
    assert_identical(outputs(squeezed), outputs(plain))


def test_non_ascii_input_names_export(tmp_path, files):
    named = str(tmp_path / "Café–α.fits")
    shutil.copy(files[0], named)
    store = tmp_path / "m.zarr"
    mosaic(fits_inputs([named]), store, wcs=output_wcs(), tile_shape=(32, 32))
    before = store_checksum(store)
    export_fits(store, tmp_path / "m.fits")
    with fits.open(tmp_path / "m.fits") as h:
        assert h["INPUTS"].data["NAME"][0] == "Caf\\xe9\\u2013\\u03b1.fits"
    assert store_checksum(store) == before
    assert MosaicStore.open(store).attrs["inputs"][0]["name"] == "Café–α.fits"
