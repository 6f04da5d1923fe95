"""Progress of a mosaic (``engine.progress``): stages, a step per tile as it finishes, a
tqdm bar for ``progress=True``, log lines every 10 % or 10 s for pipes and CI logs."""

import logging

from dask.task_spec import Task, TaskRef
from helpers.mosaic_inputs import OUT_SHAPE, exposures

from tiledrizzle import mosaic
from tiledrizzle.engine.progress import LogProgress, Progress
from tiledrizzle.engine.schedulers import Runner


class Recorder(Progress):
    def __init__(self):
        self.events = []

    def stage(self, name, total=None, unit="steps"):
        self.events.append((name, total, unit))

    def advance(self, n=1):
        self.events.append(n)


def test_the_engine_reports_its_stages_and_one_step_per_tile(tmp_path):
    progress = Recorder()
    result = mosaic(exposures(3, seed=4), tmp_path / "m.zarr", out_shape=OUT_SHAPE,
                    tile_shape=(40, 40), scheduler="threads", progress=progress)  # fmt: skip
    tiles = result.report["tiles_written"]
    stages = [e for e in progress.events if isinstance(e, tuple)]
    assert stages == [("planning", None, "steps"), ("opening the store", None, "steps"),
                      ("drizzling", tiles, "tiles"), ("finishing", None, "steps")]  # fmt: skip
    assert progress.events.count(1) == tiles


def test_steps_are_reported_as_tasks_finish_not_when_the_graph_has():
    seen = []

    def second(first):
        return list(seen)  # what was reported before this task ran

    graph = {"a": Task("a", lambda: "a"), "b": Task("b", second, TaskRef("a"))}
    for scheduler in ("sync", "threads"):
        seen.clear()
        with Runner(scheduler) as runner:
            assert runner.compute_graph(graph, ["a", "b"], on_result=seen.append) == ["a", ["a"]]
        assert seen == ["a", ["a"]]


def test_progress_true_is_a_tqdm_bar_on_stderr(tmp_path, capsys):
    mosaic(exposures(2, seed=5), tmp_path / "m.zarr", out_shape=OUT_SHAPE, tile_shape=(50, 50),
           scheduler="sync", progress=True)  # fmt: skip
    err = capsys.readouterr().err
    assert "\r" in err and "drizzling" in err and "tiles/s" in err and "planning" in err


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "tiledrizzle.engine.progress"]


def test_log_lines_every_tenth_or_ten_seconds_at_most_one_a_second(caplog):
    clock = Clock()
    progress = LogProgress(clock=clock, timer=False)
    caplog.set_level(logging.INFO, logger="tiledrizzle.engine.progress")
    progress.stage("checking inputs", total=3, unit="files")
    clock.now += 0.5  # over in less than 2 s: no line
    progress.stage("drizzling", total=100, unit="tiles")
    for _ in range(25):  # 25 tiles in 5 s: lines from 2 s on, at 10 % and at 20 %
        clock.now += 0.2
        progress.advance()
    clock.now += 12.0  # a slow stretch: a line after 10 s without one
    progress.advance()
    for _ in range(73):  # many quick steps: at most one line a second
        clock.now += 0.01
        progress.advance()
    clock.now += 0.5
    progress.advance()
    progress.stage("finishing")
    clock.now += 1.0
    progress.close()
    assert _messages(caplog) == [
        "drizzling: 10/100 tiles (10%), 2.0 s, about 18.0 s left",
        "drizzling: 20/100 tiles (20%), 4.0 s, about 16.0 s left",
        "drizzling: 26/100 tiles (26%), 17.0 s, about 48.4 s left",
        "drizzling: 100/100 tiles in 18.2 s",
    ]


def test_a_stage_without_steps_is_told_by_the_timer_after_two_seconds_then_every_ten(caplog):
    clock = Clock()
    progress = LogProgress(clock=clock, timer=False)
    caplog.set_level(logging.INFO, logger="tiledrizzle.engine.progress")
    progress.stage("planning")
    tick = (progress._name, progress._start)
    for now in (2.0, 5.0, 12.0, 13.0):  # the timer's calls (due at 2 s, then 10 s apart)
        clock.now = now
        progress._tick(*tick)
    clock.now = 14.5
    progress.close()
    assert _messages(caplog) == ["planning", "planning: 12.0 s", "planning: done in 14.5 s"]


def test_an_interrupted_stage_does_not_log_its_end(caplog):
    clock = Clock()
    caplog.set_level(logging.INFO, logger="tiledrizzle.engine.progress")
    try:
        with LogProgress(clock=clock, timer=False) as progress:
            progress.stage("drizzling", total=10, unit="tiles")
            clock.now = 3.0
            progress.advance()
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert _messages(caplog) == ["drizzling: 1/10 tiles (10%), 3.0 s, about 27.0 s left"]
