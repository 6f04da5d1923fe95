"""Benchmark: the tiled engine (``tiledrizzle.mosaic.mosaic``) for speed, overhead and memory.

Three measurements, run side by side in one invocation, then one markdown table.

**A. Speed against the reference.** Eight exposures of the real JWST NIRCam B5
detector (``nrcb5_sip_wcs.hdr``, 2048 x 2048, 5th-order SIP) are placed on a
4 x 2 pattern of pointings, each half a detector from the next (so neighbours
overlap by half), each with a random dither of up to +-20 pixels plus a
sub-pixel part. The output is a distortion-free TAN grid from
``tiledrizzle.output_wcs.fit_output_wcs`` (pixel scale of the detector,
rotated to the detector's position angle so the grid is compact). Pixel maps
are computed once, before any timing, with ``WCSPixmap(..., mode="fast")``
(exact WCS on a lattice, verified cubic interpolation in between, error far
below 0.01 px); both engines get the very same arrays. Data ~ N(1, 0.1),
weights 1, square kernel, pixfrac 1.

* reference: ``drizzle.resample.Drizzle(kernel="square", out_shape=...)`` and
  ``add_image`` once per exposure (in memory, one core: its C core);
* tiledrizzle: ``mosaic(inputs, <new Zarr store>, wcs=out_wcs,
  scheduler="threads")`` with the default 1024 x 1024 tiles, on all the cores
  Dask's threaded scheduler uses (``dask.system.CPU_COUNT``); the time covers
  validation, planning, the graph, kernels, reduction and writing every tile
  into the Zarr store on disk.

The two alternate (reference first on even repetitions, tiledrizzle first on
odd ones) and the median of ``--repeat`` wall times of each is reported; the
target is reference / tiledrizzle >= 1.8. The CPU seconds of each (process
CPU time, all threads) are reported too: on ``n`` cores the wall-time target
is only reachable when tiledrizzle's CPU work is at most ``n / 1.8`` times the
reference's. The outputs are compared (max |wht_td - wht_ref| / max wht_ref)
to show both did the same work.

**B. Engine overhead.** The same mosaic runs on the synchronous scheduler
(one thread, so time adds up) with timing wrappers monkeypatched in from this
script (tiledrizzle's files are not changed):

* the kernel: ``tiledrizzle.engine.tasks`` looks its Numba kernel up in the
  module global ``KERNELS`` (the registry's table) at every call of
  ``drizzle_tile``; the script replaces that global by a copy whose entries add
  each call's seconds to a counter. The sum is the *kernel seconds*.
* for the breakdown: ``plan.prepare_inputs`` (validation),
  ``plan._engine_exposure`` + ``plan.plan_input`` (scan and plan),
  ``graph.drizzle_tile`` (the task: kernel, the column narrowing
  ``tasks.window_columns`` and partial-sum allocation), ``graph.finish_tile``
  (reducer task). On the local schedulers the reducer hands the tile's partial
  sums to a writer thread (``tiledrizzle.engine.write_behind``), which merges them
  (``MosaicStore.read_tile_before``: Zarr reads; ``reduce.reduce_tile``: merge,
  normalise) and writes the tile (``MosaicStore.write_tile``) off the critical
  path, while the next kernels run: those are shown apart, with the reducer
  tasks' own time on the main thread (hand-over, and waiting while
  ``MAX_PENDING`` tiles are queued) and the final wait for the last tiles
  (``TileWriteBehind.close``). Everything else (store creation and metadata,
  graph construction, Dask) is wall time minus the timed parts on the main
  thread.

overhead = (engine wall time on sync - kernel seconds) / kernel seconds,
median over ``--repeat`` runs; target <= 15 %. The same ratio is given on CPU
time (process CPU of all threads, which includes Zarr's own I/O and codec
threads, against the kernel calls' thread CPU time): other jobs on shared
cores stretch wall times unevenly, CPU time much less. Diagnostics: the
same kernels called once per exposure over the whole output (a single untiled
pass, as ``benchmarks/bench_kernels.py`` does) give the kernel's Mpix/s and
show how much the tiled tasks re-visit pixels of blocks that straddle tile
edges; two such passes run in two threads against one after the other show
whether the kernel releases the GIL.

**C. Out of core.** Sixteen NIRCam B5 exposures (2048 x 2048; 512 x 512 cut-outs
with ``--quick``) on a jittered 4 x 4 lattice are written as FITS files to a
temporary folder and drizzled as lazy ``tiledrizzle.io.FitsExposure`` inputs
(pixels read band by band where the task runs, pixel maps computed per band
from the WCS pair): nothing holds 16 pixel maps in the driver. Two output grids
hold the same inputs: 10000 x 10000 (fitted around them with
``fit_output_wcs`` then padded to that size) and 40000 x 40000 (the same
projection and scale, the 10000 grid placed at a whole number of tiles from its
corner so the tiles coincide). Each runs in its own subprocess
(``scheduler="threads"``); its peak resident memory is the ``VmHWM`` of its
own address space (``/proc/self/status``, read by the child as it ends),
cross-checked by polling the child's RSS with psutil every 20 ms (``ru_maxrss``
of a child is not used: Linux carries the parent's high-water mark over the
fork/exec into it). Targets: both peaks < 2 GiB, and within 20 % of
each other (memory follows the tiles in flight, not the grid). The bytes on
disk of each store and its number of chunk files show that empty tiles are
never written; the summed output weight of the two stores shows they hold the
same mosaic.

Run: ``python benchmarks/bench_mosaic.py [--repeat N] [--quick] [--parts abc]``.
``--quick`` runs small sizes (512 x 512 cut-outs of the detector, 512-pixel
tiles, 2500 and 10000 grids) as a smoke test; its figures say nothing about
the targets.
"""

