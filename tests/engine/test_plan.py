"""The frozen plan: what a mosaic will cost, seen before it runs; running it equals
``mosaic``; planning refuses bad input before anything exists; it needs no Dask."""

import dataclasses
import pickle
import subprocess
import sys
import warnings

import pytest
from helpers.mosaic_inputs import OUT_SHAPE, assert_identical, exposures, outputs

from tiledrizzle import InputsOutsideWarning, MosaicPlan, PlanError, mosaic, plan_mosaic
from tiledrizzle.engine.partials import WindowSums
from tiledrizzle.engine.plan import partial_bytes_per_pixel

TILE = (48, 64)


def _plan(inputs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputsOutsideWarning)
        return plan_mosaic(inputs, out_shape=OUT_SHAPE, tile_shape=TILE, **kw)


def test_plan_is_frozen_and_says_what_it_will_cost():
    inputs = exposures(4, seed=3)
    plan = _plan(inputs)
    assert isinstance(plan, MosaicPlan)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.kernel = "point"
    text = repr(plan)
    assert text.startswith("MosaicPlan(4 inputs (0 outside the grid), grid 170 x 150 px")
    for part in (f"{plan.n_tasks} tasks", f"{len(plan.waves())} waves", "partial sums",
                 "estimated peak", "kernel square"):  # fmt: skip
        assert part in text, part
    by_tile = plan.tasks_by_tile()
    assert list(by_tile) == sorted(by_tile) and plan.tiles_touched == len(by_tile)
    assert sum(len(v) for v in by_tile.values()) == plan.n_tasks
    assert all(v == sorted(v) for v in by_tile.values())  # inputs in global order
    s = plan.summary()
    assert s["tasks"] == plan.n_tasks and s["inputs"] == 4 and s["inputs_outside"] == []
    assert s["peak_bytes"] >= s["largest_wave_bytes"] > 0


def test_plan_pickles_and_runs_the_same_after():
    plan = _plan(exposures(3, seed=4))
    again = pickle.loads(pickle.dumps(plan))
    assert again.tasks_by_tile() == plan.tasks_by_tile()
    assert again.partial_bytes() == plan.partial_bytes()


def test_partial_bytes_are_the_bytes_the_tasks_return():
    for n_img2, with_dq in ((0, False), (2, False), (1, True)):
        s = WindowSums.zeros(0, 0, (7, 9), n_img2, with_dq, True)
        returned = s.flux.nbytes + s.wht.nbytes + s.var.nbytes + s.dq.nbytes + s.ctx.nbytes
        assert returned == 7 * 9 * partial_bytes_per_pixel(n_img2, with_dq)
    inputs = exposures(3, seed=5, data2=True, dq=True)
    plan = _plan(inputs)
    per_px = partial_bytes_per_pixel(2, True)
    expected = 0
    for tile, users in plan.tasks_by_tile().items():
        ny, nx = plan.grid.extent(tile)
        expected += ny * nx * per_px * len(users)
    assert plan.partial_bytes() == expected


def test_waves_fit_the_budget_and_cover_every_tile_once():
    plan = _plan(exposures(5, seed=6))
    budget = plan.partial_bytes() // 3
    small = _plan(exposures(5, seed=6), wave_bytes=budget)
    waves = small.waves()
    assert len(waves) >= 3
    assert [t for w in waves for t in w] == list(plan.tasks_by_tile())
    for w in waves:
        cost = sum(small._task_bytes(t) for t in w)
        assert cost <= budget or len(w) == 1
    assert small.largest_wave_bytes() <= max(
        budget, max(small._task_bytes(t) for t in plan.tasks_by_tile())
    )


def test_execute_equals_mosaic_and_context_ids_continue(tmp_path):
    inputs = exposures(4, seed=7)
    ref = mosaic(inputs, tmp_path / "ref.zarr", out_shape=OUT_SHAPE, tile_shape=TILE,
                 scheduler="sync")  # fmt: skip
    first = _plan(inputs[:2]).execute(tmp_path / "p.zarr", scheduler="sync")
    assert first.plan.used == [0, 1]
    second = _plan(inputs[2:]).execute(tmp_path / "p.zarr", scheduler="threads")
    assert_identical(outputs(second), outputs(ref))  # ids 2, 3 follow the store's 0, 1
    assert second.store.attrs["total_exptime"] == pytest.approx(
        sum(e["exptime"] for e in inputs), rel=1e-12
    )


def test_an_input_outside_is_named_and_takes_no_context_id(tmp_path):
    inputs = exposures(3, seed=8)
    far = dict(inputs[1], pixmap=inputs[1]["pixmap"] + 10_000.0, name="far")
    with pytest.warns(InputsOutsideWarning, match="far"):
        plan = plan_mosaic([inputs[0], far, inputs[2]], out_shape=OUT_SHAPE, tile_shape=TILE)
    assert plan.inputs_outside == [1] and plan.used == [0, 2]
    assert "(1 outside the grid)" in repr(plan)
    assert [e.ctx_id for k, e in enumerate(plan.exposures) if k in plan.used] == [0, 1]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(out_shape=None), PlanError, "give the output grid"),
        (dict(kernel="bilinear"), ValueError, "Kernel 'bilinear' is not supported"),
        (dict(pixfrac=0.0), ValueError, "pixfrac"),
        (dict(tile_shape=(0, 8)), ValueError, "tile_shape"),
    ],
)
def test_planning_refuses_bad_arguments_before_any_store(tmp_path, kwargs, error, message):
    args = dict(out_shape=OUT_SHAPE, tile_shape=TILE) | kwargs
    with pytest.raises(error, match=message):
        plan_mosaic(exposures(1), **args)
    assert list(tmp_path.iterdir()) == []


def test_planning_imports_no_dask():
    code = (
        "import sys, numpy as np\n"
        "from tiledrizzle.engine.plan import plan_mosaic\n"
        "y, x = np.mgrid[0:20, 0:30].astype(float)\n"
        "pm = np.dstack([x + 5, y + 5])\n"
        "p = plan_mosaic([dict(data=np.ones((20, 30), np.float32), pixmap=pm, exptime=1.0)],\n"
        "                out_shape=(40, 50), tile_shape=(16, 16))\n"
        "assert p.n_tasks > 0\n"
        "heavy = ('dask', 'distributed', 'zarr')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print(loaded)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_plan_holds_no_store_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = _plan(exposures(2, seed=9))
    assert list(tmp_path.iterdir()) == []
    assert plan.peak_bytes() > plan.largest_wave_bytes() > 0
