"""Bad inputs across the three surfaces: the facade, the batch API and the command line.

Every case asserts the exception type and a message that names the argument or the
file; where a store exists, its bytes (every file, path and content) are unchanged;
where none existed, none is created. Facade cases are run on the reference
``drizzle`` too where it has the same check, and must raise the same type (or warn
the same way). The command line must return 2 and print exactly one
``tiledrizzle: error: ...`` line, never a traceback.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from drizzle.resample import Drizzle as RefDrizzle
from drizzle.resample import blot_image as ref_blot_image
from helpers.mosaic_inputs import (
    add_image_kwargs,
    assert_identical,
    exposures,
    outputs,
    store_checksum,
)
from helpers.parity import affine_pixmap, compare

from tiledrizzle import (
    FitsExposure,
    FitsInputError,
    InputsOutsideWarning,
    StoreError,
    StoreLockedError,
    mosaic,
)
from tiledrizzle.cli.commands import main as cli
from tiledrizzle.inputs.output_wcs import wcs_to_header_string
from tiledrizzle.resample import Drizzle, blot_image
from tiledrizzle.store.lock import LOCK_NAME

# -- small inputs --------------------------------------------------------------------------

SHAPE = (12, 14)  # facade input
OUT = (24, 24)  # facade output
DATA = np.random.default_rng(7).uniform(0.5, 1.5, SHAPE).astype(np.float32)
PIXMAP = affine_pixmap(SHAPE, angle_deg=8.0, shift=(4.0, 5.0))

GRID = (40, 40)  # batch output grid
TILE = (16, 16)
IN_SHAPE = (16, 18)  # batch array inputs
FITS_SHAPE = (24, 28)  # FITS inputs
ARCSEC = 1 / 3600


def sky_wcs(shape, scale, angle_deg=0.0, crval=(150.0, 2.0)):
    """A gnomonic celestial WCS centred on ``crval`` with ``shape`` (ny, nx) pixels."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = list(crval)
    w.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    t = np.deg2rad(angle_deg)
    w.wcs.cd = scale * np.array([[-np.cos(t), np.sin(t)], [np.sin(t), np.cos(t)]])
    w.array_shape = shape
    return w


OUT_WCS = sky_wcs(GRID, 0.1 * ARCSEC)


def write_fits(path, *, exptime=50.0, wcs=None, arrays=None, drop=(), extra_primary=None):
    """A small exposure (SCI, ERR, DQ) whose sky footprint lies inside ``OUT_WCS``.

    ``arrays`` replaces extensions by name; ``drop`` leaves them out; ``exptime``
    None leaves the keyword out.
    """
    rng = np.random.default_rng(3)
    header = (wcs if wcs is not None else sky_wcs(FITS_SHAPE, 0.11 * ARCSEC, 10.0)).to_header()
    primary = fits.Header()
    if exptime is not None:
        primary["EXPTIME"] = exptime
    for key, value in (extra_primary or {}).items():
        primary[key] = value
    content = {
        "SCI": rng.normal(1.0, 0.1, FITS_SHAPE).astype(np.float32),
        "ERR": np.full(FITS_SHAPE, 0.1, np.float32),
        "DQ": np.zeros(FITS_SHAPE, np.uint16),
    }
    content.update(arrays or {})
    hdus = [fits.PrimaryHDU(header=primary)]
    for name, arr in content.items():
        if name not in drop:
            hdus.append(fits.ImageHDU(arr, header=header, name=name))
    fits.HDUList(hdus).writeto(path)
    return str(path)


def _linear_wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ["X", "Y"]
    return w


def _table_sci(path):
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name="flux", format="E", array=np.zeros(5, np.float32))], name="SCI"
    )
    primary = fits.PrimaryHDU(header=fits.Header([("EXPTIME", 10.0)]))
    fits.HDUList([primary, table]).writeto(path)
    return str(path)


def _truncated(path):
    write_fits(path)
    with fits.open(path) as h:
        cut = h.fileinfo(1)["datLoc"] + 100  # inside the SCI data
    with open(path, "r+b") as f:
        f.truncate(cut)
    return str(path)


def _text(path, content="this is not a FITS file\n"):
    with open(path, "w") as f:
        f.write(content)
    return str(path)


# fmt: off
BAD_FILES = {
    "valid": write_fits,  # for cases whose mistake is in the options
    "not-fits": _text,
    "no-sci": lambda p: write_fits(p, drop=("SCI",)),
    "sci-cube": lambda p: write_fits(p, arrays={"SCI": np.zeros((2,) + FITS_SHAPE, np.float32)}),
    "sci-table": _table_sci,
    "truncated": _truncated,
    "non-celestial": lambda p: write_fits(p, wcs=_linear_wcs()),
    "err-shape": lambda p: write_fits(p, arrays={"ERR": np.ones((5, 5), np.float32)}),
    "dq-int64": lambda p: write_fits(p, arrays={"DQ": np.zeros(FITS_SHAPE, np.int64)}),
    "dq-float": lambda p: write_fits(p, arrays={"DQ": np.zeros(FITS_SHAPE, np.float32)}),
    "no-exptime": lambda p: write_fits(p, exptime=None),
    "exptime-zero": lambda p: write_fits(p, exptime=0.0),
    "exptime-negative": lambda p: write_fits(p, exptime=-5.0),
    "exptime-word": lambda p: write_fits(p, exptime="long"),
    "far-away": lambda p: write_fits(p, wcs=sky_wcs(FITS_SHAPE, 0.11 * ARCSEC, crval=(200, 2))),
}
# fmt: on


