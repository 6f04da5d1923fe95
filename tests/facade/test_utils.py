"""tiledrizzle.utils vs drizzle.utils."""

import numpy as np
import pytest
from drizzle import utils as ref_utils
from helpers.wcs_data import NIRCAM_INPUT, NIRCAM_OUTPUTS, read_header_wcs, requires_wcs_data

from tiledrizzle import utils


@requires_wcs_data
@pytest.mark.parametrize("ratio", [0.55, 1.2])
def test_calc_pixmap_and_scale_ratio_match_reference(ratio):
    win = read_header_wcs(NIRCAM_INPUT)
    wout = read_header_wcs(NIRCAM_OUTPUTS[ratio])
    ours = utils.calc_pixmap(win, wout, shape=(64, 80))
    ref = ref_utils.calc_pixmap(win, wout, shape=(64, 80))
    assert ours.shape == (64, 80, 2)
    np.testing.assert_array_equal(ours, ref)
    psr = utils.estimate_pixel_scale_ratio(win, wout)
    assert psr == ref_utils.estimate_pixel_scale_ratio(win, wout)
    assert psr == pytest.approx(ratio, rel=0.02)


def test_calc_pixmap_needs_a_shape():
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    with pytest.raises(ValueError, match="pixel_shape"):
        utils.calc_pixmap(w, w)


def test_decode_context_matches_reference():
    rng = np.random.default_rng(0)
    ctx = rng.integers(-(2**31), 2**31 - 1, size=(3, 5, 6), dtype=np.int64).astype(np.int32)
    x, y = [0, 3, 5], [4, 1, 2]
    ours, ref = utils.decode_context(ctx, x, y), ref_utils.decode_context(ctx, x, y)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "args,fragment",
    [
        ((np.zeros((2, 2), np.int32), 0, 0), "3D"),
        ((np.zeros((1, 2, 2), np.int32), [0, 1], [0]), "equal length"),
        ((np.zeros((1, 2, 2), np.int32), 0.5, 0), "integer"),
    ],
)
def test_decode_context_errors(args, fragment):
    with pytest.raises(ValueError, match=fragment):
        utils.decode_context(*args)
