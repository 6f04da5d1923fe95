"""Parts of the engine that only make it faster must not change a bit: the column search
that jumps, the reach bounds under strong magnification, the strip cache of lazy inputs,
the writer that writes tiles behind the kernels, and the planner's edge evaluation."""

import threading
import time
import warnings

import numpy as np
import pytest
from helpers.mosaic_inputs import assert_identical, outputs

from tiledrizzle import mosaic
from tiledrizzle.engine.input_plan import _block_edges
from tiledrizzle.engine.strips import StripCache
from tiledrizzle.engine.write_behind import TileWriteBehind
from tiledrizzle.kernels.footprint import map_step, window_columns
from tiledrizzle.kernels.reach import centre_reach
from tiledrizzle.resample import Drizzle


def _smooth_pixmap(rng, shape, scale, angle_deg, shear=1e-4):
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    t = np.deg2rad(angle_deg)
    u = scale * (np.cos(t) * x - np.sin(t) * y) + shear * scale * x * y
    v = scale * (np.sin(t) * x + np.cos(t) * y) + 2 * shear * scale * x * x
    return np.dstack([u + rng.uniform(0, 40), v + rng.uniform(0, 40)])


@pytest.mark.parametrize("seed", range(6))
def test_jumping_column_search_finds_the_same_columns(seed):
    rng = np.random.default_rng(seed)
    shape = (90, 120)
    pm = _smooth_pixmap(rng, shape, rng.uniform(0.3, 3.0), rng.uniform(-40, 40))
    x_first = np.zeros(shape[0], np.int32)
    x_last = np.full(shape[0], shape[1] - 1, np.int32)
    reach, reach_steps, halo = centre_reach("square", 1.0, np.float32(1.0))
    step = map_step(pm, 0, 0, 0, shape[0] - 1, 0, shape[1] - 1, 0)
    for _ in range(20):
        wx0, wy0 = rng.uniform(-20, 200, 2)
        wx1, wy1 = wx0 + rng.uniform(0, 80), wy0 + rng.uniform(0, 80)
        r0 = int(rng.integers(0, 60))
        args = (pm, 0, 0, r0, int(rng.integers(r0, 90)), 3, 110, x_first, x_last,
                wx0, wx1, wy0, wy1, reach, reach_steps, halo, step)  # fmt: skip
        walked = window_columns(*args, False)
        jumped = window_columns(*args, True)
        np.testing.assert_array_equal(walked[0], jumped[0])
        np.testing.assert_array_equal(walked[1], jumped[1])


def _untiled_weight(e, out_shape, pixfrac):
    """Σw of one input over the whole output: one kernel call, no planning, no narrowing."""
    from tiledrizzle.engine.scan import plan_scanlines
    from tiledrizzle.kernels.registry import KERNELS

    out_ny, out_nx = out_shape
    ny, nx = e["data"].shape
    scan = plan_scanlines(e["pixmap"], (0, nx - 1, 0, ny - 1), out_shape)
    flux, wht = np.zeros(out_shape), np.zeros(out_shape)
    no_dq, no_hits = np.zeros((0, 0), np.uint32), np.zeros((0, 0), np.uint8)
    KERNELS["square"].run(
        e["data"], np.ones_like(e["data"]), np.zeros((0, ny, nx), np.float32), no_dq,
        e["pixmap"], 0, 0, nx, ny, scan.row_first, scan.row_last, 0, nx - 1, scan.x_first,
        scan.x_last, out_nx, out_ny, 0, 0, flux, wht, np.zeros((0,) + out_shape),
        np.zeros(out_shape, np.int32), np.int32(1), no_dq, np.float32(1), np.float32(1),
        pixfrac, np.float32(1), no_hits,
    )  # fmt: skip
    return wht