def bad_file(tmp_path, kind):
    return BAD_FILES[kind](tmp_path / f"{kind}.fits")


def small_inputs(n, seed=0):
    return exposures(n, seed=seed, in_shape=IN_SHAPE, out_shape=GRID)


def run_mosaic(inputs, path, **kw):
    args = {"out_shape": GRID, "tile_shape": TILE, "scheduler": "sync", **kw}
    return mosaic(inputs, path, **args)


@pytest.fixture(scope="module")
def base_store(tmp_path_factory):
    """A finished store on ``OUT_WCS`` (one FITS input): copied by tests that change it."""
    tmp = tmp_path_factory.mktemp("base")
    good = write_fits(tmp / "first.fits")
    path = tmp / "base.zarr"
    run_mosaic([FitsExposure(good)], path, out_shape=None, wcs=OUT_WCS)
    return path


@pytest.fixture
def store(base_store, tmp_path):
    path = tmp_path / "store.zarr"
    shutil.copytree(base_store, path)
    return path


@pytest.fixture
def live_pid():
    """The pid of a live process (not ours) that can hold a store's lock."""
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def hold_lock(path, pid):
    with open(os.path.join(path, ".tiledrizzle.lock"), "w") as f:
        json.dump({"pid": pid, "host": os.uname().nodename, "time": 0.0}, f)


# -- facade: Drizzle and blot_image -----------------------------------------------------------

# fmt: off
ADD_IMAGE_CASES = [
    pytest.param(
        {"pixmap": affine_pixmap(SHAPE[::-1])}, ValueError, "'pixmap' shape", True,
        id="pixmap-transposed",
    ),
    pytest.param(
        {"weight_map": np.ones(SHAPE[::-1], np.float32)}, ValueError, "'weight_map' shape", True,
        id="weight_map-transposed",
    ),
    pytest.param(
        {"data2": [DATA, np.ones((12, 13), np.float32)]}, ValueError, "'data2' shape", True,
        id="data2-list-one-wrong",
    ),
    pytest.param(
        {"dq": np.zeros(SHAPE[::-1], np.uint32)}, ValueError, "'dq' shape", True,
        id="dq-transposed",
    ),
    pytest.param(
        {"dq": np.zeros(SHAPE, np.int64)}, TypeError, "'dq' must be of an unsigned integer", True,
        id="dq-int64",
    ),
    pytest.param({"data": DATA[None]}, ValueError, "'data' must be a 2D", True, id="data-3d"),
    pytest.param({"exptime": -5.0}, ValueError, "'exptime'", True, id="exptime-negative"),
    pytest.param(
        {"exptime": "10"}, TypeError, "'exptime'", True, id="exptime-string",
    ),
    pytest.param(
        {"pixmap": np.where(np.arange(SHAPE[1])[None, :, None] == 5, PIXMAP, np.nan)},
        ValueError, "valid pixels", True, id="pixmap-one-valid-column",
    ),
    pytest.param(
        {"pixmap": np.full(PIXMAP.shape, "x")}, ValueError, "'pixmap'", True,
        id="pixmap-strings",
    ),
]
# fmt: on


@pytest.mark.parametrize("tile_shape", [None, (8, 8)], ids=["untiled", "tiled"])
@pytest.mark.parametrize("extra, error, message, reference_checks", ADD_IMAGE_CASES)
def test_facade_add_image_refuses(tile_shape, extra, error, message, reference_checks):
    kwargs = {"data": DATA, "exptime": 1.0, "pixmap": PIXMAP, **extra}
    if reference_checks:
        with pytest.raises(error):
            RefDrizzle(out_shape=OUT).add_image(**kwargs)
    d = Drizzle(out_shape=OUT, tile_shape=tile_shape)
    with pytest.raises(error, match=message):
        d.add_image(**kwargs)
    assert d.ctx_id == 0 and d.total_exptime == 0.0 and not d.out_wht.any()


# fmt: off
INIT_CASES = [
    # (the reference raises AttributeError for a None kernel: no check of its own)
    pytest.param({"kernel": None}, ValueError, "Kernel 'None' is not supported", False,
                 id="kernel-None"),
    pytest.param({"kernel": "lanczos4"}, ValueError, "Kernel 'lanczos4'", True,
                 id="kernel-unknown"),
    pytest.param({"fillval": "1.0.0"}, ValueError, "^could not convert string to float: '1.0.0'$",
                 True, id="fillval-two-dots"),
    pytest.param({"fillval2": "abc"}, ValueError, "^could not convert string to float: 'abc'$",
                 True, id="fillval2-word"),
    pytest.param({"tile_shape": (0, 8)}, ValueError, "'tile_shape'", False, id="tile_shape-zero"),
    pytest.param({"tile_shape": (8.5, 8)}, ValueError, "'tile_shape'", False,
                 id="tile_shape-fractional"),
    pytest.param({"tile_shape": 8}, ValueError, "'tile_shape' must be a pair", False,
                 id="tile_shape-scalar"),
    pytest.param({"tile_shape": (8, 8), "block_shape": (-1, 8)}, ValueError, "'block_shape'",
                 False, id="block_shape-negative"),
    pytest.param({"scheduler": "threads"}, ValueError, "'scheduler' needs 'tile_shape'", False,
                 id="scheduler-without-tiles"),
    pytest.param({"tile_shape": (8, 8), "scheduler": "gpu"}, ValueError,
                 "unknown scheduler 'gpu'", False, id="scheduler-unknown"),
]
# fmt: on


