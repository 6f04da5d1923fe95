"""The tiled engine: bit-identical across tile shapes and schedulers, equal to the facade and
within the parity tolerances of the reference; incremental batches, interrupted batches resumed.
The store's contract (grids, locks, corrupted stores) is tested in tests/store/."""

import os
import warnings

import numpy as np
import pytest
from helpers.mosaic_inputs import (
    OUT_SHAPE,
    add_image_kwargs,
    assert_identical,
    exposures,
    outputs,
    store_checksum,
)
from helpers.parity import assert_outputs_match, data_scale

from tiledrizzle import InputsOutsideWarning, MosaicStore, StoreError, mosaic
from tiledrizzle.resample import Drizzle

KERNELS = ["square", "point", "turbo", "gaussian", "lanczos2", "lanczos3"]
TILE_SHAPES = [(64, 64), (100, 37), (512, 512), OUT_SHAPE]


def facade_loop(cls, inputs, kernel, out_shape=OUT_SHAPE, **init):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = cls(kernel=kernel, out_shape=out_shape, **init)
        for e in inputs:
            d.add_image(**add_image_kwargs(e))
    return d


def facade_outputs(d):
    out = {"img": d.out_img, "wht": d.out_wht, "ctx": d.out_ctx}
    for k, a in enumerate(d.out_img2 or []):
        out[f"img2/{k}"] = a
    if d.out_dq is not None:
        out["dq"] = d.out_dq
    return out


def run_mosaic(inputs, path, kernel, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Warning)  # non-flux-conserving kernel notes
        return mosaic(inputs, path, out_shape=kw.pop("out_shape", OUT_SHAPE), kernel=kernel, **kw)


@pytest.mark.parametrize("kernel", KERNELS)
def test_tile_shapes_and_schedulers_give_identical_bits(tmp_path, kernel):
    inputs = exposures(10, seed=3, data2=True, dq=True, weights=True)
    results = []
    for n, tile_shape in enumerate(TILE_SHAPES):
        for scheduler in ("sync", "threads"):
            path = tmp_path / f"m{n}-{scheduler}.zarr"
            r = run_mosaic(inputs, path, kernel, tile_shape=tile_shape, block_shape=(32, 48),
                           scheduler=scheduler)  # fmt: skip
            results.append(outputs(r))
    for other in results[1:]:
        assert_identical(results[0], other)
    # The facade applies the same arithmetic in the same order: bit-identical too.
    d = facade_loop(Drizzle, inputs, kernel)
    assert_identical(results[0], facade_outputs(d))
    # A different cut of the inputs into blocks changes nothing either.
    r = run_mosaic(inputs, tmp_path / "blocks.zarr", kernel, tile_shape=(64, 64),
                   block_shape=(7, 500), scheduler="sync")  # fmt: skip
    assert_identical(results[0], outputs(r))


@pytest.mark.parametrize("kernel", KERNELS)
def test_mosaic_matches_reference_package(tmp_path, kernel):
    from drizzle.resample import Drizzle as RefDrizzle

    inputs = exposures(12, seed=11, data2=True, dq=True)
    ref = facade_loop(RefDrizzle, inputs, kernel)
    r = run_mosaic(inputs, tmp_path / "m.zarr", kernel, tile_shape=(48, 80), scheduler="threads")
    out = outputs(r)

    class Stored:  # the facade's view of the store, for the shared comparison
        out_img, out_wht, out_ctx, out_dq = out["img"], out["wht"], out["ctx"], out["dq"]
        out_img2 = [out["img2/0"], out["img2/1"]]
        total_exptime = r.store.attrs["total_exptime"]
        ctx_id = r.store.attrs["next_ctx_id"]
        fillval, fillval2 = ref.fillval, ref.fillval2

    assert_outputs_match(ref, Stored, kernel, data_scale(inputs))
    assert r.report["inputs_used"] == 12 and r.report["inputs_outside"] == []