from __future__ import annotations

import os

# Numerical libraries single-threaded: the parallelism measured is the engine's.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
WCS_DIR = pathlib.Path(
    os.environ.get("TILEDRIZZLE_WCS_DIR", REPO.parent / "shared" / "data" / "wcs")
)
DETECTOR_HEADER = WCS_DIR / "nrcb5_sip_wcs.hdr"

TARGET_SPEEDUP = 1.8
TARGET_OVERHEAD = 0.15
TARGET_PEAK_RSS = 2 * 2**30
TARGET_RSS_SPREAD = 0.20
GiB = 2**30

FULL = dict(a_side=2048, c_side=2048, tile=1024, grids=(10000, 40000))
QUICK = dict(a_side=512, c_side=512, tile=512, grids=(2500, 10000))


# -- machine ----------------------------------------------------------------------------


def machine():
    """Platform, CPU model, cores and RAM, and the versions that matter."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = int(line.split()[1]) * 1024
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    import dask
    import dask.system
    import numba
    import zarr

    try:
        import drizzle

        ref_version = drizzle.__version__
    except ImportError:
        ref_version = "absent"
    return {
        "platform": platform.platform(),
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "dask_threads": dask.system.CPU_COUNT,
        "ram": ram,
        "software": (
            f"Python {platform.python_version()}, numpy {np.__version__}, numba "
            f"{numba.__version__}, dask {dask.__version__}, zarr {zarr.__version__}, "
            f"drizzle {ref_version}"
        ),
    }


# -- geometry: the NIRCam detector at several pointings ------------------------------------


def read_detector_wcs():
    """The NIRCam B5 WCS (SIP) with its array shape."""
    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    header = fits.Header.fromtextfile(str(DETECTOR_HEADER))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    wcs.array_shape = (header["NAXIS2"], header["NAXIS1"])
    return wcs, header


def position_angle(wcs):
    """Degrees east of north of the detector's +y axis (from its CD matrix)."""
    cd = wcs.wcs.cd if wcs.wcs.has_cd() else wcs.wcs.get_pc() * wcs.wcs.cdelt
    return math.degrees(math.atan2(cd[0, 1], cd[1, 1]))


def cutout(wcs, side):
    """The centred ``side`` x ``side`` part of the detector (the WCS itself for the full side)."""
    ny, nx = wcs.array_shape
    if side >= min(ny, nx):
        return copy.deepcopy(wcs)
    y0, x0 = (ny - side) // 2, (nx - side) // 2
    sub = wcs[y0 : y0 + side, x0 : x0 + side]
    sub.array_shape = (side, side)
    return sub


def pointed(wcs, dx, dy):
    """A copy of ``wcs`` whose reference pixel points where ``wcs`` saw pixel (crpix + (dx, dy)).

    The detector moves by (dx, dy) of its own pixels (linear part of the WCS).
    """
    out = copy.deepcopy(wcs)
    x0, y0 = wcs.wcs.crpix - 1.0
    ra, dec = wcs.wcs_pix2world(np.array([[x0 + dx, y0 + dy]]), 0)[0]
    out.wcs.crval = [ra, dec]
    out.wcs.set()
    out.array_shape = wcs.array_shape
    return out


def eight_pointings(det, rng):
    """8 detector WCS: 4 x 2 pointings half a detector apart, each dithered."""
    side = det.array_shape[0]
    dither = 20.0 * side / 2048
    out = []
    for row in range(2):
        for col in range(4):
            jitter = rng.uniform(-dither, dither, 2) + rng.uniform(0, 1, 2)
            out.append(pointed(det, col * side / 2 + jitter[0], row * side / 2 + jitter[1]))
    return out