@pytest.mark.parametrize("kwargs, error, message, reference_checks", INIT_CASES)
def test_facade_constructor_refuses(kwargs, error, message, reference_checks):
    if reference_checks:
        with pytest.raises(error):
            RefDrizzle(out_shape=OUT, **kwargs)
    with pytest.raises(error, match=message):
        Drizzle(out_shape=OUT, **kwargs)


# fmt: off
WARN_CASES = [
    pytest.param({"data": DATA + 0.5j}, np.exceptions.ComplexWarning, "imaginary part",
                 id="data-complex"),
    pytest.param({"pixmap": PIXMAP.astype(complex)}, np.exceptions.ComplexWarning,
                 "imaginary part", id="pixmap-complex"),
    pytest.param({"pixfrac": 0.0}, Warning, "Kernel reset to 'point'", id="pixfrac-zero"),
    pytest.param({"pixfrac": -1.0}, Warning, "Kernel reset to 'point'", id="pixfrac-negative"),
]
# fmt: on


@pytest.mark.parametrize("extra, category, message", WARN_CASES)
def test_facade_warns_as_the_reference_does(extra, category, message):
    """The reference accepts these with a warning; the drop-in facade must do the same."""
    call = {"data": DATA, "exptime": 1.0, "pixmap": PIXMAP, **extra}
    with pytest.warns(category, match=message):
        Drizzle(out_shape=OUT).add_image(**call)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)  # parity.data_scale's cast
        compare({"out_shape": OUT}, [call])  # same counts, warnings and outputs as the reference


# fmt: off
DEGENERATE_CASES = [
    pytest.param({"data": np.full(SHAPE, np.nan, np.float32)}, id="data-all-nan"),
    pytest.param({"pixmap": PIXMAP + 1e30}, id="pixmap-at-1e30"),
    pytest.param({"pixmap": PIXMAP - 1e30}, id="pixmap-at-minus-1e30"),
    pytest.param(
        {"pixmap": np.full(PIXMAP.shape, np.inf)}, id="pixmap-all-inf"),
]
# fmt: on


@pytest.mark.parametrize("extra", DEGENERATE_CASES)
def test_facade_degenerate_inputs_behave_as_the_reference(extra):
    """Accepted by the reference without a warning: same counts and outputs, no warning."""
    compare({"out_shape": OUT}, [{"data": DATA, "exptime": 1.0, "pixmap": PIXMAP, **extra}])


BLOT_PIXMAP = affine_pixmap((10, 11), shift=(1.5, 0.5))

# fmt: off
BLOT_CASES = [
    pytest.param({"interp": "cubic"}, ValueError, "Unknown interp type 'cubic'",
                 id="interp-unknown"),
    pytest.param({"fillval": "abc"}, TypeError, "'fillval'", id="fillval-word"),
    pytest.param({"data": DATA.astype(complex)}, TypeError, "'data' must be a real",
                 id="data-complex"),
    pytest.param({"pixmap": BLOT_PIXMAP.astype(complex)}, TypeError, "'pixmap' must be a real",
                 id="pixmap-complex"),
]
# fmt: on


@pytest.mark.parametrize("extra, error, message", BLOT_CASES)
def test_blot_image_refuses(extra, error, message):
    kwargs = {"data": DATA, "pixmap": BLOT_PIXMAP, **extra}
    with pytest.raises(Exception) as ref_err:  # the reference's C layer: plain Exception
        ref_blot_image(**kwargs)
    with pytest.raises(error, match=message) as our_err:
        blot_image(**kwargs)
    assert isinstance(our_err.value, type(ref_err.value))


@pytest.mark.parametrize("shift", [1e30, -1e30], ids=["1e30", "minus-1e30"])
def test_blot_image_absurd_positions_give_fillval(shift):
    kwargs = {"data": DATA, "pixmap": BLOT_PIXMAP + shift, "fillval": -7.0}
    ours = blot_image(**kwargs)
    np.testing.assert_array_equal(ours, np.full(BLOT_PIXMAP.shape[:2], -7.0, np.float32))
    np.testing.assert_array_equal(ours, ref_blot_image(**kwargs))


# -- batch API: mosaic() ----------------------------------------------------------------------

# fmt: off
ARGUMENT_CASES = [
    pytest.param({"inputs": ()}, ValueError, "'inputs' is empty", id="inputs-empty"),
    pytest.param(
        {"inputs": None}, TypeError, "'inputs'", id="inputs-None"),
    pytest.param({"kernel": "lanczos4"}, ValueError, "Kernel 'lanczos4' is not supported",
                 id="kernel-unknown"),
    pytest.param({"pixfrac": 0.0}, ValueError, "'pixfrac' must be positive", id="pixfrac-zero"),
    pytest.param({"pixfrac": np.nan}, ValueError, "'pixfrac' must be positive",
                 id="pixfrac-nan"),
    pytest.param({"tile_shape": (16.5, 16)}, ValueError, "'tile_shape'",
                 id="tile_shape-fractional"),
    pytest.param({"tile_shape": "16"}, ValueError, "'tile_shape'", id="tile_shape-string"),
    pytest.param({"tile_shape": (-16, 16)}, ValueError, "'tile_shape'",
                 id="tile_shape-negative"),
    pytest.param({"block_shape": (0, 8)}, ValueError, "'block_shape'", id="block_shape-zero"),
    pytest.param({"out_shape": (0, 40)}, ValueError, "'out_shape'", id="out_shape-zero"),
    pytest.param({"fillval": "abc"}, ValueError, "^'fillval': could not convert",
                 id="fillval-word"),
    pytest.param({"fillval2": "1.0.0"}, ValueError, "^'fillval2': could not convert",
                 id="fillval2-two-dots"),
    pytest.param({"scheduler": "thread"}, ValueError, "unknown scheduler 'thread'",
                 id="scheduler-typo"),
]
# fmt: on


