"""The mosaic store's contract, seen through ``mosaic()``: a store of another grid, kernel or
pixfrac is refused untouched; one writer at a time (live locks refuse, stale ones are broken);
a path that cannot hold a store, a directory that is not one, or corrupted metadata are clear
errors that change no byte."""

import os
import time

import pytest
from helpers.mosaic_inputs import OUT_SHAPE, exposures, store_checksum

from tiledrizzle import MosaicStore, StoreError, mosaic


@pytest.mark.parametrize(
    "change, message",
    [
        ({"out_shape": (150, 171)}, "grid shape"),
        ({"tile_shape": (64, 32)}, "tile shape"),
        ({"kernel": "point"}, "kernel"),
        ({"pixfrac": 0.5}, "pixfrac"),
    ],
)
def test_store_of_another_grid_is_refused_untouched(tmp_path, change, message):
    path = tmp_path / "m.zarr"
    base = {"out_shape": OUT_SHAPE, "tile_shape": (64, 64), "kernel": "square", "pixfrac": 1.0}
    mosaic(exposures(2, seed=1), path, **base)
    before = store_checksum(path)
    with pytest.raises(StoreError, match=message):
        mosaic(exposures(2, seed=9), path, **{**base, **change})
    assert store_checksum(path) == before


def test_second_writer_is_refused(tmp_path):
    import subprocess
    import sys

    from tiledrizzle import StoreLockedError

    path = tmp_path / "m.zarr"
    mosaic(exposures(2, seed=1), path, out_shape=OUT_SHAPE, tile_shape=(64, 64))
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store = MosaicStore.open(path)
        lock = os.path.join(store.path, ".tiledrizzle.lock")
        with open(lock, "w") as f:
            f.write(f'{{"pid": {holder.pid}, "host": "{os.uname().nodename}"}}')
        before = store_checksum(path)
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
            mosaic(exposures(2, seed=2), path, out_shape=OUT_SHAPE, tile_shape=(64, 64))
        assert store_checksum(path) == before
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: its stale lock no longer blocks the store.
    mosaic(exposures(2, seed=2), path, out_shape=OUT_SHAPE, tile_shape=(64, 64))
    assert not os.path.exists(lock)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_lock_of_an_exited_unreaped_or_replaced_holder_is_broken(tmp_path):
    import json
    import subprocess
    import sys

    from tiledrizzle import StoreLockedError
    from tiledrizzle.store.lock import LOCK_NAME

    path = tmp_path / "z.zarr"
    mosaic(exposures(1, seed=4), path, out_shape=OUT_SHAPE, tile_shape=(64, 64))
    lock = path / LOCK_NAME
    host = os.uname().nodename
    with open("/proc/self/stat") as f:
        my_start = int(f.read().rsplit(")", 1)[1].split()[19])

    def hold(pid, started=None):
        lock.write_text(json.dumps({"pid": pid, "host": host, "started": started}))

    # A holder that exited but was not reaped (a zombie) holds nothing.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{child.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.01)
    try:
        hold(child.pid)
        mosaic(exposures(2, seed=4), path, out_shape=OUT_SHAPE, tile_shape=(64, 64),
               allow_duplicates=True)  # fmt: skip
        assert not lock.exists()
    finally:
        child.wait()
    # A lock naming a live process (this one) with another start time: its number was
    # reused, the holder is gone. With this process's own start time it is held.
    hold(os.getpid(), my_start + 1)
    mosaic(exposures(3, seed=4), path, out_shape=OUT_SHAPE, tile_shape=(64, 64),
           allow_duplicates=True)  # fmt: skip
    assert not lock.exists()
    hold(os.getpid(), my_start)
    with pytest.raises(StoreLockedError, match=f"pid {os.getpid()}"):
        mosaic(exposures(4, seed=4), path, out_shape=OUT_SHAPE, tile_shape=(64, 64))
    lock.unlink()


def test_unwritable_store_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create"):
        mosaic(exposures(1), blocker / "m.zarr", out_shape=OUT_SHAPE)


def test_not_a_store_and_corrupted_metadata(tmp_path):
    import zarr

    path = tmp_path / "other.zarr"
    zarr.open_group(str(path), mode="w").attrs["x"] = 1
    with pytest.raises(StoreError, match="not a tiledrizzle mosaic store"):
        mosaic(exposures(1), path, out_shape=OUT_SHAPE)
    path = tmp_path / "m.zarr"
    mosaic(exposures(1), path, out_shape=OUT_SHAPE, tile_shape=(64, 64))
    g = zarr.open_group(str(path), mode="a")
    attrs = g.attrs["tiledrizzle"]
    del attrs["grid"]
    g.attrs["tiledrizzle"] = attrs
    before = store_checksum(path)
    with pytest.raises(StoreError, match="corrupted metadata"):
        mosaic(exposures(1), path, out_shape=OUT_SHAPE, tile_shape=(64, 64))
    assert store_checksum(path) == before
