"""Flux conservation: square, point and turbo kernels put each input pixel's value
(times its weight) on the output exactly once, so sum(img*wht) == sum(data) and
sum(wht) == number of input pixels, for inputs landing wholly inside the output."""

import numpy as np
import pytest
from helpers.parity import affine_pixmap, distorted_pixmap

from tiledrizzle.resample import Drizzle

SHAPE = (40, 46)


@pytest.mark.parametrize("kernel", ["square", "point", "turbo"])
@pytest.mark.parametrize("pixfrac", [1.0, 0.6])
@pytest.mark.parametrize(
    "pixmap",
    [
        affine_pixmap(SHAPE, shift=(10.3, 12.7)),
        affine_pixmap(SHAPE, scale=1.0, angle_deg=0.0, shift=(9.5, 9.5)),
        distorted_pixmap(SHAPE, [0.05, -0.03, 0.02, 0.04, 0.01, -0.02], shift=(12.0, 12.0)),
    ],
    ids=["shift", "half-pixel", "distorted"],
)
def test_flux_conserved(kernel, pixfrac, pixmap):
    rng = np.random.default_rng(0)
    data = rng.uniform(0.0, 100.0, SHAPE).astype(np.float32)
    data[20, 20] = 5000.0  # a star
    d = Drizzle(kernel=kernel, out_shape=(70, 76), fillval=0)
    # turbo approximates each pixel by an output-aligned square of side pixfrac/psr:
    # with the right psr it conserves the total exactly too.
    d.add_image(data, exptime=1.0, pixmap=pixmap, pixfrac=pixfrac, pixel_scale_ratio=1.0)
    total_in = float(data.astype(np.float64).sum())
    total_out = float((d.out_img.astype(np.float64) * d.out_wht).sum())
    assert total_out == pytest.approx(total_in, rel=2e-6)
    assert float(d.out_wht.astype(np.float64).sum()) == pytest.approx(data.size, rel=2e-6)


def test_constant_image_stays_constant_under_distortion():
    coeffs = [0.06, 0.02, -0.03, 0.05, -0.02, 0.03]
    pixmap = distorted_pixmap(SHAPE, coeffs, scale=0.8, shift=(5, 5))
    d = Drizzle(kernel="square", out_shape=(50, 50))
    d.add_image(np.full(SHAPE, 7.25, np.float32), exptime=1.0, pixmap=pixmap)
    covered = d.out_wht > 0
    np.testing.assert_allclose(d.out_img[covered], 7.25, rtol=1e-6)
