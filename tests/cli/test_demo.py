"""``tiledrizzle demo``: a bounded dither layout for any number of exposures, the limits
refused in one line, the preview's two panels and its options, the work directory."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tiledrizzle.cli import commands, demo
from tiledrizzle.cli.commands import main as cli
from tiledrizzle.core.errors import InputError
from tiledrizzle.products import preview
from tiledrizzle.store.zarr_store import MosaicStore

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 16, 17, 33, 63, 64])
def test_layout_is_bounded_and_every_star_projects_through_every_exposure(n):
    offsets = demo.dither_pattern(n)
    assert offsets.shape == (n, 2)
    # The same bound whatever n: half a pointing step plus the small dither grid.
    nx = demo.DETECTOR[1]
    bound = 0.5 * demo.POINTING_STEP * nx + 1.5 * demo.DITHER_STEP + 0.5
    assert np.abs(offsets).max() <= bound
    assert len({tuple(np.round(o, 6)) for o in offsets}) == n  # no pointing repeated
    wcss, (ra, dec, flux) = demo.pointings(n, np.random.default_rng(n))
    assert len(wcss) == n and len(ra) == len(dec) == len(flux) >= 10
    for w in wcss:
        # The old layout put stars so far off that this raised astropy's NoConvergence.
        x, y = w.all_world2pix(ra, dec, 0)
        assert np.isfinite(x).all() and np.isfinite(y).all()
        assert (np.hypot(x - nx / 2, y - nx / 2) < 3 * nx).all()


def test_repeated_visits_dither_by_sub_pixel_phases():
    offsets = demo.dither_pattern(64)
    for p in range(4):
        phases = np.mod(offsets[p::4], 1.0)
        assert len({tuple(np.round(f, 3)) for f in phases}) == 16  # 16 visits, 16 phases


@pytest.mark.parametrize("n", [0, -1, 65, 2.5, True])
def test_library_refuses_a_count_out_of_range(tmp_path, n):
    with pytest.raises(InputError, match="number of exposures"):
        demo.write_exposures(str(tmp_path), n, np.random.default_rng(0))
    with pytest.raises(InputError, match="number of exposures"):
        demo.run_demo(n_exposures=n, workdir=str(tmp_path / "w"), scheduler="sync")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("n", [1, 3, 17, 64])
def test_demo_command_runs_for_any_number_of_exposures(tmp_path, monkeypatch, capsys, n):
    monkeypatch.setattr(demo, "DETECTOR", (96, 96))  # the same layout on small exposures
    work = tmp_path / "demo"
    argv = ["demo", "--exposures", str(n), "--scheduler", "sync", "--workdir", str(work)]
    assert cli(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"{n} exposures of 96x96" in out
    assert len(list(work.glob("demo_*.fits"))) == n
    st = MosaicStore.open(work / "mosaic.zarr")
    assert len(st.attrs["inputs"]) == n
    ny, nx = st.meta.grid.shape
    assert (st.group["wht"][...] > 0).mean() > (0.7 if n == 3 else 0.8)  # 3: an L of pointings
    # the mosaic stays about two pointings across whatever n
    assert max(ny, nx) < 96 * (1 + demo.POINTING_STEP) + 40
    png = np.asarray(Image.open(work / "mosaic.png"))
    crop = min(demo.ZOOM_SIZE, ny), min(demo.ZOOM_SIZE, nx)
    rep = max(1, ny // crop[0])
    assert png.shape == (max(ny, crop[0] * rep), nx + preview.PANEL_GAP + crop[1] * rep)


def test_demo_command_with_17_full_size_exposures(tmp_path, capsys):
    # The case of the report: 17 exposures used to end in astropy's NoConvergence.
    work = tmp_path / "demo"
    argv = ["demo", "--exposures", "17", "--scheduler", "threads", "--workdir", str(work)]
    assert cli(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "17 exposures of 512x512" in out and "tiles written   : 4 of 4" in out


def test_demo_preview_options(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "DETECTOR", (96, 96))
    work = tmp_path / "demo"
    argv = ["demo", "--exposures", "2", "--scheduler", "sync", "--workdir", str(work),
            "--preview-of", "ctx", "--stretch", "linear"]  # fmt: skip
    assert cli(argv) == 0, capsys.readouterr().err
    assert "ctx, linear stretch" in capsys.readouterr().out
    st = MosaicStore.open(work / "mosaic.zarr")
    ny, nx = st.meta.grid.shape
    left = np.asarray(Image.open(work / "mosaic.png"))[:, :nx]
    # 0, 1 or 2 inputs per pixel, linear from 0 to 2 (and the crop's white outline)
    assert set(np.unique(left)) == {0, 128, 255}


def test_command_line_limits_match_the_demo_and_the_preview():
    assert commands.DEMO_MAX_EXPOSURES == demo.MAX_EXPOSURES
    assert commands.STRETCH_CHOICES == preview.STRETCHES
    assert commands.PREVIEW_OF_CHOICES == demo.PREVIEW_ARRAYS
    assert commands._parser().parse_args(["demo"]).workdir == commands.DEMO_WORKDIR


def test_the_default_demo_directory_is_ignored_by_git():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for name in ("demo_00.fits", "mosaic.zarr/zarr.json", "mosaic.png"):
        path = f"{commands.DEMO_WORKDIR}/{name}"
        proc = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO)
        assert proc.returncode == 0, f"{path} is not ignored by .gitignore"