@pytest.mark.parametrize("kwargs, error, message", ARGUMENT_CASES)
def test_mosaic_arguments_refused_before_a_store_exists(tmp_path, kwargs, error, message):
    kwargs = dict(kwargs)
    inputs = kwargs.pop("inputs", small_inputs(1))
    path = tmp_path / "m.zarr"
    with pytest.raises(error, match=message):
        run_mosaic(inputs, path, **kwargs)
    assert not path.exists()


def test_mosaic_wcs_without_array_shape(tmp_path):
    wcs = sky_wcs(GRID, 0.1 * ARCSEC)
    wcs.array_shape = None
    with pytest.raises(ValueError, match="'wcs' has no array shape"):
        run_mosaic(small_inputs(1), tmp_path / "m.zarr", out_shape=None, wcs=wcs)
    assert not (tmp_path / "m.zarr").exists()


# fmt: off
FIELD_CASES = [
    pytest.param("pixmap", lambda e: affine_pixmap(IN_SHAPE[::-1]), ValueError,
                 "'pixmap' shape", id="pixmap-transposed"),
    pytest.param("weight_map", lambda e: np.ones(IN_SHAPE[::-1], np.float32), ValueError,
                 "'weight_map' shape", id="weight_map-transposed"),
    pytest.param("data2", lambda e: np.ones((3, 3), np.float32), ValueError, "'data2' shape",
                 id="data2-wrong-shape"),
    pytest.param("dq", lambda e: np.zeros(IN_SHAPE[::-1], np.uint32), ValueError, "'dq' shape",
                 id="dq-transposed"),
    pytest.param("dq", lambda e: np.zeros(IN_SHAPE, np.uint64), TypeError,
                 "'dq' must be of an unsigned integer type with itemsize of 4", id="dq-uint64"),
    pytest.param("data", lambda e: None, ValueError, "'data' must be a 2D array",
                 id="data-None"),
    pytest.param("pixmap", lambda e: np.full(e["pixmap"].shape, np.nan), ValueError,
                 "valid pixels", id="pixmap-all-nan"),
    pytest.param("exptime", lambda e: -5.0, ValueError, "'exptime'", id="exptime-negative"),
    pytest.param("in_units", lambda e: "electrons", ValueError, "Unknown unit type",
                 id="in_units-unknown"),
    pytest.param(
        "exptime", lambda e: float("nan"), ValueError, "'exptime'", id="exptime-nan"),
    pytest.param(
        "data", lambda e: e["data"] + 0.5j, TypeError, "'data'", id="data-complex"),
    pytest.param(
        "pixmap", lambda e: np.full(e["pixmap"].shape, "x"), ValueError, "'pixmap'",
        id="pixmap-strings",
    ),
]
# fmt: on


@pytest.mark.parametrize("field, make, error, message", FIELD_CASES)
def test_mosaic_bad_input_names_the_input(tmp_path, field, make, error, message):
    inputs = small_inputs(2)
    inputs[1][field] = make(inputs[1])
    path = tmp_path / "m.zarr"
    with pytest.raises(error, match=rf"input 1 \(exp001\): .*{message}"):
        run_mosaic(inputs, path)
    assert not path.exists()


# fmt: off
OUTSIDE_CASES = [
    pytest.param(lambda p: p + 1e30, id="pixmap-at-1e30"),
    pytest.param(lambda p: p - 1e30, id="pixmap-at-minus-1e30"),
    pytest.param(lambda p: np.where(np.isfinite(p), 1e30, p) * [1, -1], id="pixmap-split-1e30"),
    pytest.param(
        lambda p: np.full(p.shape, np.inf), id="pixmap-all-inf"),
]
# fmt: on


@pytest.mark.parametrize("make", OUTSIDE_CASES)
def test_input_wholly_outside_is_reported_not_dropped(tmp_path, make):
    inputs = small_inputs(2, seed=3)
    inputs[1]["pixmap"] = make(inputs[1]["pixmap"])
    with pytest.warns(InputsOutsideWarning, match=r"1 input\(s\) touch no tile.*: exp001") as rec:
        r = run_mosaic(inputs, tmp_path / "m.zarr")
    assert [w.category for w in rec] == [InputsOutsideWarning], [str(w.message) for w in rec]
    assert r.report["inputs_outside"] == ["exp001"] and r.report["inputs_used"] == 1
    assert [i["name"] for i in r.store.attrs["inputs"]] == ["exp000"]
    assert r.store.attrs["total_exptime"] == pytest.approx(inputs[0]["exptime"])


