"""Bad input: the reference's exception type, a message naming the problem, no state change."""

import numpy as np
import pytest
from drizzle.resample import Drizzle as RefDrizzle
from helpers.parity import affine_pixmap

from tiledrizzle.resample import Drizzle

SHAPE = (20, 24)
OUT = (30, 30)
DATA = np.ones(SHAPE, np.float32)
PIXMAP = affine_pixmap(SHAPE, shift=(2.0, 2.0))

INIT_CASES = {
    "unknown kernel": (dict(kernel="boxcar"), ValueError, "not supported"),
    "negative begin_ctx_id": (dict(begin_ctx_id=-1), ValueError, "context image ID"),
    "max_ctx_id < begin": (dict(begin_ctx_id=5, max_ctx_id=2), ValueError, "max_ctx_id"),
    "negative exptime": (dict(exptime=-1.0), ValueError, "non-negative"),
    "exptime without outputs": (dict(exptime=2.0, out_shape=OUT), ValueError, "must be 0.0"),
    "exptime 0 with weights": (dict(out_wht=np.ones(OUT, np.float32)), ValueError, "cannot be 0"),
    "bad fillval string": (dict(fillval="abc"), ValueError, "convert"),
    "4D out_ctx": (dict(out_ctx=np.zeros((1, 1) + OUT, np.int32)), ValueError, "2D or 3D"),
    "64-bit out_dq": (dict(out_dq=np.full(OUT, 2**40, np.uint64)), TypeError, "out_dq"),
    "float out_dq": (dict(out_dq=np.zeros(OUT, np.float32)), TypeError, "out_dq"),
    "inconsistent shapes": (
        dict(out_shape=OUT, out_img=np.zeros((5, 5), np.float32)),
        ValueError,
        "Inconsistent",
    ),
    "out_wht/out_ctx disagree": (
        dict(out_wht=np.ones(OUT, np.float32), out_ctx=np.zeros(OUT, np.int32), exptime=1.0),
        ValueError,
        "Inconsistent values",
    ),
}


@pytest.mark.parametrize("case", sorted(INIT_CASES))
def test_init_errors_match_reference(case):
    kwargs, exc, fragment = INIT_CASES[case]
    with pytest.raises(exc):
        RefDrizzle(**kwargs)
    with pytest.raises(exc, match=fragment):
        Drizzle(**kwargs)


ADD_CASES = {
    "exptime zero": (dict(exptime=0.0), ValueError, "exptime"),
    "pixmap shape": (dict(pixmap=PIXMAP[:-1]), ValueError, "pixmap"),
    "pixmap depth": (dict(pixmap=np.dstack([PIXMAP, PIXMAP])), ValueError, "depth"),
    "weight shape": (dict(weight_map=np.ones((3, 3), np.float32)), ValueError, "weight_map"),
    "data2 shape": (dict(data2=np.ones((3, 3), np.float32)), ValueError, "data2"),
    "data2 list shape": (dict(data2=[np.ones((3, 3), np.float32)]), ValueError, "data2"),
    "dq shape": (dict(dq=np.zeros((3, 3), np.uint32)), ValueError, "'dq' shape"),
    "dq 64-bit": (dict(dq=np.full(SHAPE, 2**40, np.uint64)), TypeError, "'dq'"),
    "all-NaN pixmap": (dict(pixmap=np.full(PIXMAP.shape, np.nan)), ValueError, "valid pixels"),
    "iscale zero": (dict(iscale=0.0), ValueError, "iscale"),
    "iscale inf": (dict(iscale=np.inf), ValueError, "iscale"),
    "pixel_scale_ratio negative": (dict(pixel_scale_ratio=-1.0), ValueError, "pscale_ratio"),
    "pixel_scale_ratio nan": (dict(pixel_scale_ratio=np.nan), ValueError, "pscale_ratio"),
    "wht_scale zero": (dict(wht_scale=0.0), ValueError, "weight scale"),
    "unknown units": (dict(in_units="electrons"), ValueError, "unit"),
    "one-column box": (dict(xmin=5, xmax=5), ValueError, "valid pixels"),
}


@pytest.mark.parametrize("case", sorted(ADD_CASES))
def test_add_image_errors_match_reference_and_change_nothing(case):
    extra, exc, fragment = ADD_CASES[case]
    kwargs = {**dict(data=DATA, exptime=1.0, pixmap=PIXMAP), **extra}
    ref = RefDrizzle(out_shape=OUT)
    with pytest.raises(exc):
        ref.add_image(**kwargs)
    ours = Drizzle(out_shape=OUT)
    before = (ours.ctx_id, ours.total_exptime, ours.out_img.copy(), ours.out_wht.copy())
    with pytest.raises(exc, match=fragment):
        ours.add_image(**kwargs)
    assert ours.ctx_id == before[0] and ours.total_exptime == before[1]
    np.testing.assert_array_equal(ours.out_img, before[2])
    np.testing.assert_array_equal(ours.out_wht, before[3])
    # and the object still works afterwards
    ours.add_image(DATA, exptime=1.0, pixmap=PIXMAP)
    assert ours.ctx_id == 1 and np.nansum(ours.out_wht) > 0


def test_img2_count_mismatch_after_first_image():
    for cls in (RefDrizzle, Drizzle):
        d = cls(out_shape=OUT)
        d.add_image(DATA, exptime=1.0, pixmap=PIXMAP)
        with pytest.raises(ValueError, match="Mismatch"):
            d.add_image(DATA, exptime=1.0, pixmap=PIXMAP, data2=DATA)


def test_deprecated_scale_warns():
    d = Drizzle(out_shape=OUT)
    with pytest.deprecated_call(match="'scale' has been deprecated"):
        d.add_image(DATA, exptime=1.0, pixmap=PIXMAP, scale=1.0)
