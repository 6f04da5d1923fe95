"""-v / -q and warnings on the command line: the summary on stdout, details and warnings
one line each on stderr (``tiledrizzle: debug: ...``, ``tiledrizzle: warning: ...``)
through Python logging; the library configures no handler."""

import logging
import subprocess
import sys

import pytest
from helpers.fits_files import output_wcs, write_exposure

from tiledrizzle.cli.commands import main as cli
from tiledrizzle.inputs.output_wcs import wcs_to_header_string


@pytest.fixture
def files(tmp_path):
    return [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(2)]


def _mosaic(tmp_path, files, *more):
    return ["mosaic", *files, "--out", str(tmp_path / "m.zarr"), "--scheduler", "sync", *more]


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_logs_plan_scheduler_and_timings_on_stderr(tmp_path, files, capsys, where):
    argv = _mosaic(tmp_path, files, "--no-progress")
    argv = ["-v", *argv] if where == "before" else [*argv, "--verbose"]
    assert cli(argv) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines and all(line.startswith("tiledrizzle: debug: ") for line in lines), err
    assert any("planned in" in line and "MosaicPlan(" in line for line in lines), err
    assert "tiledrizzle: debug: scheduler: sync" in lines
    assert any(line.startswith("tiledrizzle: debug: batch 1 complete") for line in lines)
    assert out.startswith("mosaic ") and "  tiles written   :" in out  # the summary as ever


def test_quiet_keeps_the_result_line_only(tmp_path, files, capsys):
    assert cli(["-q", *_mosaic(tmp_path, files)]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and out.startswith(f"mosaic {tmp_path / 'm.zarr'}: ")
    assert err == ""  # no progress either


def test_verbose_and_quiet_together_are_refused_in_one_line(tmp_path, files, capsys):
    assert cli(["mosaic", "-v", "-q", *files, "--out", str(tmp_path / "m.zarr")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tiledrizzle: error: argument -q/--quiet: not allowed with")
    assert err.count("\n") == 1


@pytest.mark.filterwarnings("default")  # warnings as the command meets them, not errors
def test_warnings_are_one_line_each_without_source_lines(tmp_path, files, capsys):
    grid = tmp_path / "grid.hdr"
    grid.write_text(wcs_to_header_string(output_wcs((40, 40))))
    far = str(write_exposure(tmp_path / "far.fits", 40))  # lands outside the small grid
    argv = _mosaic(tmp_path, [*files, far], "--wcs", str(grid), "--kernel", "lanczos3",
                   "--pixfrac", "0.8", "-q")  # fmt: skip
    assert cli(argv) == 0
    assert capsys.readouterr().err.splitlines() == [
        "tiledrizzle: warning: Kernel 'lanczos3' is not a flux-conserving kernel.",
        "tiledrizzle: warning: In lanczos kernel, pixel_fraction is ignored and assumed to be 1.0",
        "tiledrizzle: warning: 1 input(s) touch no tile of the output grid and were skipped: "
        "far.fits",
    ]


def test_astropy_warnings_look_the_same(tmp_path, files):
    """Astropy sends its own warnings to its logger ("WARNING: FITSFixedWarning: ...
    [astropy.wcs.wcs]"); the command shows them as its own, once however many files
    say the same."""
    script = (
        "import sys, warnings\n"
        "from astropy.wcs import FITSFixedWarning\n"
        "from tiledrizzle.inputs.fits import FitsExposure\n"
        "describe = FitsExposure.describe\n"
        "def noisy(self):\n"
        "    warnings.warn(\"'datfix' made the change 'Set MJD-OBS to 51000.0\\n"
        "from DATE-OBS'.\", FITSFixedWarning)\n"
        "    return describe(self)\n"
        "FitsExposure.describe = noisy\n"
        "from tiledrizzle.cli import run\n"
        "run()\n"
    )
    argv = _mosaic(tmp_path, files, "-q")
    proc = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        "tiledrizzle: warning: 'datfix' made the change 'Set MJD-OBS to 51000.0 from DATE-OBS'.\n"
    )


def test_the_library_configures_no_logging_and_the_command_cleans_up(tmp_path, files):
    code = (
        "import logging, warnings\n"
        "import tiledrizzle, tiledrizzle.engine.execute, tiledrizzle.products.preview\n"
        "import tiledrizzle.inputs.fits, tiledrizzle.resample\n"
        "print(logging.getLogger('tiledrizzle').handlers, logging.getLogger().handlers,\n"
        "      logging.getLogger('tiledrizzle').level)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.stdout.strip() == "[] [] 0", proc.stderr
    logger = logging.getLogger("tiledrizzle")
    before = list(logger.handlers), logger.level, logger.propagate
    import warnings

    shown = warnings.showwarning
    assert cli(_mosaic(tmp_path, files, "-v", "--no-progress")) == 0
    assert (list(logger.handlers), logger.level, logger.propagate) == before
    assert warnings.showwarning is shown