# -- A and B: in-memory mosaic of 8 exposures ------------------------------------------------


def case_eight(side, tile):
    """Inputs (dicts for ``mosaic``), output WCS and the arrays the reference gets."""
    from tiledrizzle.inputs.output_wcs import fit_output_wcs
    from tiledrizzle.inputs.pixmap import WCSPixmap

    base, _ = read_detector_wcs()
    det = cutout(base, side)
    rng = np.random.default_rng(20240)
    wcses = eight_pointings(det, rng)
    out_wcs = fit_output_wcs(wcses, rotation=position_angle(base), padding=2)
    t0 = time.perf_counter()
    inputs = []
    for k, w in enumerate(wcses):
        pixmap = WCSPixmap(w, out_wcs, mode="fast").full()
        data = rng.normal(1.0, 0.1, w.array_shape).astype(np.float32)
        inputs.append(
            dict(data=data, pixmap=pixmap, exptime=100.0, weight_map=np.ones_like(data),
                 name=f"nrcb5-{k}")
        )  # fmt: skip
    return {
        "inputs": inputs,
        "wcs": out_wcs,
        "out_shape": tuple(out_wcs.array_shape),
        "tile": (tile, tile),
        "pixmap_s": time.perf_counter() - t0,
        "in_shape": wcses[0].array_shape,
    }


def run_reference(case):
    from drizzle.resample import Drizzle as ReferenceDrizzle

    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    driz = ReferenceDrizzle(kernel="square", out_shape=case["out_shape"])
    for e in case["inputs"]:
        driz.add_image(e["data"], exptime=e["exptime"], pixmap=e["pixmap"],
                       weight_map=e["weight_map"])  # fmt: skip
    return time.perf_counter() - t0, time.process_time() - c0, driz


def run_tiled(case, workdir, scheduler):
    from tiledrizzle import mosaic

    store = tempfile.mkdtemp(prefix="store-", dir=workdir)
    shutil.rmtree(store)
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    result = mosaic(case["inputs"], store, wcs=case["wcs"], tile_shape=case["tile"],
                    kernel="square", scheduler=scheduler)  # fmt: skip
    return time.perf_counter() - t0, time.process_time() - c0, result


def compare_outputs(result, driz):
    """max |Δwht| / max wht and max |Δimg| where weighted, tiledrizzle vs reference."""
    wht = np.asarray(result.store.group["wht"][...], dtype=np.float64)
    img = np.asarray(result.store.group["img"][...], dtype=np.float64)
    ref_wht = driz.out_wht.astype(np.float64)
    dwht = float(np.max(np.abs(wht - ref_wht)) / np.max(ref_wht))
    good = ref_wht > 1e-4 * ref_wht.max()
    dimg = float(np.max(np.abs(img[good] - driz.out_img[good])))
    return dwht, dimg


class Timers:
    """Accumulated seconds per name for functions wrapped by ``patch``."""

    def __init__(self):
        self.seconds = {}
        self.cpu = {}
        self.calls = {}

    def wrap(self, name, func):
        def timed(*args, **kwargs):
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
                self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - c0
                self.calls[name] = self.calls.get(name, 0) + 1

        timed.__name__ = getattr(func, "__name__", name)
        return timed

    def get(self, name):
        return self.seconds.get(name, 0.0)


@contextlib.contextmanager
def timed_engine(timers):
    """Wrap the kernel entry of ``tasks.drizzle_tile`` and the engine's stages (undone after)."""
    from types import SimpleNamespace

    from tiledrizzle.engine import graph as graph_mod
    from tiledrizzle.engine import plan as plan_mod
    from tiledrizzle.engine import tasks as tasks_mod
    from tiledrizzle.engine import tile_commit as reduce_mod
    from tiledrizzle.engine.write_behind import TileWriteBehind
    from tiledrizzle.store.zarr_store import MosaicStore

    saved = []

    def patch(owner, attr, name):
        original = getattr(owner, attr)
        saved.append((owner, attr, original))
        setattr(owner, attr, timers.wrap(name, original))

    kernels = dict(tasks_mod.KERNELS)
    saved.append((tasks_mod, "KERNELS", tasks_mod.KERNELS))
    tasks_mod.KERNELS = {
        k: SimpleNamespace(run=timers.wrap("kernel", spec.run)) for k, spec in kernels.items()
    }
    patch(plan_mod, "prepare_inputs", "validate")
    patch(plan_mod, "_engine_exposure", "scan+plan")
    patch(plan_mod, "plan_input", "scan+plan")
    patch(graph_mod, "drizzle_tile", "task")
    patch(graph_mod, "finish_tile", "reducer task")
    patch(reduce_mod, "reduce_tile", "reduce")
    patch(tasks_mod, "window_columns", "narrow")
    patch(MosaicStore, "read_tile_before", "zarr read")
    patch(MosaicStore, "write_tile", "zarr write")
    patch(TileWriteBehind, "close", "write wait")
    try:
        yield timers
    finally:
        for owner, attr, original in reversed(saved):
            setattr(owner, attr, original)


