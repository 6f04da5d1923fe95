"""``Drizzle(tile_shape=..., scheduler=...)``: the tiled engine behind the reference's API."""

import warnings

import numpy as np
import pytest
from helpers.mosaic_inputs import OUT_SHAPE, add_image_kwargs, exposures

from tiledrizzle.resample import Drizzle

KERNELS = ["square", "point", "turbo", "gaussian", "lanczos2", "lanczos3"]


def drizzle_all(inputs, kernel, **init):
    counts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = Drizzle(kernel=kernel, out_shape=OUT_SHAPE, **init)
        for e in inputs:
            counts.append(d.add_image(**add_image_kwargs(e, pixfrac=0.8)))
    return d, counts


def assert_same(a, b):
    np.testing.assert_array_equal(a.out_img, b.out_img)
    np.testing.assert_array_equal(a.out_wht, b.out_wht)
    np.testing.assert_array_equal(a.out_ctx, b.out_ctx)
    np.testing.assert_array_equal(a.out_dq, b.out_dq)
    assert len(a.out_img2 or []) == len(b.out_img2 or [])
    for x, y in zip(a.out_img2 or [], b.out_img2 or [], strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.total_exptime == b.total_exptime and a.ctx_id == b.ctx_id


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(
    "tile_shape, scheduler", [((32, 32), "sync"), ((70, 45), "threads"), ((512, 512), "sync")]
)
def test_tiled_facade_is_bit_identical_to_untiled(kernel, tile_shape, scheduler):
    inputs = exposures(6, seed=21, data2=True, dq=True, weights=True)
    inputs[2]["pixmap"] = inputs[2]["pixmap"] + np.array([60.0, 0.0])  # partly outside
    whole, whole_counts = drizzle_all(inputs, kernel)
    tiled, tiled_counts = drizzle_all(
        inputs, kernel, tile_shape=tile_shape, scheduler=scheduler, block_shape=(16, 40)
    )
    assert_same(whole, tiled)
    assert tiled_counts == whole_counts  # nmiss counted over all tiles, nskip from the scan
    assert any(nmiss > 0 for nmiss, _ in whole_counts)


def test_tiled_facade_grows_context_past_32_inputs():
    inputs = exposures(35, seed=3, in_shape=(20, 24))
    whole, _ = drizzle_all(inputs, "square")
    tiled, _ = drizzle_all(inputs, "square", tile_shape=(40, 40))
    assert tiled.out_ctx.shape[0] == 2
    assert_same(whole, tiled)


@pytest.mark.parametrize(
    "init, message",
    [
        ({"tile_shape": (0, 3)}, "tile_shape"),
        ({"tile_shape": (8, 8), "block_shape": (8,)}, "block_shape"),
        ({"tile_shape": (8, 8), "scheduler": "cloud"}, "unknown scheduler"),
        ({"scheduler": "threads"}, "needs 'tile_shape'"),
    ],
)
def test_tiled_facade_bad_options(init, message):
    with pytest.raises(ValueError, match=message):
        Drizzle(out_shape=OUT_SHAPE, **init)