def test_more_than_32_inputs_grow_context_planes(tmp_path):
    inputs = exposures(41, seed=5, in_shape=(30, 34))
    r = run_mosaic(inputs, tmp_path / "m.zarr", "square", tile_shape=(40, 64))
    out = outputs(r)
    assert out["ctx"].shape == (2,) + OUT_SHAPE
    assert out["ctx"][1].any() and not (out["ctx"][1] & ~0x1FF).any()  # inputs 32..40
    assert_identical(out, facade_outputs(facade_loop(Drizzle, inputs, "square")))
    assert r.store.attrs["next_ctx_id"] == 41


def test_incremental_batches_equal_one_batch(tmp_path):
    inputs = exposures(11, seed=8, data2=True, dq=True)
    one = run_mosaic(inputs, tmp_path / "one.zarr", "turbo", tile_shape=(50, 50))
    path = tmp_path / "inc.zarr"
    run_mosaic(inputs[:4], path, "turbo", tile_shape=(50, 50))
    run_mosaic(inputs[4:9], path, "turbo", tile_shape=(50, 50), scheduler="sync")
    inc = run_mosaic(inputs[9:], path, "turbo", tile_shape=(50, 50))
    assert_identical(outputs(one), outputs(inc))
    a = inc.store.attrs
    assert a["next_ctx_id"] == 11
    assert a["total_exptime"] == pytest.approx(sum(e["exptime"] for e in inputs))
    assert [i["ctx_id"] for i in a["inputs"]] == list(range(11))
    assert [b["id"] for b in a["batches"]] == [1, 2, 3]
    assert all(b["status"] == "complete" for b in a["batches"])


def test_tiles_without_data_are_not_written(tmp_path):
    inputs = exposures(1, seed=2)
    r = run_mosaic(inputs, tmp_path / "m.zarr", "square", tile_shape=(30, 30))
    touched = r.plan.tiles_touched
    assert 0 < touched < r.plan.grid.n_tiles
    chunk_dir = tmp_path / "m.zarr" / "wht" / "c"
    n_chunks = sum(len(files) for _, _, files in os.walk(chunk_dir))
    assert 0 < n_chunks <= touched
    batches = r.store.tile_batches()
    assert int((batches == 1).sum()) == touched


def test_memory_follows_the_tiles_touched_not_the_grid(tmp_path):
    # A 40000 x 40000 grid (6.4 GB per float32 plane) with one small input: what is
    # allocated must follow the one tile touched. tracemalloc sees numpy's buffers.
    import tracemalloc

    inputs = exposures(1, seed=3)
    tracemalloc.start()
    try:
        r = run_mosaic(inputs, tmp_path / "m.zarr", "square", out_shape=(40000, 40000),
                       tile_shape=(1024, 1024), scheduler="sync")  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.report["tiles_written"] == 1
    assert peak < 200e6, f"peak {peak / 1e6:.0f} MB traced for a 1-tile mosaic"


def test_input_outside_the_grid_is_reported_and_takes_no_context_id(tmp_path):
    inputs = exposures(3, seed=4)
    inputs[1]["pixmap"] = inputs[1]["pixmap"] + 10_000.0
    with pytest.warns(InputsOutsideWarning, match="exp001"):
        r = mosaic(inputs, tmp_path / "m.zarr", out_shape=OUT_SHAPE, tile_shape=(64, 64))
    assert r.report["inputs_outside"] == ["exp001"]
    assert r.plan.inputs_outside == [1]
    assert [i["name"] for i in r.store.attrs["inputs"]] == ["exp000", "exp002"]
    assert r.store.attrs["next_ctx_id"] == 2
    expected = facade_loop(Drizzle, [inputs[0], inputs[2]], "square")
    assert_identical(outputs(r), facade_outputs(expected))