def _facade_outputs(inputs):
    d = Drizzle(out_shape=GRID)
    for e in inputs:
        d.add_image(**add_image_kwargs(e))
    return {"img": d.out_img, "wht": d.out_wht, "ctx": d.out_ctx}


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda e: e["data"].fill(np.nan), id="data-all-nan"),
        pytest.param(lambda e: e["pixmap"].__setitem__((3, 4), (1e30, -1e30)),
                     id="one-pixel-at-1e30"),
    ],
)  # fmt: skip
def test_mosaic_degenerate_values_equal_the_facade(tmp_path, edit):
    """Accepted as the facade accepts them, to the same bits (no overflow in the plan)."""
    inputs = small_inputs(2, seed=5)
    edit(inputs[1])
    r = run_mosaic(inputs, tmp_path / "m.zarr")
    assert r.report["inputs_used"] == 2
    assert_identical(outputs(r), _facade_outputs(inputs))


# -- batch API: FITS inputs -------------------------------------------------------------------

# fmt: off
FITS_CASES = [
    pytest.param("sci-cube", {}, "the science extension must hold a 2D image .NAXIS=3",
                 id="sci-cube"),
    pytest.param("sci-table", {}, "must hold a 2D image, not a BinTableHDU", id="sci-table"),
    pytest.param("truncated", {}, r"\['SCI'\]: the file is truncated", id="truncated"),
    pytest.param("dq-int64", {"dq_ext": "DQ"}, r"\['DQ'\]: DQ must be an integer image of at "
                 r"most 32 bits \(BITPIX=64\)", id="dq-int64"),
    pytest.param("dq-float", {"dq_ext": "DQ"}, r"DQ must be an integer image.*BITPIX=-32",
                 id="dq-float"),
    pytest.param("exptime-negative", {}, "exposure time must be positive, got -5.0",
                 id="exptime-negative"),
    pytest.param("exptime-word", {}, "exposure time 'long' is not a number", id="exptime-word"),
    pytest.param("no-sci", {"sci_ext": 5}, "no science extension 5", id="sci_ext-absent-number"),
    pytest.param("valid", {"bad_bits": -1, "dq_ext": "DQ"}, "'bad_bits' must be a bit mask",
                 id="bad_bits-negative"),
    pytest.param("valid", {"bad_bits": 2**32}, "'bad_bits' must be a bit mask between 0",
                 id="bad_bits-too-wide"),
    pytest.param("valid", {"bad_bits": "8"}, "'bad_bits' must be an integer bit mask",
                 id="bad_bits-string"),
    pytest.param("valid", {"err_ext": "ERR", "var_ext": "ERR"}, "'err_ext' or 'var_ext', not",
                 id="err-and-var"),
    pytest.param("valid", {"weight": 0.5}, "weight must be one of", id="weight-float"),
    pytest.param("valid", {"weight": "ivm"}, "weight='ivm' needs 'err_ext'",
                 id="ivm-without-errors"),
    pytest.param("valid", {"units": "electrons"}, "units must be 'cps' or 'counts'",
                 id="units-unknown"),
    pytest.param("valid", {"exptime": float("nan")}, "exposure time must be positive",
                 id="exptime-override-nan"),
]
# fmt: on


@pytest.mark.parametrize("kind, options, message", FITS_CASES)
def test_fits_input_refused_naming_the_file(tmp_path, kind, options, message):
    good = write_fits(tmp_path / "good.fits")
    bad = bad_file(tmp_path, kind)
    path = tmp_path / "m.zarr"
    with pytest.raises(FitsInputError, match=re.escape(os.path.basename(bad)) + ".*" + message):
        run_mosaic([FitsExposure(good), FitsExposure(bad, **options)], path, out_shape=None,
                   wcs=OUT_WCS)  # fmt: skip
    assert not path.exists()


def test_fits_inputs_without_output_wcs(tmp_path):
    good = write_fits(tmp_path / "good.fits")
    with pytest.raises(ValueError, match=r"input 0 \(good.fits\): FITS inputs need the output"):
        run_mosaic([FitsExposure(good)], tmp_path / "m.zarr")
    assert not (tmp_path / "m.zarr").exists()


def test_fits_input_off_the_grid_is_reported(tmp_path):
    good = write_fits(tmp_path / "good.fits")
    far = bad_file(tmp_path, "far-away")
    with pytest.warns(InputsOutsideWarning, match="far-away.fits") as rec:
        r = run_mosaic([FitsExposure(good), FitsExposure(far)], tmp_path / "m.zarr",
                       out_shape=None, wcs=OUT_WCS)  # fmt: skip
    assert [w.category for w in rec] == [InputsOutsideWarning]
    assert r.report["inputs_outside"] == ["far-away.fits"] and r.report["inputs_used"] == 1


# -- batch API: existing stores ---------------------------------------------------------------


def _edit_attrs(change):
    def edit(path):
        meta = os.path.join(path, "zarr.json")
        with open(meta) as f:
            doc = json.load(f)
        change(doc["attributes"])
        with open(meta, "w") as f:
            json.dump(doc, f)

    return edit


def _set(key, value):
    return _edit_attrs(lambda a: a["tiledrizzle"].__setitem__(key, value))


def _delete(key):
    return _edit_attrs(lambda a: a["tiledrizzle"].pop(key))


def _write_root_json(text):
    def edit(path):
        with open(os.path.join(path, "zarr.json"), "w") as f:
            f.write(text)

    return edit


