"""``tiledrizzle warmup`` compiles what a first mosaic needs, and a second process loads
it from Numba's cache instead of compiling again (NUMBA_CACHE_DIR, as the deploy
recipes point workers at a shared cache)."""

import json
import os
import subprocess
import sys

from helpers.fits_files import output_wcs, write_exposure

from tiledrizzle.cli.commands import main as cli
from tiledrizzle.inputs.output_wcs import wcs_to_header_string

COUNT_COMPILES = """
import importlib, json, pkgutil, sys
from numba.core.registry import CPUDispatcher
import tiledrizzle.kernels as kernels
from tiledrizzle.cli.commands import main
assert main(sys.argv[1:]) == 0
hits = misses = 0
for info in pkgutil.iter_modules(kernels.__path__):
    module = importlib.import_module(f"tiledrizzle.kernels.{info.name}")
    for obj in vars(module).values():
        if isinstance(obj, CPUDispatcher):
            hits += sum(obj.stats.cache_hits.values())
            misses += sum(obj.stats.cache_misses.values())
print(json.dumps({"hits": hits, "misses": misses}))
"""


def _job(tmp_path, kernel):
    (tmp_path / kernel).mkdir()
    tmp_path = tmp_path / kernel
    files = [str(write_exposure(tmp_path / f"e{k}.fits", k)) for k in range(2)]
    hdr = tmp_path / "out.hdr"
    hdr.write_text(wcs_to_header_string(output_wcs()))
    out = tmp_path / f"{kernel}.zarr"
    return ["mosaic", *files, "--out", str(out), "--wcs", str(hdr), "--tile", "32",
            "--err-ext", "ERR", "--dq-ext", "DQ", "--bad-bits", "8", "--kernel", kernel,
            "--no-progress"]  # fmt: skip


def _run(argv, env):
    proc = subprocess.run([sys.executable, "-c", COUNT_COMPILES, *argv], env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_the_warmed_kernels_from_the_cache(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    warm = subprocess.run([sys.executable, "-m", "tiledrizzle", "warmup", "--kernels", "point"],
                          env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert warm.returncode == 0, warm.stderr
    assert "point: FITS mosaics" in warm.stdout and str(tmp_path / "numba-cache") in warm.stdout
    assert os.listdir(tmp_path / "numba-cache")

    warmed = _run(_job(tmp_path, "point"), env)
    assert warmed["misses"] == 0 and warmed["hits"] > 0, warmed
    # The count can fail: a kernel the warm-up did not compile is compiled here.
    cold = _run(_job(tmp_path, "turbo"), env)
    assert cold["misses"] > 0, cold


def test_unknown_kernels_are_one_line(capsys):
    assert cli(["warmup", "--kernels", "square,bogus"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown kernel 'bogus'" in err, err