def overhead_run(case, workdir):
    """One sync run with timers: (wall seconds, CPU seconds of all threads, Timers, report)."""
    timers = Timers()
    with timed_engine(timers):
        wall, cpu, result = run_tiled(case, workdir, "sync")
    shutil.rmtree(result.store.path, ignore_errors=True)
    return wall, cpu, timers, result.report


def single_pass_kernels(case):
    """Per input: a no-argument function running its kernel once over the whole output.

    As ``benchmarks/bench_kernels.py``: scan limits from ``plan_scanlines``, float64
    accumulators and a context plane allocated (and zeroed) outside the timer.
    """
    from tiledrizzle.engine.scan import plan_scanlines
    from tiledrizzle.kernels.registry import KERNELS

    out_ny, out_nx = case["out_shape"]
    func = KERNELS["square"].run
    empty_dq = np.zeros((0, 0), dtype=np.uint32)
    empty_hits = np.zeros((0, 0), dtype=np.uint8)
    var = np.zeros((0, out_ny, out_nx))
    runs = []
    for e in case["inputs"]:
        data, weights, pixmap = e["data"], e["weight_map"], e["pixmap"]
        ny, nx = data.shape
        scan = plan_scanlines(pixmap, (0, nx - 1, 0, ny - 1), case["out_shape"])
        data2 = np.zeros((0, ny, nx), dtype=np.float32)

        def run(data=data, weights=weights, pixmap=pixmap, scan=scan, data2=data2, nx=nx, ny=ny):
            flux = np.zeros((out_ny, out_nx))
            wht = np.zeros((out_ny, out_nx))
            ctx = np.zeros((out_ny, out_nx), dtype=np.int32)
            t0, c0 = time.perf_counter(), time.thread_time()
            func(
                data, weights, data2, empty_dq, pixmap, 0, 0, nx, ny,
                scan.row_first, scan.row_last, 0, nx - 1, scan.x_first, scan.x_last,
                out_nx, out_ny, 0, 0, flux, wht, var, ctx, np.int32(1), empty_dq,
                np.float32(1.0), np.float32(1.0), 1.0, np.float32(1.0), empty_hits,
            )  # fmt: skip
            return time.perf_counter() - t0, time.thread_time() - c0

        runs.append(run)
    return runs


def thread_scaling(runs):
    """(two kernel passes one after the other, the same two in two threads), seconds."""
    pair = runs[:2]
    t0 = time.perf_counter()
    for run in pair:
        run()
    sequential = time.perf_counter() - t0
    threads = [threading.Thread(target=run) for run in pair]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sequential, time.perf_counter() - t0


def part_speed(case, repeat, workdir):
    """A: medians of reference and threads runs, alternating, and output agreement."""
    # Warm-up (Numba compile or cache load, imports, the thread pool), untimed.
    _, _, res = run_tiled(case, workdir, "threads")
    shutil.rmtree(res.store.path, ignore_errors=True)
    t_ref, t_td, c_ref, c_td = [], [], [], []
    driz = result = None
    for rep in range(repeat):
        order = ("ref", "td") if rep % 2 == 0 else ("td", "ref")
        for which in order:
            if which == "ref":
                driz = None
                t, c, driz = run_reference(case)
                t_ref.append(t)
                c_ref.append(c)
            else:
                if result is not None:
                    shutil.rmtree(result.store.path, ignore_errors=True)
                t, c, result = run_tiled(case, workdir, "threads")
                t_td.append(t)
                c_td.append(c)
        print(f"  A rep {rep + 1}: reference {t_ref[-1]:.2f} s, tiledrizzle {t_td[-1]:.2f} s",
              flush=True)  # fmt: skip
    dwht, dimg = compare_outputs(result, driz)
    out = {
        "ref_s": statistics.median(t_ref),
        "td_s": statistics.median(t_td),
        "ref_all": t_ref,
        "td_all": t_td,
        "ref_cpu": statistics.median(c_ref),
        "td_cpu": statistics.median(c_td),
        "dwht": dwht,
        "dimg": dimg,
        "tasks": result.report["tasks"],
        "tiles": result.report["tiles_written"],
    }
    shutil.rmtree(result.store.path, ignore_errors=True)
    return out