# fmt: off
STORE_CASES = [
    pytest.param(None, {"out_shape": (40, 41)}, StoreError, "grid shape", id="other-grid"),
    pytest.param(None, {"tile_shape": (8, 16)}, StoreError, "tile shape", id="other-tile-shape"),
    pytest.param(None, {"kernel": "turbo"}, StoreError, "kernel 'square', not 'turbo'",
                 id="other-kernel"),
    pytest.param(None, {"pixfrac": 0.7}, StoreError, "pixfrac", id="other-pixfrac"),
    pytest.param(
        None, {"fillval": 0.0}, StoreError, "fill", id="other-fillval"),
    pytest.param(_edit_attrs(lambda a: a.__setitem__("tiledrizzle", "garbage")), {}, StoreError,
                 "is not a tiledrizzle mosaic store", id="metadata-replaced-by-string"),
    pytest.param(_delete("format"), {}, StoreError, "is not a tiledrizzle mosaic store",
                 id="metadata-without-format"),
    pytest.param(_delete("kernel"), {}, StoreError, "corrupted metadata.*'kernel'",
                 id="metadata-without-kernel"),
    pytest.param(_edit_attrs(lambda a: a["tiledrizzle"]["grid"].__setitem__("shape", "ab")), {},
                 StoreError, "corrupted metadata.*'out_shape'", id="metadata-grid-garbage"),
    pytest.param(_set("pixfrac", "abc"), {}, StoreError, "corrupted metadata",
                 id="metadata-pixfrac-garbage"),
    pytest.param(_delete("batches"), {}, StoreError, "corrupted metadata.*batches",
                 id="metadata-without-batches"),
    pytest.param(_delete("inputs"), {}, StoreError, "corrupted metadata.*inputs",
                 id="metadata-without-inputs"),
    pytest.param(_set("total_exptime", "abc"), {}, StoreError, "corrupted metadata.*exptime",
                 id="metadata-exptime-garbage"),
    pytest.param(lambda p: shutil.rmtree(os.path.join(p, "img")), {}, StoreError,
                 "corrupted.*img", id="img-array-deleted"),
    pytest.param(_write_root_json("{not json"), {}, StoreError, "cannot open|corrupted",
                 id="root-zarr-json-garbage"),
]
# fmt: on


@pytest.mark.parametrize("edit, kwargs, error, message", STORE_CASES)
def test_existing_store_refused_unchanged(store, edit, kwargs, error, message):
    if edit is not None:
        edit(store)
    before = store_checksum(store)
    with pytest.raises(error, match=message):
        run_mosaic(small_inputs(1, seed=8), store, **kwargs)
    assert store_checksum(store) == before


def test_img2_count_of_store_refused_unchanged(tmp_path):
    path = tmp_path / "m.zarr"
    first = small_inputs(1)
    first[0]["data2"] = [first[0]["data"], first[0]["data"]]
    run_mosaic(first, path)
    before = store_checksum(path)
    second = small_inputs(1, seed=2)
    second[0]["data2"] = second[0]["data"]
    with pytest.raises(ValueError, match="the store holds 2 'img2' arrays; the inputs have 1"):
        run_mosaic(second, path)
    assert store_checksum(path) == before


def test_store_locked_by_a_live_process(store, live_pid):
    hold_lock(store, live_pid)
    before = store_checksum(store)
    with pytest.raises(StoreLockedError, match=f"being written by another job .pid {live_pid}"):
        run_mosaic(small_inputs(1), store)
    assert store_checksum(store) == before


def test_store_path_under_a_regular_file(tmp_path):
    blocker = tmp_path / "plain-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the mosaic store .*plain-file/m.zarr"):
        run_mosaic(small_inputs(1), blocker / "m.zarr")
    assert blocker.read_text() == "not a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_store_path_under_a_read_only_directory(tmp_path):
    locked = tmp_path / "read-only"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="cannot create the mosaic store .*read-only/m.zarr"):
            run_mosaic(small_inputs(1), locked / "m.zarr")
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o755)


# -- command line -----------------------------------------------------------------------------


class Workspace:
    """Files for one CLI case: a good exposure, the output header, a copy of the base store."""

    RUN = ["--scheduler", "sync", "--no-progress", "--tile", "16"]

    def __init__(self, tmp_path, base_store):
        self.tmp = tmp_path
        self.good = write_fits(tmp_path / "good.fits")
        self.hdr = _text(tmp_path / "out.hdr", wcs_to_header_string(OUT_WCS))
        self.new = str(tmp_path / "new.zarr")
        self.store = str(tmp_path / "store.zarr")
        shutil.copytree(base_store, self.store)

    def bad(self, kind):
        return bad_file(self.tmp, kind)

    def mosaic_new(self, *inputs, extra=()):
        return ["mosaic", self.good, *inputs, "--out", self.new, "--wcs", self.hdr, *self.RUN,
                *extra]  # fmt: skip

    def mosaic_store(self, *extra):
        return ["mosaic", self.good, "--out", self.store, *self.RUN, *extra]


