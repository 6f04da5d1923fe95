"""Every worker of a cluster must run the client's tiledrizzle: a mismatch is one error
naming the workers and both versions, raised before the store is touched (real
scheduler and worker processes on 127.0.0.1; one worker made to report another version
by a worker plugin)."""

import pytest
from helpers.fits_files import write_exposure
from helpers.mosaic_inputs import OUT_SHAPE, exposures, store_checksum

import tiledrizzle
from tiledrizzle import ClusterError, MosaicStore, mosaic
from tiledrizzle.cli.commands import main as cli

distributed = pytest.importorskip("distributed")
from helpers.worker_versions import ReportsVersion  # noqa: E402 -- needs distributed

OTHER = "0.0.1+elsewhere"


@pytest.fixture
def one_worker_elsewhere(client):
    """The address of the worker that now reports ``OTHER``."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    address = next(a for a, w in workers.items() if w["name"] == 1)
    client.register_plugin(ReportsVersion(1, OTHER))
    yield address
    client.unregister_worker_plugin(ReportsVersion.name)


def test_a_worker_of_another_version_is_refused_before_the_store_is_touched(
    tmp_path, client, one_worker_elsewhere
):
    inputs = exposures(3, seed=7)
    kw = dict(out_shape=OUT_SHAPE, tile_shape=(50, 60))
    held = tmp_path / "held.zarr"
    mosaic(inputs[:1], held, scheduler="sync", **kw)
    before = store_checksum(held)
    mine = tiledrizzle.__version__
    for store in (held, tmp_path / "new.zarr"):
        with pytest.raises(ClusterError) as caught:
            mosaic(inputs[1:], store, scheduler=client, **kw)
        message = str(caught.value)
        assert message == (
            f"1 of 2 Dask workers do not run tiledrizzle {mine} as this client does: "
            f"{one_worker_elsewhere} runs {OTHER}; install tiledrizzle {mine} on every worker"
        )
    assert store_checksum(held) == before  # no batch recorded, nothing written
    assert len(MosaicStore.open(held).attrs["batches"]) == 1
    assert not (tmp_path / "new.zarr").exists()


def test_the_command_line_says_it_in_one_line(tmp_path, client, one_worker_elsewhere, capsys):
    files = [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(2)]
    store = tmp_path / "m.zarr"
    argv = ["mosaic", *files, "--out", str(store), "--no-progress",
            "--scheduler", client.scheduler.address]  # fmt: skip
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tiledrizzle: error: 1 of 2 Dask workers do not run tiledrizzle ")
    assert one_worker_elsewhere in err and OTHER in err and err.count("\n") == 1
    assert not store.exists()


def test_workers_of_the_same_version_run_the_batch(tmp_path, client):
    result = mosaic(exposures(2, seed=8), tmp_path / "m.zarr", out_shape=OUT_SHAPE,
                    tile_shape=(50, 60), scheduler=client)  # fmt: skip
    assert result.report["scheduler"].startswith("distributed ")