def part_overhead(case, repeat, workdir):
    """B: sync runs with the kernel timed; single-pass kernels; thread scaling."""
    runs = []
    for rep in range(repeat):
        wall, cpu, timers, report = overhead_run(case, workdir)
        runs.append((wall, cpu, timers))
        kern = timers.get("kernel")
        print(f"  B rep {rep + 1}: sync wall {wall:.2f} s, kernel {kern:.2f} s", flush=True)
    overheads = [(w - t.get("kernel")) / t.get("kernel") for w, _, t in runs]
    cpu_overheads = [(c - t.cpu["kernel"]) / t.cpu["kernel"] for _, c, t in runs]
    med = statistics.median(overheads)
    # The breakdown is the run whose overhead is nearest the median.
    wall, cpu, timers = runs[min(range(len(runs)), key=lambda i: abs(overheads[i] - med))]
    kernel_runs = single_pass_kernels(case)
    kernel_runs[0]()  # warm
    single_wall, single_cpu = 0.0, 0.0
    for run in kernel_runs:
        times = [run() for _ in range(max(1, min(repeat, 3)))]
        single_wall += statistics.median(w for w, _ in times)
        single_cpu += statistics.median(c for _, c in times)
    seq, par = thread_scaling(kernel_runs)
    t = timers.get
    timed_parts = t("validate") + t("scan+plan") + t("task") + t("reducer task") + t("write wait")
    return {
        "overhead": med,
        "overheads": overheads,
        "overhead_cpu": statistics.median(cpu_overheads),
        "wall": wall,
        "cpu": cpu,
        "kernel": t("kernel"),
        "kernel_cpu": timers.cpu["kernel"],
        "kernel_cpu_all": [r[2].cpu["kernel"] for r in runs],
        "kernel_calls": timers.calls.get("kernel", 0),
        "narrow": t("narrow"),
        "task_other": t("task") - t("kernel") - t("narrow"),
        "validate": t("validate"),
        "scan_plan": t("scan+plan"),
        "reduce": t("reduce"),
        "zarr_read": t("zarr read"),
        "zarr_write": t("zarr write"),
        "write_wait": t("write wait"),
        "reducer_task": t("reducer task"),
        "rest": wall - timed_parts,
        "single_pass": single_wall,
        "single_pass_cpu": single_cpu,
        "thread_seq": seq,
        "thread_par": par,
        "tasks": report["tasks"],
    }


# -- C: out of core -----------------------------------------------------------------------


