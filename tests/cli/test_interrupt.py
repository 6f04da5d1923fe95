"""Ctrl-C on ``tiledrizzle mosaic``: one line and exit status 130 wherever the signal lands
(imports, planning, drizzling, writing, the end), never a traceback; the store is left as
it was or resumable, and finishing it gives the bits of an uninterrupted run."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers.fits_files import output_wcs, write_exposure

from tiledrizzle.cli.commands import main as cli
from tiledrizzle.core.interrupt import clear_interrupt, request_interrupt
from tiledrizzle.inputs.output_wcs import wcs_to_header_string
from tiledrizzle.store.zarr_store import MosaicStore

FRACTIONS = (0.1, 0.3, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, None)
"""When SIGINT is sent, as fractions of an uninterrupted run's duration; None: as soon as
the summary's last line is out (the command returning, the interpreter exiting)."""


def _arrays(path):
    group = MosaicStore.open(path).group
    return {name: group[name][...] for name in ("img", "wht", "ctx")}


def _assert_same(a, b):
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The output grid of every store, new or resumed (``--wcs``)."""
    path = tmp_path_factory.mktemp("grid") / "grid.hdr"
    path.write_text(wcs_to_header_string(output_wcs()))
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exposures")
    return [str(write_exposure(folder / f"e{k}.fits", k)) for k in range(6)]


@pytest.fixture
def mosaic_args(grid):
    """``tiledrizzle mosaic`` arguments: inputs and store, then the run's options."""

    def args(inputs, out, scheduler, *more):
        return ["mosaic", *inputs, "--out", str(out), "--wcs", grid, "--tile", "8",
                "--scheduler", scheduler, "--no-progress", *more]  # fmt: skip

    return args


def test_ctrl_c_anywhere_is_one_line_and_the_store_resumes_to_the_same_bits(
    tmp_path, files, mosaic_args
):
    command = [sys.executable, "-m", "tiledrizzle"]
    reference = tmp_path / "reference.zarr"
    t0 = time.perf_counter()
    proc = subprocess.run(command + mosaic_args(files, reference, "threads"),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    duration = time.perf_counter() - t0
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    expected = _arrays(reference)

    outcomes = []
    for k, fraction in enumerate(FRACTIONS):
        scheduler = ("threads", "sync")[k % 2]
        out = tmp_path / f"m{k}.zarr"
        p = subprocess.Popen(command + mosaic_args(files, out, scheduler),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        if fraction is None:
            for line in p.stdout:
                if line.startswith("  time "):
                    break
            when = "the summary"
        else:
            time.sleep(fraction * duration)
            when = f"{fraction * duration:.2f} s"
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
        where = f"SIGINT after {when} ({scheduler}): rc {p.returncode}"
        assert "Traceback" not in err and "Exception" not in err, f"{where}\n{err}"
        if p.returncode == 0:  # the run had finished
            assert err == "", f"{where}\n{err}"
            outcomes.append("finished")
        else:
            assert p.returncode == 130, f"{where}\n{err}"
            assert err.count("\n") == 1 and err.startswith("tiledrizzle: interrupted ("), err
            if err == "tiledrizzle: interrupted (rerun with --resume to finish)\n":
                outcomes.append("resumed")
                again = ["--resume"]
            else:
                assert err == "tiledrizzle: interrupted (nothing written: run the command again)\n"
                assert not MosaicStore.exists(out) or not MosaicStore.open(out).attrs["batches"]
                outcomes.append("not started")
                again = []
            assert cli(mosaic_args(files, out, "sync", *again)) == 0, where
        _assert_same(_arrays(out), expected)
    # The signals reached every stage: before the batch, during it, after it.
    assert {"not started", "resumed", "finished"} <= set(outcomes), outcomes


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_an_interrupt_stops_the_batch_between_tasks_and_abort_undoes_it(
    tmp_path, files, mosaic_args, capsys, monkeypatch, scheduler
):
    """Once an interrupt is requested (what the command's SIGINT handler does) the batch
    stops after the task that was running: the store holds an interrupted batch that
    --abort puts back as it was."""
    from tiledrizzle.engine import graph

    store = tmp_path / "m.zarr"
    assert cli(mosaic_args(files[:2], store, "sync")) == 0
    before = _arrays(store)
    reducers = []

    def finish_tile(*args, **kwargs):
        reducers.append(args[2])
        if len(reducers) == 3:
            request_interrupt()  # as a Ctrl-C during this task would
        return graph_finish_tile(*args, **kwargs)

    graph_finish_tile = graph.finish_tile
    monkeypatch.setattr(graph, "finish_tile", finish_tile)
    try:
        rc = cli(mosaic_args(files[2:], store, scheduler))
    finally:
        clear_interrupt()
    err = capsys.readouterr().err
    assert rc == 130 and err == "tiledrizzle: interrupted (rerun with --resume to finish)\n"
    st = MosaicStore.open(store)
    assert st.attrs["batches"][-1]["status"] == "running"
    n_tiles = st.meta.grid.n_tiles
    assert 3 <= len(reducers) < n_tiles  # stopped early, not at the end
    monkeypatch.undo()
    assert cli(["mosaic", "--out", str(store), "--abort"]) == 0
    _assert_same(_arrays(store), before)


LATE_SIGINT = {
    # while the interpreter joins the threads left running, after the command returned
    "thread shutdown": "import threading, time\n"
    "def main(argv=None):\n"
    "    threading.Thread(target=lambda: (time.sleep(0.5), kill())).start()\n"
    "    return 0\n",
    # in an exit handler that runs after the command's own
    "exit handlers": "import atexit, time\n"
    "atexit.register(lambda: (kill(), time.sleep(0.5)))\n"
    "def main(argv=None):\n"
    "    return 0\n",
}


@pytest.mark.parametrize("when", list(LATE_SIGINT))
def test_a_late_ctrl_c_does_not_change_a_finished_commands_status(when):
    """A SIGINT once the command has returned ends the process with the command's status,
    without Python's "Exception ignored" traceback."""
    script = (
        "import os, signal\n"
        "def kill():\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        f"{LATE_SIGINT[when]}"
        "from tiledrizzle.cli import commands\n"
        "commands.main = main\n"
        "commands.run()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert (proc.returncode, proc.stderr) == (0, "")
