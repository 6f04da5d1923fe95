"""Nothing lost, nothing counted twice: a store is complete or recoverable after a kill at
any structural change, a failed batch can be undone to the store it found, a batch is
recorded only once everything checkable was checked, a lost tile marker is corruption,
and a stale lock is taken over by one process only.

Kills are injected deterministically: ``os._exit`` in a child process at a chosen call,
or an exception at a chosen call (which runs no engine clean-up but the lock's release).
"""

import multiprocessing
import os
import subprocess
import sys
import textwrap

import dask
import numpy as np
import pytest
from helpers.fits_files import fits_inputs, output_wcs, write_exposure
from helpers.mosaic_inputs import OUT_SHAPE, assert_identical, exposures, outputs, store_checksum

from tiledrizzle import (
    FitsInputError,
    InputError,
    MosaicStore,
    StoreError,
    StoreLockedError,
    abort_batch,
    mosaic,
)
from tiledrizzle.cli.commands import main as cli
from tiledrizzle.store import lock as lock_mod
from tiledrizzle.store.zarr_store import MosaicStore as Store

TILE = (40, 40)
KW = dict(out_shape=OUT_SHAPE, tile_shape=TILE, scheduler="sync")


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the engine catches it."""


def _kill_on(monkeypatch, owner, name, when=lambda *a, **k: True):
    real = getattr(owner, name)

    def dying(*args, **kwargs):
        if when(*args, **kwargs):
            raise Killed(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, dying)


def _state(path):
    st = MosaicStore.open(path)
    a = dict(st.attrs)
    a.pop("store_id")
    arrays = {n: st.group[n][...] for n in ("img", "wht", "ctx")}
    arrays.update({f"img2/{k}": st.group[f"img2/{k}"][...] for k in range(a["n_img2"])})
    if a["has_dq"]:
        arrays["dq"] = st.group["dq"][...]
    return a, arrays


def _assert_same_state(a, b):
    assert a[0] == b[0]
    assert_identical(a[1], b[1])


# -- structural changes are complete or recoverable ---------------------------------------


def test_a_kill_while_creating_leaves_no_store_and_the_next_run_creates_it(tmp_path):
    path = tmp_path / "m.zarr"
    child = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(os.path.join(os.path.dirname(__file__), os.pardir))!r})
        from helpers.mosaic_inputs import OUT_SHAPE, exposures
        from tiledrizzle.store import zarr_store
        real_codec = zarr_store._codec
        calls = []
        def dying_codec():
            calls.append(1)
            if len(calls) == 2:  # between the img and wht arrays of the new store
                os._exit(9)
            return real_codec()
        zarr_store._codec = dying_codec
        from tiledrizzle import mosaic
        mosaic(exposures(2, seed=1), {str(path)!r}, out_shape=OUT_SHAPE, tile_shape=(40, 40),
               scheduler="sync")
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert not path.exists()  # no half-made store under the user's name
    debris = [n for n in os.listdir(tmp_path) if n.startswith(".m.zarr.creating-")]
    assert len(debris) == 1
    r = mosaic(exposures(2, seed=1), path, **KW)
    assert r.report["tiles_written"] > 0
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".m.zarr.creating-")]


@pytest.mark.parametrize("what", ["dq", "img2"])
def test_a_kill_between_adding_an_array_and_recording_it_resumes(tmp_path, monkeypatch, what):
    inputs = exposures(4, seed=2, data2=what == "img2", dq=what == "dq")
    clean = tmp_path / "clean.zarr"
    mosaic(inputs[:2], clean, **KW)
    mosaic(inputs[2:], clean, **KW)

    path = tmp_path / "m.zarr"
    if what == "dq":  # dq arrives with the second batch
        mosaic([dict(e, dq=None) for e in inputs[:2]], path, **KW)
        mosaic([dict(e, dq=None) for e in inputs[:2]], clean2 := tmp_path / "c2.zarr", **KW)
        mosaic(inputs[2:], clean2, **KW)
        clean = clean2
        batch_inputs = inputs[2:]
    else:  # img2 arrives with the first batch
        batch_inputs = inputs
        mosaic(inputs, clean3 := tmp_path / "c3.zarr", **KW)
        clean = clean3
    key = "has_dq" if what == "dq" else "n_img2"
    _kill_on(monkeypatch, Store, "update_attrs", lambda self, **changes: key in changes)
    with pytest.raises(Killed):
        mosaic(batch_inputs, path, **KW)
    monkeypatch.undo()
    # Today's layout check refuses it, or the array's existence blocks the rerun.
    r = mosaic(batch_inputs, path, resume=True, **KW)
    assert_identical(outputs(r), _state(clean)[1])


# -- a batch is recorded only after the checks; it can be undone -------------------------


def test_an_unreachable_scheduler_records_no_batch(tmp_path):
    path = tmp_path / "m.zarr"
    mosaic(exposures(2, seed=3), path, **KW)
    before = store_checksum(path)
    with dask.config.set({"tiledrizzle.connect-timeout": "2s"}):
        with pytest.raises(InputError, match="cannot connect to the Dask scheduler"):
            mosaic(exposures(2, seed=4), path, out_shape=OUT_SHAPE, tile_shape=TILE,
                   scheduler="tcp://127.0.0.1:9")  # fmt: skip
    assert store_checksum(path) == before
    r = mosaic(exposures(2, seed=4), path, **KW)  # no resume needed: nothing is pending
    assert r.report["batch"] == 2


def test_a_truncated_input_fails_before_the_batch_is_recorded(tmp_path):
    files = [str(write_exposure(tmp_path / f"e{k}.fits", k, ERR=None, DQ=None)) for k in range(3)]
    opts = dict(err_ext=None, dq_ext=None, weight="exptime")
    path = tmp_path / "m.zarr"
    mosaic(fits_inputs(files[:2], **opts), path, wcs=output_wcs(), tile_shape=(32, 32))
    before = store_checksum(path)
    size = os.path.getsize(files[2])
    with open(files[2], "r+b") as f:
        f.truncate(size - 2000)  # the header is whole; the last rows of the pixels are gone
    with pytest.raises(FitsInputError, match="e2.fits.*truncated"):
        mosaic(fits_inputs(files[2:], **opts), path, wcs=output_wcs(), tile_shape=(32, 32))
    assert store_checksum(path) == before
    assert MosaicStore.open(path).attrs["batches"][-1]["status"] == "complete"


@pytest.mark.parametrize("extra", [{}, {"dq": True}], ids=["plain", "batch-adds-dq"])
def test_an_aborted_batch_leaves_the_store_as_it_was(tmp_path, monkeypatch, extra):
    inputs = exposures(6, seed=5, **extra)
    first = [dict(e, dq=None) for e in inputs[:3]]
    path = tmp_path / "m.zarr"
    mosaic(first, path, **KW)
    before = _state(path)
    writes = []
    _kill_on(monkeypatch, Store, "write_tile", lambda *a, **k: writes.append(1) or len(writes) > 5)
    with pytest.raises(Killed):
        mosaic(inputs[3:], path, **KW)
    monkeypatch.undo()
    assert MosaicStore.open(path).attrs["batches"][-1]["status"] == "running"
    assert abort_batch(path) == 2
    _assert_same_state(_state(path), before)
    with pytest.raises(StoreError, match="no interrupted batch to abort"):
        abort_batch(path)
    # The store goes on as if the aborted batch had never run.
    again = mosaic(inputs[3:], path, **KW)
    clean = tmp_path / "clean.zarr"
    mosaic(first, clean, **KW)
    assert_identical(outputs(again), outputs(mosaic(inputs[3:], clean, **KW)))


def test_the_first_batch_aborted_leaves_an_empty_store(tmp_path, monkeypatch):
    path = tmp_path / "m.zarr"
    _kill_on(monkeypatch, Store, "write_tile", lambda *a, **k: True)
    with pytest.raises(Killed):
        mosaic(exposures(3, seed=6, data2=True, dq=True), path, **KW)
    monkeypatch.undo()
    abort_batch(path)
    attrs, arrays = _state(path)
    assert attrs["batches"] == [] and attrs["n_img2"] == 0 and not attrs["has_dq"]
    assert np.isnan(arrays["img"]).all() and not arrays["wht"].any()
    assert "dq" not in MosaicStore.open(path).group


def test_cli_abort_and_the_hints(tmp_path, monkeypatch, capsys):
    files = [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(2)]
    hdr = tmp_path / "out.hdr"
    from tiledrizzle.inputs.output_wcs import wcs_to_header_string

    hdr.write_text(wcs_to_header_string(output_wcs()))
    store = str(tmp_path / "m.zarr")
    run = ["mosaic", *files, "--out", store, "--wcs", str(hdr), "--tile", "32",
           "--scheduler", "sync", "--no-progress"]  # fmt: skip
    _kill_on(monkeypatch, Store, "write_tile", lambda *a, **k: True)
    with pytest.raises(Killed):
        cli(run)
    monkeypatch.undo()
    capsys.readouterr()
    assert cli(run) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--abort" in err and "resume=True" not in err
    assert cli(["mosaic", "--out", store, "--abort"]) == 0
    assert "batch 1 undone" in capsys.readouterr().out
    assert cli(["mosaic", "--out", store, "--abort"]) == 2
    assert "no interrupted batch" in capsys.readouterr().err
    assert cli(run) == 0


# -- resume continues a batch, with its inputs and options --------------------------------


def test_resume_of_a_finished_batch_adds_nothing(tmp_path):
    path = tmp_path / "m.zarr"
    inputs = exposures(2, seed=7)
    mosaic(inputs, path, **KW)
    before = store_checksum(path)
    with pytest.raises(StoreError, match="no interrupted batch to resume"):
        mosaic(inputs, path, resume=True, **KW)
    assert store_checksum(path) == before


def test_resume_with_other_options_is_refused(tmp_path, monkeypatch):
    files = [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(3)]
    path = tmp_path / "m.zarr"
    kw = dict(wcs=output_wcs(), tile_shape=(32, 32), scheduler="sync")
    _kill_on(monkeypatch, Store, "write_tile", lambda *a, **k: True)
    with pytest.raises(Killed):
        mosaic(fits_inputs(files, weight="ivm"), path, **kw)
    monkeypatch.undo()
    with pytest.raises(StoreError, match=r"same inputs and options.*input 0 \(e0.fits\) differs"):
        mosaic(fits_inputs(files, weight="uniform", units="counts"), path, resume=True, **kw)
    r = mosaic(fits_inputs(files, weight="ivm"), path, resume=True, **kw)
    assert r.report["tiles_written"] > 0


def test_resume_with_other_array_values_is_refused(tmp_path, monkeypatch):
    inputs = exposures(3, seed=8)
    path = tmp_path / "m.zarr"
    _kill_on(monkeypatch, Store, "write_tile", lambda *a, **k: True)
    with pytest.raises(Killed):
        mosaic(inputs, path, **KW)
    monkeypatch.undo()
    other = [dict(e) for e in inputs]
    other[1]["data"] = other[1]["data"] * 2
    with pytest.raises(StoreError, match=r"input 1 \(exp001\) differs"):
        mosaic(other, path, resume=True, **KW)


@pytest.mark.parametrize("first, second", [(True, False), (False, True)])
def test_variance_planes_must_agree_with_the_stores_inputs(tmp_path, first, second):
    path = tmp_path / "m.zarr"
    inputs = exposures(4, seed=9, data2=True)
    strip = lambda es: [dict(e, data2=None) for e in es]  # noqa: E731
    mosaic(inputs[:2] if first else strip(inputs[:2]), path, **KW)
    before = store_checksum(path)
    with pytest.raises(InputError, match="variance"):
        mosaic(inputs[2:] if second else strip(inputs[2:]), path, **KW)
    assert store_checksum(path) == before


# -- markers ---------------------------------------------------------------------------


def _written_tile(path):
    st = MosaicStore.open(path)
    ty, tx = (int(v[0]) for v in np.nonzero(st.tile_batches()))
    return st, (ty, tx)


def test_a_lost_tile_marker_is_corruption_not_a_blank_tile(tmp_path):
    path = tmp_path / "m.zarr"
    inputs = exposures(4, seed=10)
    mosaic(inputs[:2], path, **KW)
    st, (ty, tx) = _written_tile(path)
    os.remove(os.path.join(st.path, "tile_batch", "c", str(ty), str(tx)))
    before = store_checksum(path)
    with pytest.raises(StoreError, match=rf"tile \({ty}, {tx}\) holds data but its marker"):
        mosaic(inputs[:2], path, allow_duplicates=True, **KW)
    assert store_checksum(path) == before


def test_an_undecodable_marker_is_one_line_naming_the_tile(tmp_path, capsys):
    path = tmp_path / "m.zarr"
    mosaic(exposures(2, seed=11), path, **KW)
    st, (ty, tx) = _written_tile(path)
    with open(os.path.join(st.path, "tile_batch", "c", str(ty), str(tx)), "wb") as f:
        f.write(b"\x00garbage")
    with pytest.raises(StoreError, match="corrupted"):
        mosaic(exposures(2, seed=12), path, **KW)


# -- the writer lock ---------------------------------------------------------------------


def _take_after_barrier(store, barrier, results):
    real = lock_mod._holder_is_dead

    def judged_together(holder):
        dead = real(holder)
        try:
            barrier.wait(timeout=3)  # both processes have judged the same stale lock
        except Exception:
            pass
        return dead

    lock_mod._holder_is_dead = judged_together
    try:
        lock_mod.WriterLock(store).acquire()
        results.put("took")
        barrier_hold = 3.0  # keep it while the other process tries
        import time

        time.sleep(barrier_hold)
    except StoreLockedError:
        results.put("refused")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_a_stale_lock_is_taken_over_by_one_process_only(tmp_path):
    store = str(tmp_path / "m.zarr")
    os.makedirs(store)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with open(os.path.join(store, lock_mod.LOCK_NAME), "w") as f:
        f.write(f'{{"pid": {dead.pid}, "host": "{os.uname().nodename}"}}')
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_take_after_barrier, args=(store, barrier, results))
             for _ in range(2)]  # fmt: skip
    for p in procs:
        p.start()
    got = sorted(results.get(timeout=30) for _ in procs)
    for p in procs:
        p.join(10)
    assert got == ["refused", "took"]


def test_abort_blanks_a_new_tile_killed_between_its_data_and_its_mark(tmp_path, monkeypatch):
    path = tmp_path / "m.zarr"
    mosaic(exposures(2, seed=13), path, **KW)
    before = _state(path)
    real = Store._write_state

    def data_then_kill(self, prefix, tile, state):
        real(self, prefix, tile, state)
        if prefix == "" and self.tile_marks(tile)[0] == 0:
            raise Killed("after the data of a new tile, before its commit mark")

    monkeypatch.setattr(Store, "_write_state", data_then_kill)
    with pytest.raises(Killed):
        mosaic(exposures(3, seed=14), path, **KW)  # reaches tiles the first batch did not
    monkeypatch.undo()
    written = MosaicStore.open(path).tiles_written()
    abort_batch(path)
    _assert_same_state(_state(path), before)
    assert MosaicStore.open(path).tiles_written() <= written


# -- readers refuse what is not finished; damaged chunks are named ----------------------


def _interrupted(tmp_path, monkeypatch):
    path = tmp_path / "m.zarr"
    mosaic(exposures(2, seed=15), path, **KW)
    writes = []
    _kill_on(monkeypatch, Store, "write_tile", lambda *a, **k: writes.append(1) or len(writes) > 2)
    with pytest.raises(Killed):
        mosaic(exposures(3, seed=16), path, **KW)
    monkeypatch.undo()
    return path


def test_blot_preview_and_export_refuse_an_unfinished_batch(tmp_path, monkeypatch):
    from tiledrizzle import blot_mosaic, export_fits, preview_png

    path = _interrupted(tmp_path, monkeypatch)
    y, x = np.mgrid[0:20, 0:20].astype(float)
    for call in (
        lambda: blot_mosaic(path, np.dstack([x + 10, y + 10])),
        lambda: preview_png(path, tmp_path / "p.png"),
        lambda: export_fits(path, tmp_path / "m.fits"),
    ):
        with pytest.raises(StoreError, match="unfinished batch 2"):
            call()
    assert not (tmp_path / "p.png").exists() and not (tmp_path / "m.fits").exists()


def test_info_says_a_batch_is_interrupted(tmp_path, monkeypatch, capsys):
    path = _interrupted(tmp_path, monkeypatch)
    assert cli(["info", str(path)]) == 0
    assert "running (interrupted: tiles mix two batches until --resume or --abort)" in (
        capsys.readouterr().out
    )


def _damage_a_chunk(path, array="img"):
    st, (ty, tx) = _written_tile(path)
    chunk = os.path.join(st.path, array, "c", str(ty), str(tx))
    with open(chunk, "r+b") as f:
        f.seek(20)
        f.write(b"\xff" * 40)
    return ty, tx


def test_a_damaged_chunk_is_one_line_naming_array_and_chunk(tmp_path, capsys):
    path = tmp_path / "m.zarr"
    files = [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(2)]
    mosaic(fits_inputs(files), path, wcs=output_wcs(), tile_shape=(32, 32), scheduler="sync")
    ty, tx = _damage_a_chunk(path)
    for argv in (
        ["mosaic", "--out", str(path), "--fits", str(tmp_path / "x.fits"), *files[:1],
         "--tile", "32", "--scheduler", "sync", "--no-progress", "--dq-ext", "DQ",
         "--err-ext", "ERR", "--bad-bits", "8", "--weight", "ivm", "--allow-duplicates"],
        ["info", str(path)],
    ):  # fmt: skip
        rc = cli(argv)
        err = capsys.readouterr().err
        if argv[0] == "info":  # info reads metadata and markers only: it still answers
            assert rc == 0 and err == ""
            continue
        assert rc == 2, argv
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert "'img'" in err and f"chunk ({ty}, {tx})" in err, err
    from tiledrizzle import blot_mosaic

    ny, nx = MosaicStore.open(path).meta.grid.shape
    y, x = np.mgrid[0:ny, 0:nx].astype(float)
    with pytest.raises(StoreError, match=rf"'img'.*chunk \({ty}, {tx}\)"):
        blot_mosaic(path, np.dstack([x, y]), interp="nearest")


def test_info_on_a_store_of_many_tiles_stays_fast(tmp_path, capsys):
    import time

    path = tmp_path / "m.zarr"
    pm = np.dstack(np.mgrid[0:8, 0:8][::-1]).astype(float) + 100.0
    mosaic([dict(data=np.ones((8, 8), np.float32), exptime=1.0, pixmap=pm)], path,
           out_shape=(240, 250), tile_shape=(1, 1), scheduler="sync")  # fmt: skip
    t0 = time.perf_counter()
    assert cli(["info", str(path)]) == 0
    assert time.perf_counter() - t0 < 5
    out = capsys.readouterr().out
    st = MosaicStore.open(path)
    written = st.tiles_written()
    assert written == int((st.tile_batches() > 0).sum()) >= 64
    assert f"tiles written   : {written} of 60000" in out