# fmt: off
CLI_CASES = [
    # input files
    pytest.param(lambda w: w.mosaic_new(str(w.tmp / "absent.fits")),
                 r"absent.fits: no such file", id="missing-input-file"),
    pytest.param(lambda w: w.mosaic_new(w.bad("not-fits")),
                 r"not-fits.fits: not a readable FITS file", id="not-a-fits-file"),
    pytest.param(lambda w: w.mosaic_new(w.bad("no-sci")),
                 r"no-sci.fits: no science extension 'SCI'", id="no-sci-extension"),
    pytest.param(lambda w: w.mosaic_new(w.bad("non-celestial")),
                 r"non-celestial.fits\['SCI'\]: the WCS is missing or not celestial",
                 id="non-celestial-wcs"),
    pytest.param(lambda w: w.mosaic_new(w.bad("err-shape"), extra=["--err-ext", "ERR"]),
                 r"err-shape.fits\['ERR'\]: the error extension has shape \(5, 5\)",
                 id="err-shape-mismatch"),
    pytest.param(lambda w: w.mosaic_new(w.bad("no-exptime")),
                 r"no-exptime.fits\['SCI'\]: exposure time keyword 'EXPTIME' not found",
                 id="no-exptime-keyword"),
    pytest.param(lambda w: w.mosaic_new(extra=["--exptime-key", "XPOSURE"]),
                 r"good.fits\['SCI'\]: exposure time keyword 'XPOSURE' not found",
                 id="exptime-key-absent"),
    pytest.param(lambda w: w.mosaic_new(w.bad("exptime-zero")),
                 r"exptime-zero.fits: exposure time must be positive, got 0.0",
                 id="exptime-zero"),
    pytest.param(lambda w: w.mosaic_new(w.bad("dq-float"), extra=["--dq-ext", "DQ"]),
                 r"dq-float.fits\['DQ'\]: DQ must be an integer image", id="dq-float"),
    pytest.param(lambda w: w.mosaic_new(extra=["--dq-ext", "DQ", "--bad-bits", "-1"]),
                 r"good.fits: 'bad_bits' must be a bit mask", id="bad-bits-negative"),
    pytest.param(lambda w: w.mosaic_new(extra=["--weight", "WHT"]),
                 r"good.fits: no weight extension 'WHT'", id="weight-extension-absent"),
    # options
    pytest.param(lambda w: w.mosaic_new(extra=["--tile", "0"]),
                 r"argument --tile: expected positive N or NY,NX, got '0'", id="tile-zero"),
    pytest.param(lambda w: w.mosaic_new(extra=["--tile", "big"]),
                 r"argument --tile: expected N or NY,NX, got 'big'", id="tile-word"),
    pytest.param(lambda w: w.mosaic_new(extra=["--tile", "8,8,8"]),
                 r"argument --tile: expected positive N or NY,NX", id="tile-three-numbers"),
    pytest.param(lambda w: w.mosaic_new(extra=["--block", "-4"]),
                 r"argument --block: expected positive", id="block-negative"),
    pytest.param(lambda w: w.mosaic_new(extra=["--scheduler", "dask"]),
                 r"unknown scheduler 'dask'", id="scheduler-unknown"),
    pytest.param(lambda w: w.mosaic_new(extra=["--kernel", "boxcar"]),
                 r"argument --kernel: invalid choice: 'boxcar'", id="kernel-unknown"),
    pytest.param(lambda w: w.mosaic_new(extra=["--units", "electrons"]),
                 r"argument --units: invalid choice: 'electrons'", id="units-unknown"),
    pytest.param(lambda w: w.mosaic_new(extra=["--pixfrac", "0"]),
                 r"'pixfrac' must be positive", id="pixfrac-zero"),
    pytest.param(lambda w: w.mosaic_new(extra=["--pixfrac", "half"]),
                 r"argument --pixfrac: invalid float value: 'half'", id="pixfrac-word"),
    pytest.param(lambda w: w.mosaic_new(extra=["--fillval", "none-please"]),
                 r"--fillval: could not convert string to float: 'none-please'",
                 id="fillval-word"),
    pytest.param(lambda w: ["mosaic", w.good, "--wcs", w.hdr],
                 r"the following arguments are required: --out", id="out-not-given"),
    # --wcs
    pytest.param(lambda w: ["mosaic", w.good, "--out", w.new, "--wcs", str(w.tmp / "no.hdr")],
                 r"WCS header file '.*no.hdr' not found", id="wcs-file-missing"),
    pytest.param(lambda w: ["mosaic", w.good, "--out", w.new, "--wcs", w.bad("not-fits")],
                 r"WCS header file '.*not-fits.fits': unusable WCS", id="wcs-file-not-a-header"),
    pytest.param(lambda w: ["mosaic", w.good, "--out", w.new, "--wcs", str(w.tmp)],
                 r"WCS header file '.*': unreadable", id="wcs-file-is-a-directory"),
    pytest.param(lambda w: ["mosaic", w.good, "--out", w.new, "--wcs", w.bad("non-celestial")],
                 r"non-celestial.fits': the WCS is missing or not a 2-D celestial",
                 id="wcs-file-non-celestial"),
    # --out
    pytest.param(lambda w: ["mosaic", w.good, "--out", _text(w.tmp / "plain") + "/m.zarr",
                            "--wcs", w.hdr, *w.RUN],
                 r"cannot create the mosaic store '.*plain/m.zarr'", id="out-under-a-file"),
    pytest.param(lambda w: w.mosaic_store("--kernel", "point"),
                 r"was made with kernel 'square', not 'point'", id="out-store-other-kernel"),
    pytest.param(lambda w: w.mosaic_store("--tile", "8"),
                 r"was made with tile shape \(16, 16\), not \(8, 8\)", id="out-store-other-tile"),
    pytest.param(lambda w: (_delete("batches")(w.store), w.mosaic_store())[1],
                 r"corrupted metadata.*batches", id="out-store-corrupted"),
    # info
    pytest.param(lambda w: ["info", str(w.tmp)], r"no mosaic store at '.*'",
                 id="info-plain-directory"),
    pytest.param(lambda w: ["info", w.good], r"no mosaic store at '.*good.fits'",
                 id="info-regular-file"),
    pytest.param(lambda w: ["info", w.store + "/img"],
                 r"cannot open the mosaic store '.*store.zarr/img'", id="info-zarr-array"),
    pytest.param(lambda w: (_delete("batches")(w.store), ["info", w.store])[1],
                 r"corrupted metadata in the mosaic store '.*store.zarr': missing 'batches'",
                 id="info-corrupted-metadata"),
    pytest.param(lambda w: (_write_root_json("{not json")(w.store), ["info", w.store])[1],
                 r"cannot open the mosaic store '.*store.zarr'", id="info-zarr-json-garbage"),
    # blot
    pytest.param(lambda w: ["blot", w.store, "--like", str(w.tmp / "absent.fits"), "--out",
                            str(w.tmp / "b.fits")],
                 r"absent.fits: no such file", id="blot-like-file-missing"),
    pytest.param(lambda w: ["blot", w.store, "--out", str(w.tmp / "b.fits")],
                 r"the following arguments are required: --like", id="blot-like-not-given"),
    pytest.param(lambda w: ["blot", w.store, "--like", w.good, "--out", str(w.tmp / "b.fits"),
                            "--interp", "cubic"],
                 r"argument --interp: invalid choice: 'cubic' \(choose from 'nearest'",
                 id="blot-interp-unknown"),
    pytest.param(lambda w: ["blot", w.store, "--like", w.good, "--out", w.good],
                 r"good.fits exists \(use --overwrite\)", id="blot-out-exists"),
    # commands
    pytest.param(lambda w: [], r"the following arguments are required: command",
                 id="no-command"),
    pytest.param(lambda w: ["mosiac", w.good], r"invalid choice: 'mosiac'",
                 id="command-misspelt"),
    pytest.param(lambda w: ["demo", "--exposures", "0", "--workdir", str(w.tmp / "demo")],
                 r"--exposures must be from 1 to 64 .*, got 0$", id="demo-no-exposures"),
    pytest.param(lambda w: ["demo", "--exposures", "65", "--workdir", str(w.tmp / "demo")],
                 r"--exposures must be from 1 to 64 .*, got 65$", id="demo-too-many-exposures"),
    pytest.param(lambda w: ["demo", "--stretch", "sqrt", "--workdir", str(w.tmp / "demo")],
                 r"argument --stretch: invalid choice: 'sqrt'", id="demo-stretch-unknown"),
    pytest.param(lambda w: ["demo", "--preview-of", "dq", "--workdir", str(w.tmp / "demo")],
                 r"argument --preview-of: invalid choice: 'dq'", id="demo-preview-of-unknown"),
    # previews: the format from the suffix, checked before any work
    pytest.param(lambda w: w.mosaic_new(extra=["--preview", str(w.tmp / "quick.tif")]),
                 r"^tiledrizzle: error: --preview: cannot tell the image format of "
                 r"'.*quick.tif' from its suffix: name a .png, .jpg or .jpeg file$",
                 id="preview-format-unknown"),
    pytest.param(lambda w: w.mosaic_new(extra=["--preview", str(w.tmp / "quick")]),
                 r"--preview: cannot tell the image format of '.*quick'",
                 id="preview-format-no-suffix"),
    pytest.param(lambda w: w.mosaic_new(extra=["--stretch", "log"]),
                 r"--stretch needs --preview", id="stretch-without-preview"),
    pytest.param(lambda w: w.mosaic_new(extra=["--preview-of", "ctx"]),
                 r"--preview-of needs --preview", id="preview-of-without-preview"),
]
# fmt: on