@pytest.mark.parametrize("pixfrac, shear", [(1.0, 1e-4), (2.5, 1e-4), (1.0, 0.08), (2.5, 0.08)])
def test_strongly_magnified_inputs_lose_no_weight_at_tile_edges(tmp_path, pixfrac, shear):
    """Three output pixels per input pixel, and strong shear: the square kernel's corners
    at the input's corners are extrapolated far beyond their pixel, and the planner and
    the tasks must reach them. Every tiling holds the weight of one untiled kernel pass
    per input (no planning), and equals the facade bit for bit. (The reference package
    crashes on the sheared maps, so it is not the oracle here.)"""
    rng = np.random.default_rng(7)
    out_shape, in_shape = (160, 170), (24, 26)
    inputs = []
    for k in range(6):
        pm = _smooth_pixmap(rng, in_shape, 3.0, rng.uniform(-30, 30), shear)
        pm += np.array([rng.uniform(-10, 50), rng.uniform(-10, 40)])
        data = rng.normal(1, 0.2, in_shape).astype(np.float32)
        inputs.append({"data": data, "pixmap": pm, "exptime": 1.0, "name": f"m{k}",
                       "weight_map": np.ones(in_shape, np.float32)})  # fmt: skip
    expected = sum(_untiled_weight(e, out_shape, pixfrac) for e in inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        facade = Drizzle(kernel="square", out_shape=out_shape)
        for e in inputs:
            facade.add_image(e["data"], exptime=1.0, pixmap=e["pixmap"], pixfrac=pixfrac)
        runs = [
            outputs(mosaic(inputs, tmp_path / f"m{n}.zarr", out_shape=out_shape, kernel="square",
                           pixfrac=pixfrac, tile_shape=tile, block_shape=(8, 8),
                           scheduler="sync"))
            for n, tile in enumerate([(7, 9), (16, 16), (40, 33), out_shape])
        ]  # fmt: skip
    for run in runs:
        np.testing.assert_allclose(run["wht"], expected, rtol=1e-6, atol=1e-6)
        assert_identical(runs[0], run)
    np.testing.assert_array_equal(runs[0]["wht"], facade.out_wht)
    np.testing.assert_array_equal(runs[0]["img"], facade.out_img)


def test_strip_cache_makes_each_strip_once_and_stays_in_budget():
    class Fake:
        def __init__(self, n):
            self.nbytes = n

    made = []
    lock = threading.Lock()

    def maker(key):
        def make():
            time.sleep(0.02)
            with lock:
                made.append(key)
            return Fake(100)

        return make

    # Twelve concurrent requests for four strips: each strip is made once.
    cache = StripCache(budget=1000)
    keys = [("a", k, k + 1) for k in range(4)]
    threads = [threading.Thread(target=lambda k=k: cache.get(k, maker(k))) for k in keys * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(made) == sorted(keys)
    assert cache.nbytes == 400
    cache.forget("a")
    assert cache.nbytes == 0 and not cache._items

    # A budget of two strips keeps the two used last.
    cache = StripCache(budget=250)
    for k in (0, 1, 2, 1, 3):
        cache.get(("b", k, k + 1), maker(("b", k)))
    assert list(cache._items) == [("b", 1, 2), ("b", 3, 4)] and cache.nbytes == 200
    assert cache.get(("c", 0, 1), lambda: Fake(1000)).nbytes == 1000  # too big to keep
    assert cache.nbytes == 200


def test_strip_cache_drops_a_strip_after_its_last_use():
    made = []

    def make():
        made.append(1)
        return np.zeros(8)

    cache = StripCache(budget=10**6)
    key = ("u", 0, 1)
    for n in range(3):  # three uses announced: made once, gone after the third
        assert cache.get(key, make, uses=3) is not None
        assert (key in cache._items) == (n < 2)
    assert len(made) == 1 and cache.nbytes == 0 and not cache._uses_left
    cache.get(key, make, uses=3)  # asked again after all: made again (same numbers)
    assert len(made) == 2
    cache.forget("u")
    cache.get(("v", 0, 1), make, uses=1)  # one use only: never kept
    assert len(made) == 3 and not cache._items and cache.nbytes == 0

    # Concurrent takers: made once, and the last of the announced uses removes it.
    gate = threading.Event()

    def slow():
        gate.wait()
        return make()

    threads = [threading.Thread(target=cache.get, args=(("w", 0, 1), slow, 4)) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    gate.set()
    for t in threads:
        t.join()
    assert len(made) == 4 and not cache._items and cache.nbytes == 0


def test_lazy_strips_are_made_once_and_leave_after_their_last_task(tmp_path, monkeypatch):
    from helpers.mosaic_inputs import OUT_SHAPE, exposures

    from tiledrizzle.engine import strips, tasks

    made, taken, left_in_cache = {}, {}, []
    real_make, real_get = strips.make_strip, strips.StripCache.get

    def counting_make(source, pixmap_fn, y0, y1):
        key = (id(source), y0, y1)
        made[key] = made.get(key, 0) + 1
        return real_make(source, pixmap_fn, y0, y1)

    def watching_get(self, key, make, uses=None):
        strip = real_get(self, key, make, uses)
        taken[key] = taken.get(key, 0) + 1
        assert uses is not None, "the engine announces how many tasks read each strip"
        if taken[key] == uses and key in self._items:
            left_in_cache.append(key)  # its last announced task took it, yet it stays
        return strip

    monkeypatch.setattr(tasks, "make_strip", counting_make)
    monkeypatch.setattr(strips.StripCache, "get", watching_get)

    class Lazy:  # a lazy pixel map provider over an array
        def __init__(self, pixmap):
            self.pixmap = pixmap

        def __call__(self, rows, cols):
            return self.pixmap[rows, cols]

    inputs = [dict(e, pixmap=Lazy(e["pixmap"])) for e in exposures(4, seed=3)]
    result = mosaic(inputs, tmp_path / "s.zarr", out_shape=OUT_SHAPE, tile_shape=(24, 20),
                    block_shape=(8, 8), scheduler="sync")  # fmt: skip
    assert set(made.values()) == {1}  # every strip made once: no use count fell short
    assert result.report["tasks"] > len(made)  # strips are shared between tasks
    assert max(taken.values()) > 1
    assert not left_in_cache  # each left the cache when its last task took it
    assert strips.STRIPS.nbytes == 0


def test_strip_cache_budget_comes_from_the_dask_configuration():
    import dask

    cache = StripCache()
    assert cache.budget == 512 * 2**20
    with dask.config.set({"tiledrizzle.strip-cache-bytes": "1 KiB"}):
        assert cache.budget == 1024
    with dask.config.set({"tiledrizzle.strip-cache-bytes": 0}):
        cache.get(("a", 0, 1), lambda: np.zeros(8))
        assert cache.nbytes == 0 and not cache._items  # off: nothing kept
    with dask.config.set({"tiledrizzle.strip-cache-bytes": "lots"}):
        with pytest.raises(ValueError, match="strip-cache-bytes"):
            _ = cache.budget


def test_strip_cache_retries_when_the_maker_failed():
    cache = StripCache()
    started = threading.Event()

    def failing():
        started.set()
        time.sleep(0.05)
        raise OSError("disk gone")

    errors = []

    def first():
        try:
            cache.get(("x", 0, 1), failing)
        except OSError as exc:
            errors.append(exc)

    t = threading.Thread(target=first)
    t.start()
    started.wait()
    got = cache.get(("x", 0, 1), lambda: np.zeros(3))  # waits, then makes its own
    t.join()
    assert len(errors) == 1 and got.shape == (3,)


def test_write_behind_raises_a_failed_write_and_bounds_what_waits():
    writer = TileWriteBehind(max_pending=2)
    pending, most = [0], [0]
    lock = threading.Lock()

    def slow_write(fail):
        with lock:
            pending[0] += 1
            most[0] = max(most[0], pending[0])
        time.sleep(0.02)
        with lock:
            pending[0] -= 1
        if fail:
            raise OSError("no space left")

    for _ in range(6):
        writer.submit(slow_write, False)
    writer.flush()
    assert most[0] == 1  # one writer thread
    writer.submit(slow_write, True)
    with pytest.raises(OSError, match="no space"):
        writer.flush()
    writer.submit(slow_write, True)
    writer._futures[-1].exception(timeout=30)  # let it fail
    with pytest.raises(OSError, match="no space"):
        writer.submit(slow_write, False)  # the next reducer learns of it
    writer.close(raise_errors=False)


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_a_merge_failing_behind_the_kernels_stops_the_batch_and_resume_finishes_it(
    tmp_path, monkeypatch, scheduler
):
    from helpers.mosaic_inputs import OUT_SHAPE, exposures

    from tiledrizzle.engine import tile_commit as mosaic_mod

    inputs = exposures(3, seed=5)
    kw = dict(out_shape=OUT_SHAPE, tile_shape=(40, 40), scheduler=scheduler)
    expected = outputs(mosaic(inputs, tmp_path / "ok.zarr", **kw))

    real_reduce, merged = mosaic_mod.reduce_tile, []

    def failing_reduce(state, partials, *args, **kwargs):
        if len(merged) == 3:
            raise MemoryError("out of memory in the merge")
        merged.append(threading.current_thread().name)
        return real_reduce(state, partials, *args, **kwargs)

    monkeypatch.setattr(mosaic_mod, "reduce_tile", failing_reduce)
    with pytest.raises(MemoryError, match="in the merge"):
        mosaic(inputs, tmp_path / "s.zarr", **kw)
    assert merged and all(name.startswith("tiledrizzle-writer") for name in merged)
    monkeypatch.setattr(mosaic_mod, "reduce_tile", real_reduce)
    resumed = mosaic(inputs, tmp_path / "s.zarr", resume=True, **kw)
    assert 3 <= resumed.report["tiles_resumed"] < resumed.plan.grid.n_tiles
    assert_identical(outputs(resumed), expected)


def test_block_edges_from_one_exact_evaluation_match_slices():
    from astropy.wcs import WCS

    from tiledrizzle.inputs.pixmap import WCSPixmap

    def tan(crval, cdelt, rot, shape):
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = crval
        w.wcs.crpix = [shape[1] / 2, shape[0] / 2]
        c, s = np.cos(np.deg2rad(rot)), np.sin(np.deg2rad(rot))
        w.wcs.cd = cdelt * np.array([[-c, s], [s, c]])
        w.array_shape = shape
        return w

    pm = WCSPixmap(tan([10, 20], 1e-4, 12, (300, 280)), tan([10.001, 20.002], 1.1e-4, 0,
                                                             (400, 400)), (300, 280))  # fmt: skip
    boxes = {(0, 0): (0, 130, 0, 130), (1, 2): (127, 300, 253, 280)}
    exact = _block_edges(pm, boxes)
    sliced = _block_edges(lambda rows, cols: pm(rows, cols), boxes)
    for key in boxes:
        for a, b in zip(exact[key], sliced[key], strict=True):
            np.testing.assert_allclose(a, b, atol=0.01, rtol=0)