def write_sparse_inputs(folder, side, grid_small, tile, grid_big):
    """16 FITS exposures on a jittered 4 x 4 lattice; output WCS headers for both grids.

    Returns (paths, {grid: header file}, the small grid's offset inside the big one).
    """
    from astropy.io import fits

    from tiledrizzle.inputs.output_wcs import fit_output_wcs, wcs_to_header_string

    base, header = read_detector_wcs()
    det = cutout(base, side)
    rng = np.random.default_rng(4040)
    spacing = grid_small / 4
    jitter = 0.01 * grid_small
    wcses = []
    for row in range(4):
        for col in range(4):
            dx = (col - 1.5) * spacing + rng.uniform(-jitter, jitter)
            dy = (row - 1.5) * spacing + rng.uniform(-jitter, jitter)
            wcses.append(pointed(det, dx, dy))
    fitted = fit_output_wcs(wcses, rotation=position_angle(base))
    fit_ny, fit_nx = fitted.array_shape
    if max(fit_ny, fit_nx) > grid_small:
        raise RuntimeError(f"the inputs span {fitted.array_shape}, more than {grid_small}")
    offset = ((grid_big - grid_small) // 2 // tile) * tile
    headers = {}
    for grid, shift in ((grid_small, 0), (grid_big, offset)):
        w = copy.deepcopy(fitted)
        w.wcs.crpix = w.wcs.crpix + np.array(
            [(grid_small - fit_nx) // 2 + shift, (grid_small - fit_ny) // 2 + shift], float
        )
        w.wcs.set()
        w.array_shape = (grid, grid)
        path = folder / f"out_{grid}.hdr"
        path.write_text(wcs_to_header_string(w))
        headers[grid] = str(path)
    paths = []
    for k, w in enumerate(wcses):
        h = w.to_header(relax=True)
        data = rng.normal(1.0, 0.1, w.array_shape).astype(np.float32)
        primary = fits.PrimaryHDU(header=fits.Header([("EXPTIME", 100.0)]))
        path = folder / f"nrcb5_{k:02d}.fits"
        fits.HDUList([primary, fits.ImageHDU(data, header=h, name="SCI")]).writeto(path)
        paths.append(str(path))
        del data
    return paths, headers, offset


def store_footprint(path):
    """(bytes of all files, chunk files per data array) of a Zarr v3 store on disk."""
    total = 0
    chunks = {}
    root = pathlib.Path(path)
    for f in root.rglob("*"):
        if not f.is_file():
            continue
        total += f.stat().st_size
        rel = f.relative_to(root).parts
        if "c" in rel:
            array = "/".join(rel[: rel.index("c")])
            chunks[array] = chunks.get(array, 0) + 1
    return total, chunks


def ooc_child(spec):
    """In the subprocess: drizzle the FITS inputs onto one grid; print a JSON line."""
    from tiledrizzle import mosaic
    from tiledrizzle.inputs.fits import FitsExposure
    from tiledrizzle.inputs.output_wcs import wcs_from_header_file

    out_wcs = wcs_from_header_file(spec["header"])
    inputs = [FitsExposure(p, weight="uniform") for p in spec["inputs"]]
    t0 = time.perf_counter()
    result = mosaic(inputs, spec["store"], wcs=out_wcs, tile_shape=tuple(spec["tile"]),
                    kernel="square", scheduler=spec["scheduler"])  # fmt: skip
    seconds = time.perf_counter() - t0
    group = result.store.group
    written = np.argwhere(group["tile_batch"][...] > 0)
    wht_sum = 0.0
    for ty, tx in written:
        rows, cols = result.store.meta.grid.slices((int(ty), int(tx)))
        wht_sum += float(np.sum(group["wht"][rows, cols], dtype=np.float64))
    print(json.dumps({
        "seconds": seconds,
        "tiles": int(result.store.meta.grid.n_tiles),
        "tiles_written": int(len(written)),
        "tasks": int(result.report["tasks"]),
        "wht_sum": wht_sum,
        "vm_hwm": _vm_hwm(),
    }))  # fmt: skip
    return 0


def _vm_hwm():
    """Peak resident memory of this process's address space (``VmHWM``), bytes; None if unknown."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def _tree_rss(proc):
    """Resident bytes of a psutil process and all its descendants (0 once it is gone)."""
    import psutil

    total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_child(spec, timeout):
    """Run ``ooc_child`` in a subprocess; (its JSON, largest RSS of its process tree polled).

    The child reports its own peak (``VmHWM`` of its address space after exec).
    ``ru_maxrss`` of a child (``wait4``, ``RUSAGE_CHILDREN``) is not used: Linux
    carries the parent's high-water mark over the fork/exec into the child's
    figure, so a child of a big benchmark process would report the parent's peak.
    """
    try:
        import psutil
    except ImportError:  # the child's own VmHWM is the figure; polling is a cross-check
        psutil = None
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--ooc-child", json.dumps(spec)],
            stdout=out, stderr=err, cwd=str(REPO),
        )  # fmt: skip
        watched = None
        if psutil is not None:
            with contextlib.suppress(psutil.Error):
                watched = psutil.Process(proc.pid)
        polled = 0
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if watched is not None:
                polled = max(polled, _tree_rss(watched))
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.02)
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"out-of-core child failed (exit {proc.returncode}):\n{errors[-3000:]}")
    return json.loads(text.strip().splitlines()[-1]), polled


def part_ooc(sizes, workdir, timeout):
    folder = pathlib.Path(tempfile.mkdtemp(prefix="ooc-", dir=workdir))
    small, big = sizes["grids"]
    tile = sizes["tile"]
    t0 = time.perf_counter()
    paths, headers, offset = write_sparse_inputs(folder, sizes["c_side"], small, tile, big)
    print(f"  C: wrote {len(paths)} FITS inputs in {time.perf_counter() - t0:.1f} s", flush=True)
    out = {"offset": offset, "n_inputs": len(paths), "side": sizes["c_side"]}
    for grid in (small, big):
        spec = {
            "header": headers[grid],
            "inputs": paths,
            "store": str(folder / f"mosaic_{grid}.zarr"),
            "tile": [tile, tile],
            "scheduler": "threads",
        }
        info, polled = run_child(spec, timeout)
        size, chunks = store_footprint(spec["store"])
        rss = info["vm_hwm"] if info["vm_hwm"] is not None else polled
        info.update(rss=rss, polled=polled, bytes=size, chunks=chunks)
        out[grid] = info
        print(f"  C {grid}^2: {info['seconds']:.1f} s, peak RSS {rss / GiB:.2f} GiB, "
              f"{size / 2**20:.1f} MiB on disk", flush=True)  # fmt: skip
        shutil.rmtree(spec["store"], ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    return out


# -- report -------------------------------------------------------------------------------


def verdict(ok):
    return "PASS" if ok else "FAIL"


def table(info, sizes, args, a=None, b=None, c=None, case=None):
    ram = f"{info['ram'] / GiB:.1f} GiB" if info["ram"] else "?"
    rows = [
        ("machine", info["platform"], "", ""),
        ("CPU", f"{info['cpu']}; {info['cores']} cores ({info['usable_cores']} usable, "
                f"Dask threads {info['dask_threads']}); RAM {ram}", "", ""),
        ("software", info["software"], "", ""),
    ]  # fmt: skip
    if case is not None:
        ny, nx = case["out_shape"]
        iny, inx = case["in_shape"]
        rows.append((
            "A/B case", f"8 x {inx}x{iny} NIRCam B5 SIP -> {nx}x{ny} TAN, tiles "
            f"{case['tile'][1]}x{case['tile'][0]}, square, pixfrac 1; pixmaps built once in "
            f"{case['pixmap_s']:.1f} s (untimed)", "", "",
        ))  # fmt: skip
    if a is not None:
        speedup = a["ref_s"] / a["td_s"]
        rows += [
            (f"A reference drizzle, Drizzle.add_image x 8 (median of {args.repeat})",
             f"{a['ref_s']:.2f} s  ({', '.join(f'{t:.2f}' for t in a['ref_all'])})", "", ""),
            (f"A tiledrizzle mosaic, threads (median of {args.repeat})",
             f"{a['td_s']:.2f} s  ({', '.join(f'{t:.2f}' for t in a['td_all'])}); "
             f"{a['tasks']} tasks, {a['tiles']} tiles", "", ""),
            ("A speed-up, reference / tiledrizzle", f"{speedup:.2f}x",
             f">= {TARGET_SPEEDUP}x", verdict(speedup >= TARGET_SPEEDUP)),
            ("A CPU seconds, all threads (median): reference, tiledrizzle; ratio",
             f"{a['ref_cpu']:.2f} s, {a['td_cpu']:.2f} s; {a['td_cpu'] / a['ref_cpu']:.2f} "
             f"(1.8x on {info['dask_threads']} cores needs <= "
             f"{info['dask_threads'] / TARGET_SPEEDUP:.2f})", "", ""),
            ("A agreement: max \\|Δwht\\|/max wht; max \\|Δimg\\| (weighted)",
             f"{a['dwht']:.1e}; {a['dimg']:.1e}", "", ""),
        ]  # fmt: skip
    if b is not None:
        mpix = 8 * case["in_shape"][0] * case["in_shape"][1] / 1e6
        rows += [
            (f"B sync engine wall / kernel seconds ({b['kernel_calls']} kernel calls)",
             f"{b['wall']:.2f} s / {b['kernel']:.2f} s", "", ""),
            ("B overhead = (sync wall - kernel) / kernel",
             f"{100 * b['overhead']:.1f} %  (runs: "
             f"{', '.join(f'{100 * o:.1f}' for o in b['overheads'])} %)",
             f"<= {100 * TARGET_OVERHEAD:.0f} %", verdict(b["overhead"] <= TARGET_OVERHEAD)),
            ("B breakdown on the main thread (s): validate, scan+plan, column narrowing, "
             "task alloc, reducer tasks (hand-over, queue full), wait for the last tiles, "
             "rest (store setup, graph, Dask)",
             f"{b['validate']:.2f}, {b['scan_plan']:.2f}, {b['narrow']:.2f}, "
             f"{b['task_other']:.2f}, {b['reducer_task']:.2f}, {b['write_wait']:.2f}, "
             f"{b['rest']:.2f}", "", ""),
            ("B on the writer thread, overlapped with kernels (s): merge+normalise, zarr "
             "reads, zarr tile writes",
             f"{b['reduce']:.2f}, {b['zarr_read']:.2f}, {b['zarr_write']:.2f}", "", ""),
            ("B overhead on CPU time: (process CPU - kernel thread CPU) / kernel CPU",
             f"{100 * b['overhead_cpu']:.1f} %  (CPU {b['cpu']:.2f} s, kernel "
             f"{b['kernel_cpu']:.2f} s; robust to other load on the cores)", "", ""),
            ("B kernel: tiled tasks vs one untiled pass per input (wall; CPU)",
             f"{b['kernel']:.2f} s vs {b['single_pass']:.2f} s "
             f"({b['kernel'] / b['single_pass']:.2f}x); {b['kernel_cpu']:.2f} s vs "
             f"{b['single_pass_cpu']:.2f} s ({b['kernel_cpu'] / b['single_pass_cpu']:.2f}x)",
             "", ""),
            ("B square kernel Mpix/s (wall): untiled pass, tiled tasks, reference add_image",
             f"{mpix / b['single_pass']:.1f}, {mpix / b['kernel']:.1f}"
             + (f", {mpix / a['ref_s']:.1f}" if a is not None else ""), "", ""),
            ("B GIL: 2 kernel passes sequential vs in 2 threads",
             f"{b['thread_seq']:.2f} s vs {b['thread_par']:.2f} s "
             f"({b['thread_seq'] / b['thread_par']:.2f}x)", "", ""),
        ]  # fmt: skip
        if a is not None:
            rows.append(("B threads vs sync engine wall (parallel speed-up)",
                         f"{b['wall'] / a['td_s']:.2f}x", "", ""))  # fmt: skip
    if c is not None:
        small, big = sizes["grids"]
        s, g = c[small], c[big]
        spread = abs(g["rss"] - s["rss"]) / min(g["rss"], s["rss"])
        rows.append((
            "C case", f"{c['n_inputs']} x {c['side']}x{c['side']} FITS (lazy FitsExposure), "
            f"grids {small}^2 and {big}^2 (small grid at +{c['offset']} px), tiles "
            f"{sizes['tile']}, threads, one subprocess each", "", "",
        ))  # fmt: skip
        for grid, r in ((small, s), (big, g)):
            chunk_text = ", ".join(f"{k} {v}" for k, v in sorted(r["chunks"].items()))
            rows += [
                (f"C {grid}^2: peak RSS of the child (VmHWM; psutil polling)",
                 f"{r['rss'] / GiB:.2f} GiB; {r['polled'] / GiB:.2f} GiB; {r['seconds']:.1f} s, "
                 f"{r['tasks']} tasks",
                 "< 2 GiB", verdict(r["rss"] < TARGET_PEAK_RSS)),
                (f"C {grid}^2: store on disk; chunk files",
                 f"{r['bytes'] / 2**20:.1f} MiB; tiles written {r['tiles_written']} of "
                 f"{r['tiles']}; {chunk_text}", "", ""),
            ]  # fmt: skip
        rows += [
            ("C peak RSS spread \\|big - small\\| / small", f"{100 * spread:.1f} %",
             f"<= {100 * TARGET_RSS_SPREAD:.0f} %", verdict(spread <= TARGET_RSS_SPREAD)),
            ("C same mosaic: Σwht small, big", f"{s['wht_sum']:.6g}, {g['wht_sum']:.6g}", "", ""),
        ]  # fmt: skip
    lines = ["| item | value | target | result |", "|---|---|---|---|"]
    lines += [f"| {a_} | {b_} | {c_} | {d_} |" for a_, b_, c_, d_ in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per engine (median)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--parts", default="abc", help="which parts to run (a, b, c)")
    parser.add_argument("--workdir", default=None, help="folder for stores and FITS files")
    parser.add_argument("--child-timeout", type=float, default=1800.0, help=argparse.SUPPRESS)
    parser.add_argument("--ooc-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ooc_child is not None:
        return ooc_child(json.loads(args.ooc_child))
    if not DETECTOR_HEADER.exists():
        print(
            f"bench_mosaic: the NIRCam header {DETECTOR_HEADER} is absent; nothing to "
            "benchmark (set TILEDRIZZLE_WCS_DIR to the folder holding nrcb5_sip_wcs.hdr)."
        )
        return 1
    parts = set(args.parts.lower())
    if "a" in parts:
        try:
            import drizzle.resample  # noqa: F401
        except ImportError:
            print("bench_mosaic: the reference package 'drizzle' is not installed.")
            return 1
    warnings.simplefilter("ignore")
    sizes = QUICK if args.quick else FULL
    info = machine()
    workdir = tempfile.mkdtemp(prefix="bench_mosaic-", dir=args.workdir)
    a = b = c = case = None
    try:
        if parts & {"a", "b"}:
            case = case_eight(sizes["a_side"], sizes["tile"])
            print(f"A/B: 8 inputs {case['in_shape']} -> {case['out_shape']}, pixmaps "
                  f"{case['pixmap_s']:.1f} s", flush=True)  # fmt: skip
        if "a" in parts:
            a = part_speed(case, args.repeat, workdir)
        if "b" in parts:
            b = part_overhead(case, args.repeat, workdir)
        case_for_table = case
        if case is not None:
            case = {k: v for k, v in case.items() if k != "inputs"}  # free the arrays
            case_for_table = case
            gc.collect()
        if "c" in parts:
            c = part_ooc(sizes, workdir, args.child_timeout)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    mode = "quick smoke run (sizes too small for the targets)" if args.quick else "full run"
    print(f"\n### tiledrizzle tiled engine: {mode}\n")
    print(table(info, sizes, args, a, b, c, case_for_table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
