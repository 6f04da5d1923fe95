"""Blot from a Zarr mosaic, block by block: bit-identical to ``blot_image`` on the whole array."""

import warnings

import numpy as np
import pytest
from helpers.mosaic_inputs import OUT_SHAPE, exposures

from tiledrizzle import mosaic
from tiledrizzle.products.blot_mosaic import blot_mosaic
from tiledrizzle.resample import blot_image


@pytest.fixture(scope="module")
def mosaic_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("blot") / "m.zarr"
    inputs = exposures(6, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = mosaic(inputs, path, out_shape=OUT_SHAPE, tile_shape=(40, 64), fillval=0.0)
    return r, inputs


@pytest.mark.parametrize("interp", ["nearest", "linear", "poly3", "poly5", "lanczos3", "sinc"])
@pytest.mark.parametrize("block_shape, scheduler", [((16, 16), "sync"), ((50, 33), "threads")])
def test_blot_from_store_equals_blot_image(mosaic_store, interp, block_shape, scheduler):
    r, inputs = mosaic_store
    whole = r.img.compute()
    pixmap = inputs[2]["pixmap"]
    expected = blot_image(whole, pixmap, interp=interp, fillval=-5.0, iscale=0.5)
    got = blot_mosaic(r.store, pixmap, interp=interp, fillval=-5.0, iscale=0.5,
                      block_shape=block_shape, scheduler=scheduler)  # fmt: skip
    np.testing.assert_array_equal(got, expected)
    assert np.isfinite(got).all() and (got != -5.0).any()


def test_blot_weight_map_and_bad_arguments(mosaic_store):
    r, inputs = mosaic_store
    pixmap = inputs[0]["pixmap"]
    np.testing.assert_array_equal(
        blot_mosaic(r.store.path, pixmap, array="wht", interp="linear"),
        blot_image(r.wht.compute(), pixmap, interp="linear"),
    )
    with pytest.raises(ValueError, match="'array'"):
        blot_mosaic(r.store, pixmap, array="ctx")
    with pytest.raises(ValueError, match="interp|Interpolation|poly7"):
        blot_mosaic(r.store, pixmap, interp="poly7")
    with pytest.raises(ValueError, match="pixmap"):
        blot_mosaic(r.store, pixmap[..., 0])