def test_interrupted_batch_resumes_to_identical_store(tmp_path, monkeypatch):
    import tiledrizzle.engine.graph as engine  # builds the reducer tasks
    import tiledrizzle.engine.tile_commit as reducer

    inputs = exposures(8, seed=12, data2=True)
    clean = run_mosaic(inputs[:5], tmp_path / "clean.zarr", "square", tile_shape=(40, 40))
    clean = run_mosaic(inputs[5:], tmp_path / "clean.zarr", "square", tile_shape=(40, 40))

    path = tmp_path / "cut.zarr"
    run_mosaic(inputs[:5], path, "square", tile_shape=(40, 40))
    real_finish, calls = engine.finish_tile, []

    def finish_then_die(*args):
        calls.append(args[2])
        if len(calls) == 4:
            # Die half-way through writing a tile that already has content.
            store = reducer._open_for_batch(args[0], args[1], args[3])
            real_write, crash_tile = store._write_state, args[2]

            def partial_write(prefix, tile, state):
                if prefix == "" and tile == crash_tile:
                    store.group["img"][store.meta.grid.slices(tile)] = state.img
                    raise KeyboardInterrupt("simulated crash mid-write")
                real_write(prefix, tile, state)

            store._write_state = partial_write
        return real_finish(*args)

    monkeypatch.setattr(engine, "finish_tile", finish_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_mosaic(inputs[5:], path, "square", tile_shape=(40, 40), scheduler="sync")
    monkeypatch.setattr(engine, "finish_tile", real_finish)
    reducer._STORE_CACHE.clear()

    with pytest.raises(StoreError, match="interrupted batch"):
        run_mosaic(inputs[5:], path, "square", tile_shape=(40, 40))
    with pytest.raises(StoreError, match="same inputs"):
        run_mosaic(inputs[4:], path, "square", tile_shape=(40, 40), resume=True)
    # Tiles are written behind the kernels: the three before the crash are
    # committed, and maybe a few that were reduced while the fourth was written.
    committed = int((MosaicStore.open(path).tile_batches() == 2).sum())
    assert 3 <= committed < clean.report["tiles_written"]
    resumed = run_mosaic(inputs[5:], path, "square", tile_shape=(40, 40), resume=True)
    assert resumed.report["tiles_resumed"] == committed
    assert resumed.report["tiles_written"] == clean.report["tiles_written"] - committed
    assert_identical(outputs(clean), outputs(resumed))
    assert resumed.store.attrs["total_exptime"] == clean.store.attrs["total_exptime"]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"inputs": []}, ValueError, "empty"),
        ({"kernel": "boxcar"}, ValueError, "Kernel 'boxcar' is not supported"),
        ({"tile_shape": (0, 64)}, ValueError, "tile_shape"),
        ({"block_shape": (64,)}, ValueError, "out_shape|block"),
        ({"scheduler": "gpu"}, ValueError, "unknown scheduler"),
        ({"out_shape": None}, ValueError, "out_shape"),
        ({"pixfrac": -1}, ValueError, "pixfrac"),
        ({"inputs": [{"data": 1}]}, TypeError, "input 0"),
        ({"inputs": [{"datum": 1}]}, TypeError, "unknown field"),
        ({"inputs": "exp.fits"}, TypeError, "sequence of inputs"),
        ({"inputs": [3.5]}, TypeError, "input 0: expected an Exposure"),
    ],
)
def test_bad_arguments_are_refused_before_a_store_exists(tmp_path, kwargs, error, message):
    args = {"inputs": exposures(1), "out_shape": OUT_SHAPE, "tile_shape": (64, 64)}
    args.update(kwargs)
    path = tmp_path / "m.zarr"
    with pytest.raises(error, match=message):
        mosaic(args.pop("inputs"), path, **args)
    assert not path.exists()


