"""An interrupt requested while a graph computes (``core.interrupt``, what the command
line's SIGINT handler does) stops it after the task that was running, and the tasks
already running on the threaded scheduler finish before the interrupt goes on."""

import threading
import time

import dask
import pytest
from dask.task_spec import Task

from tiledrizzle.core.interrupt import clear_interrupt, request_interrupt
from tiledrizzle.engine.schedulers import Runner


@pytest.fixture(autouse=True)
def _no_interrupt_left():
    yield
    clear_interrupt()


def test_an_interrupted_threaded_compute_waits_for_the_tasks_running():
    started, finished = threading.Event(), []

    def slow():
        started.set()
        time.sleep(0.5)  # still running when the other task asks to stop
        finished.append("slow")

    def asks_to_stop():
        started.wait(10)
        request_interrupt()

    graph = {"slow": Task("slow", slow), "stop": Task("stop", asks_to_stop)}
    with dask.config.set(num_workers=2), Runner("threads") as runner:
        with pytest.raises(KeyboardInterrupt):
            runner.compute_graph(graph, ["slow", "stop"])
        # Nothing runs on behind the caller's back (a reducer could write a tile).
        assert finished == ["slow"]
        clear_interrupt()
        assert runner.compute_graph({"again": Task("again", lambda: 1)}, ["again"]) == [1]


def test_an_interrupted_sync_compute_stops_between_tasks():
    ran = []

    def task(k):
        ran.append(k)
        if len(ran) == 2:
            request_interrupt()
        return k

    graph = {f"t{k}": Task(f"t{k}", task, k) for k in range(5)}
    with Runner("sync") as runner, pytest.raises(KeyboardInterrupt):
        runner.compute_graph(graph, list(graph))
    assert len(ran) == 2