@pytest.mark.parametrize("argv, message", CLI_CASES)
def test_cli_one_error_line_status_2(tmp_path, base_store, capsys, argv, message):
    w = Workspace(tmp_path, base_store)
    argv = argv(w)
    before = store_checksum(w.store)
    files_before = sorted(os.listdir(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be a second line on stderr
        rc = cli(argv)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert rc == 2, captured
    assert len(lines) == 1 and lines[0].startswith("tiledrizzle: error: "), captured.err
    assert re.search(message, lines[0]), lines[0]
    assert captured.out == ""
    assert store_checksum(w.store) == before
    assert sorted(os.listdir(tmp_path)) == files_before  # no new store, FITS or demo output


def test_cli_store_locked_by_a_live_process(tmp_path, base_store, capsys, live_pid):
    w = Workspace(tmp_path, base_store)
    hold_lock(w.store, live_pid)
    before = store_checksum(w.store)
    assert cli(w.mosaic_store()) == 2
    err = capsys.readouterr().err
    host = os.uname().nodename
    lock_path = os.path.join(w.store, LOCK_NAME)
    assert err == (f"tiledrizzle: error: the store {w.store!r} is being written by another job "
                   f"(pid {live_pid} on {host}); wait for it to finish, or, if that job is "
                   f"gone (e.g. on another host), remove {lock_path!r} and resume\n")  # fmt: skip
    assert store_checksum(w.store) == before


def test_cli_help_still_exits_0(capsys):
    with pytest.raises(SystemExit) as exc:
        cli(["mosaic", "--help"])
    assert exc.value.code == 0 and "--tile" in capsys.readouterr().out
