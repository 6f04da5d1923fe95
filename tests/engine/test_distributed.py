"""The engine on a real Dask cluster: a scheduler and 2 worker processes on 127.0.0.1."""

import warnings

import numpy as np
import pytest
from helpers.mosaic_inputs import OUT_SHAPE, add_image_kwargs, assert_identical, exposures, outputs

from tiledrizzle import mosaic
from tiledrizzle.resample import Drizzle

distributed = pytest.importorskip("distributed")


@pytest.mark.parametrize("kernel", ["square", "lanczos3"])
def test_local_cluster_is_bit_identical_to_sync(tmp_path, client, kernel):
    inputs = exposures(10, seed=31, data2=True, dq=True)
    kw = dict(out_shape=OUT_SHAPE, tile_shape=(48, 64), kernel=kernel, block_shape=(32, 32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sync = mosaic(inputs, tmp_path / "sync.zarr", scheduler="sync", **kw)
        dist = mosaic(inputs, tmp_path / "dist.zarr", scheduler=client, **kw)
        addr = mosaic(inputs, tmp_path / "addr.zarr", scheduler=client.scheduler.address, **kw)
    assert "distributed" in dist.report["scheduler"]
    assert_identical(outputs(sync), outputs(dist))
    assert_identical(outputs(sync), outputs(addr))
    # The work really ran on both worker processes.
    assert len(client.scheduler_info()["workers"]) == 2


def test_facade_on_the_cluster(client):
    inputs = exposures(4, seed=2, data2=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = Drizzle(out_shape=OUT_SHAPE)
        tiled = Drizzle(out_shape=OUT_SHAPE, tile_shape=(40, 50), scheduler=client)
        for e in inputs:
            assert whole.add_image(**add_image_kwargs(e)) == tiled.add_image(**add_image_kwargs(e))
    for name in ("out_img", "out_wht", "out_ctx"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(tiled, name), err_msg=name)
    np.testing.assert_array_equal(whole.out_img2[0], tiled.out_img2[0])


def test_unreachable_scheduler_address_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot connect"):
        mosaic(exposures(1), tmp_path / "m.zarr", out_shape=OUT_SHAPE,
               scheduler="tcp://127.0.0.1:1")  # fmt: skip


def test_the_command_line_prints_the_dashboard_link(tmp_path, client, capsys, monkeypatch):
    """A scheduler with a dashboard (bokeh installed) has a link: the run says where."""
    from helpers.fits_files import write_exposure

    from tiledrizzle.cli.commands import main as cli

    link = "http://127.0.0.1:8787/status"
    monkeypatch.setattr(distributed.Client, "dashboard_link", property(lambda self: link))
    files = [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(2)]

    def argv(store):
        return ["mosaic", *files, "--out", str(tmp_path / store), "--no-progress",
                "--scheduler", client.scheduler.address]  # fmt: skip

    assert cli(argv("m.zarr")) == 0
    assert f"tiledrizzle: Dask dashboard: {link}\n" in capsys.readouterr().err
    monkeypatch.setattr(distributed.Client, "dashboard_link", property(lambda self: None))
    assert cli(argv("n.zarr")) == 0
    assert "dashboard" not in capsys.readouterr().err