@pytest.mark.parametrize(
    "field, value, error, message",
    [
        ("exptime", 0.0, ValueError, "exptime"),
        ("pixmap", np.zeros((3, 3, 2)), ValueError, "'pixmap' shape"),
        ("dq", np.zeros((64, 72), np.int64), TypeError, "dq"),
        ("weight_map", np.ones((5, 5)), ValueError, "weight_map"),
        ("in_units", "photons", ValueError, "Unknown unit type"),
    ],
)
def test_bad_input_names_the_input_and_writes_nothing(tmp_path, field, value, error, message):
    path = tmp_path / "m.zarr"
    mosaic(exposures(1, seed=0), path, out_shape=OUT_SHAPE, tile_shape=(64, 64))
    before = store_checksum(path)
    inputs = exposures(3, seed=1)
    inputs[2][field] = value
    with pytest.raises(error, match=f"input 2 \\(exp002\\).*{message}"):
        mosaic(inputs, path, out_shape=OUT_SHAPE, tile_shape=(64, 64))
    assert store_checksum(path) == before


def test_plan_is_inspectable(tmp_path):
    r = run_mosaic(exposures(4, seed=6), tmp_path / "m.zarr", "gaussian", tile_shape=(50, 60))
    s = r.plan.summary()
    assert s["tasks"] == r.report["tasks"] == r.plan.n_tasks
    assert s["tiles"] == 3 * 3 and 0 < s["tiles_touched"] <= 9
    assert s["partial_bytes"] > 0 and s["inputs_outside"] == []


def test_processes_scheduler_gives_identical_bits(tmp_path):
    inputs = exposures(5, seed=13, dq=True)
    sync = run_mosaic(inputs, tmp_path / "s.zarr", "square", tile_shape=(64, 64), scheduler="sync")
    procs = run_mosaic(inputs, tmp_path / "p.zarr", "square", tile_shape=(64, 64),
                       scheduler="processes")  # fmt: skip
    assert procs.report["scheduler"] == "processes"
    assert_identical(outputs(sync), outputs(procs))


class BlockPixmap:
    """A lazy pixmap provider: serves blocks of a map and counts the calls."""

    def __init__(self, full):
        self.full = full
        self.calls = 0

    def __call__(self, rows, cols):
        self.calls += 1
        return self.full[rows, cols]


@pytest.mark.parametrize("kernel", KERNELS)
def test_lazy_pixmaps_equal_array_pixmaps_inside_the_grid(tmp_path, kernel):
    # Inputs wholly inside the grid: the reference's scan visits every pixel, as the
    # lazy path does, so the two paths give the same bits.
    inputs = exposures(6, seed=14, in_shape=(40, 44), data2=True, dq=True, weights=True)
    lazy = [dict(e, pixmap=BlockPixmap(e["pixmap"])) for e in inputs]
    if kernel in ("turbo", "gaussian", "lanczos2", "lanczos3"):
        for e in inputs + lazy:
            e["pixel_scale_ratio"] = None  # estimated from the map at the centre
    a = run_mosaic(inputs, tmp_path / "a.zarr", kernel, tile_shape=(48, 40), block_shape=(16, 16))
    b = run_mosaic(lazy, tmp_path / "b.zarr", kernel, tile_shape=(48, 40), block_shape=(16, 16),
                   scheduler="threads")  # fmt: skip
    if kernel in ("turbo", "gaussian", "lanczos2", "lanczos3"):
        # The ratio comes from the map at the input's centre (not the overlap's centroid).
        ratios = [i["pixel_scale_ratio"] for i in b.store.attrs["inputs"]]
        np.testing.assert_allclose(
            ratios, [i["pixel_scale_ratio"] for i in a.store.attrs["inputs"]], rtol=0.05
        )
    else:
        assert_identical(outputs(a), outputs(b))
    assert all(e["pixmap"].calls > 0 for e in lazy)


def test_lazy_input_with_an_input_box_is_refused(tmp_path):
    e = exposures(1)[0]
    e["pixmap"] = BlockPixmap(e["pixmap"])
    e["xmin"] = 3
    with pytest.raises(ValueError, match="input 0: an input box"):
        mosaic([e], tmp_path / "m.zarr", out_shape=OUT_SHAPE)
    assert not (tmp_path / "m.zarr").exists()
