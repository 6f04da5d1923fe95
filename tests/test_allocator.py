"""The command line's allocator settings: freed memory is kept and reused, the heap is
faulted in ahead of the kernels, and none of it changes a bit of the mosaic."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_fits_inputs import output_wcs, write_exposure

from tiledrizzle import allocator
from tiledrizzle.cli import main as cli_main
from tiledrizzle.output_wcs import wcs_to_header_string
from tiledrizzle.store import MosaicStore

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="mallopt is glibc's (Linux)",
)


def _python(code, env=None):
    """Run ``code`` in a fresh interpreter (allocator settings are per process)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=full_env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@glibc_only
def test_settings_are_applied_unless_the_environment_gives_them():
    out = _python("""
        from tiledrizzle.allocator import keep_freed_memory
        print(sorted(keep_freed_memory().items()))
    """)
    assert out.strip() == (
        "[('MALLOC_ARENA_MAX', True), ('MALLOC_MMAP_THRESHOLD_', True), "
        "('MALLOC_TRIM_THRESHOLD_', True)]"
    )
    out = _python("""
        from tiledrizzle.allocator import keep_freed_memory
        print(sorted(keep_freed_memory()))
    """, env={"MALLOC_ARENA_MAX": "4"})  # fmt: skip
    assert out.strip() == "['MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_']"


@glibc_only
def test_arrays_land_on_the_warmed_heap():
    # Eight arrays of 8 MiB alive at once (as strips and partial sums are) take 64 MiB of
    # new resident memory in a cold process; after keep_freed_memory + warm_heap they are
    # carved from pages already resident, so the process barely grows.
    code = """
        import os
        import numpy as np
        from tiledrizzle import allocator
        if WARM:
            allocator.keep_freed_memory()
            assert allocator.warm_heap(96 * 2**20) == 96 * 2**20
        def resident():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        before = resident()
        arrays = [np.ones(2**20) for _ in range(8)]  # 8 MiB each, written
        print((resident() - before) // 2**20)
    """
    cold = int(_python(code.replace("WARM", "False")))
    warm = int(_python(code.replace("WARM", "True")))
    assert cold >= 56, cold  # MiB
    assert warm <= 8, warm


def test_warm_up_needs_the_settings_first():
    # In this (pytest) process keep_freed_memory was never called: nothing to warm for.
    assert allocator.warm_heap_in_background() is None


@glibc_only
def test_the_console_command_with_its_allocator_settings_changes_no_bit(tmp_path):
    # `python -m tiledrizzle` (settings applied, heap warmed on sync and threads) on two
    # schedulers, against main() in this process (no settings): the same stores.
    files = [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(3)]
    hdr = tmp_path / "out.hdr"
    hdr.write_text(wcs_to_header_string(output_wcs()))

    def args(store, scheduler):
        return ["mosaic", *files, "--out", str(store), "--wcs", str(hdr), "--tile", "32",
                "--err-ext", "ERR", "--scheduler", scheduler, "--no-progress"]  # fmt: skip

    stores = {}
    for scheduler in ("threads", "sync"):
        stores[scheduler] = tmp_path / f"{scheduler}.zarr"
        proc = subprocess.run([sys.executable, "-m", "tiledrizzle", *args(stores[scheduler],
                              scheduler)], capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    stores["in-process"] = tmp_path / "in_process.zarr"
    assert cli_main(args(stores["in-process"], "sync")) == 0
    groups = {name: MosaicStore.open(str(path)).group for name, path in stores.items()}
    assert (groups["in-process"]["wht"][...] > 0).any()
    for name in ("img", "wht", "ctx", "img2/0"):
        expected = groups["in-process"][name][...]
        for scheduler in ("threads", "sync"):
            np.testing.assert_array_equal(groups[scheduler][name][...], expected,
                                          err_msg=f"{name} ({scheduler})")  # fmt: skip
