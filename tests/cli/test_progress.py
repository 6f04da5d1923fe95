"""Progress of ``tiledrizzle mosaic``: a tqdm bar with stages and the time left on a
terminal, log lines (every 10 % or 10 s) on a pipe or in a CI log, nothing with
--no-progress or -q."""

import fcntl
import functools
import os
import select
import struct
import subprocess
import sys
import termios

import pytest
from helpers.fits_files import write_exposure

from tiledrizzle.cli.commands import main as cli


@pytest.fixture
def files(tmp_path):
    return [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(2)]


def _mosaic(tmp_path, files, *more):
    return ["mosaic", *files, "--out", str(tmp_path / "m.zarr"), "--scheduler", "threads",
            "--tile", "16", *more]  # fmt: skip


def test_progress_on_a_pipe_is_log_lines_with_stages(tmp_path, files, capsys, monkeypatch):
    from tiledrizzle.engine import progress

    # Lines from the first step on (the command waits 2 s before its first line, and a
    # timer thread tells the stages without steps: not what a short test can see).
    eager = functools.partial(progress.LogProgress, delay=0, min_seconds=0, timer=False)
    monkeypatch.setattr(progress, "LogProgress", eager)
    assert cli(_mosaic(tmp_path, files)) == 0
    out, err = capsys.readouterr()
    assert "\r" not in err
    lines = err.splitlines()
    assert all(line.startswith("tiledrizzle: ") for line in lines), err
    tiles = int(next(line for line in out.splitlines() if "tiles written" in line).split()[3])
    assert lines[0].startswith("tiledrizzle: checking inputs: 1/2 files (50%), ")
    assert lines[1].startswith("tiledrizzle: checking inputs: 2/2 files in ")
    assert lines[2].startswith(f"tiledrizzle: drizzling: 1/{tiles} tiles (")
    assert " left" in lines[2]
    assert lines[-1].startswith(f"tiledrizzle: drizzling: {tiles}/{tiles} tiles in ")
    assert 3 <= len(lines) - 3 <= 10  # a line each 10 %


def test_an_error_soon_after_the_start_is_still_one_line_on_a_pipe(tmp_path, files, capsys):
    argv = _mosaic(tmp_path, [*files, str(tmp_path / "missing.fits")])
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tiledrizzle: error: ") and err.count("\n") == 1, err


@pytest.mark.parametrize("off", ["--no-progress", "-q"])
def test_no_progress_and_quiet_show_none(tmp_path, files, capsys, off):
    assert cli(_mosaic(tmp_path, files, off)) == 0
    assert capsys.readouterr().err == ""


def _on_a_terminal(argv, columns=100):
    """Run ``argv`` with stdout and stderr on a pseudo-terminal; (status, what it showed)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    shown = bytearray()
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not data:
            break
        shown += data
    os.close(master)
    return proc.wait(60), shown.decode(errors="replace")


def test_progress_on_a_terminal_is_a_bar_with_the_time_left(tmp_path, files):
    rc, shown = _on_a_terminal([sys.executable, "-m", "tiledrizzle", *_mosaic(tmp_path, files)])
    assert rc == 0, shown
    frames = shown.split("\r")
    assert any(f.startswith("drizzling: ") and " tiles/s]" in f and "<" in f for f in frames)
    assert any(f.startswith("checking inputs: ") for f in frames)
    assert "tiledrizzle: drizzling" not in shown  # a bar, not log lines
    assert any(f.startswith("mosaic ") for f in frames)  # the summary, after the bar is cleared
