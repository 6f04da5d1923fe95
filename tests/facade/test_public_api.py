"""The public API: the facade at the reference's paths, everything else from
``tiledrizzle`` itself, loaded on first use; the error family."""

import subprocess
import sys

import pytest

import tiledrizzle
from tiledrizzle import core

HEAVY = ("dask", "distributed", "zarr", "astropy", "scipy")


def _loaded_after(statement):
    code = (
        f"import sys\n{statement}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
        "print(sorted(m for m in sys.modules if m.startswith('tiledrizzle.')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    heavy, ours = proc.stdout.strip().splitlines()
    return eval(heavy), eval(ours)


def test_the_facade_loads_neither_dask_nor_zarr_nor_the_batch_engine():
    heavy, ours = _loaded_after(
        "from tiledrizzle.resample import Drizzle, blot_image\n"
        "from tiledrizzle.utils import calc_pixmap, decode_context"
    )
    assert heavy == []
    assert not {"tiledrizzle.engine.batch", "tiledrizzle.engine.execute",
                "tiledrizzle.store.zarr_store", "tiledrizzle.cli"} & set(ours)  # fmt: skip


def test_the_package_loads_nothing_until_a_name_is_used():
    heavy, ours = _loaded_after("import tiledrizzle")
    assert heavy == [] and ours == []
    heavy, ours = _loaded_after("from tiledrizzle import plan_mosaic")
    assert "dask" not in heavy and "tiledrizzle.engine.execute" not in ours


@pytest.mark.parametrize("name", sorted(tiledrizzle._PUBLIC))
def test_every_public_name_resolves_where_the_table_says(name):
    value = getattr(tiledrizzle, name)
    assert value.__module__ == tiledrizzle._PUBLIC[name]
    assert name in dir(tiledrizzle)


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'Mosaic'"):
        tiledrizzle.Mosaic  # noqa: B018


def test_errors_are_one_family_with_the_references_types():
    errors = core.errors
    for cls in (errors.InputError, errors.InputTypeError, errors.PlanError, errors.StoreError,
                errors.StoreLockedError, errors.FitsInputError):  # fmt: skip
        assert issubclass(cls, errors.TiledrizzleError)
    assert issubclass(errors.InputError, ValueError)
    assert issubclass(errors.InputTypeError, TypeError)
    assert issubclass(errors.PlanError, ValueError)
    assert issubclass(errors.StoreLockedError, RuntimeError)
    assert issubclass(errors.FitsInputError, errors.InputError)


def test_facade_raises_the_references_types_and_ours():
    import numpy as np

    from tiledrizzle.resample import Drizzle

    with pytest.raises(ValueError, match="Kernel 'cubic' is not supported") as info:
        Drizzle(kernel="cubic")
    assert isinstance(info.value, tiledrizzle.TiledrizzleError)
    d = Drizzle(out_shape=(5, 5))
    pm = np.zeros((4, 4, 2))
    with pytest.raises(TypeError) as info:
        d.add_image(np.zeros((4, 4), np.float32), exptime="long", pixmap=pm)
    assert isinstance(info.value, tiledrizzle.TiledrizzleError)
