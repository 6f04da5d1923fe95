"""The one kernel table: the reference's names, the facts every stage reads from it."""

import subprocess
import sys
from pathlib import Path

import pytest

from tiledrizzle.kernels import drizzle as drizzle_kernels
from tiledrizzle.kernels.registry import (
    CTX_PLANE_BITS,
    KERNEL_NAMES,
    KERNELS,
    context_plane_count,
    kernel_spec,
)

reference = pytest.importorskip("drizzle.resample", reason="the reference drizzle is the oracle")


def test_names_are_the_references_in_its_order():
    assert KERNEL_NAMES == tuple(reference.SUPPORTED_DRIZZLE_KERNELS)
    assert list(KERNELS) == list(KERNEL_NAMES)


def test_non_conserving_kernels_are_the_ones_the_reference_documents():
    # The reference's Drizzle docstring: gaussian and lanczos2/3 "DO NOT conserve flux".
    assert {n for n, s in KERNELS.items() if not s.flux_conserving} == {
        "gaussian", "lanczos2", "lanczos3"
    }  # fmt: skip
    assert "gaussian" in reference.Drizzle.__init__.__doc__


def test_scale_ratio_is_needed_by_the_kernels_whose_footprint_it_sizes():
    assert {n for n, s in KERNELS.items() if s.needs_scale_ratio} == {
        "gaussian", "turbo", "lanczos2", "lanczos3"
    }  # fmt: skip


def test_entry_points_are_the_compiled_kernels():
    for name, spec in KERNELS.items():
        assert spec.run is getattr(drizzle_kernels, f"drizzle_{name}")


@pytest.mark.parametrize("name", ["SQUARE", "Lanczos3", "point"])
def test_lookup_is_case_insensitive(name):
    assert kernel_spec(name).name == name.lower()


@pytest.mark.parametrize("name", ["bilinear", "", None, 3])
def test_unknown_kernels_have_no_spec(name):
    assert kernel_spec(name) is None


@pytest.mark.parametrize("n_ids, planes", [(0, 1), (1, 1), (32, 1), (33, 2), (64, 2), (65, 3)])
def test_context_planes_hold_32_ids_each(n_ids, planes):
    assert CTX_PLANE_BITS == 32
    assert context_plane_count(n_ids) == planes


def test_facade_and_cli_accept_exactly_the_table(tmp_path):
    from tiledrizzle.cli.commands import _parser
    from tiledrizzle.resample import Drizzle

    for name in KERNEL_NAMES:
        Drizzle(kernel=name, out_shape=(4, 4))
    with pytest.raises(ValueError, match="Kernel 'bilinear' is not supported"):
        Drizzle(kernel="bilinear", out_shape=(4, 4))
    mosaic = next(
        a for a in _parser()._subparsers._group_actions[0].choices["mosaic"]._actions
        if "--kernel" in a.option_strings
    )  # fmt: skip
    assert tuple(mosaic.choices) == KERNEL_NAMES


def test_generated_entry_points_are_current():
    # The 12 compiled entry points are generated (tools/kernel_entry_points.py says why
    # they cannot be made at import time); the module must hold what the tool writes.
    tool = Path(__file__).resolve().parents[2] / "tools" / "kernel_entry_points.py"
    proc = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_reading_the_table_loads_no_numba():
    code = (
        "import sys\n"
        "from tiledrizzle.kernels.registry import KERNELS, KERNEL_NAMES\n"
        "assert KERNELS['turbo'].needs_scale_ratio and len(KERNEL_NAMES) == 6\n"
        "print('numba' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
