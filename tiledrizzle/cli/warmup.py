"""``tiledrizzle warmup``: compile the Numba kernels ahead of the first real job.

Numba compiles each kernel on first use and keeps the machine code in its cache
(next to the package, or in ``NUMBA_CACHE_DIR``). A first mosaic on a fresh
install, or on every worker of a cluster with its own disk, otherwise pays that
time. The warm-up runs the job shapes the tools run, on tiny inputs, for each
kernel asked for: FITS files through the tiled engine (row strips, fast pixel
maps), with and without variance and DQ, arrays through the batch API and the
drizzle facade; ``blot=True`` adds every blot interpolator. Later processes then
load the compiled code from the cache (Docker images and shared cache
directories: see ``deploy/``).
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings

import numpy as np

from tiledrizzle.kernels.registry import BLOT_INTERPOLATORS, KERNEL_NAMES

DETECTOR = (48, 48)


def warm_up(kernels=KERNEL_NAMES, blot=False, report=None) -> dict:
    """Compile (or load from the cache) what mosaics with ``kernels`` need; returns
    ``{what: seconds}``. ``report(what, seconds)`` is called after each step."""
    from tiledrizzle.cli.demo import write_exposures
    from tiledrizzle.engine.batch import mosaic
    from tiledrizzle.inputs.fits import FitsExposure
    from tiledrizzle.inputs.output_wcs import fit_output_wcs
    from tiledrizzle.resample import Drizzle, blot_image

    times = {}

    def step(what, run):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lanczos flux notes, tiny-input notices
            run()
        times[what] = time.perf_counter() - t0
        if report is not None:
            report(what, times[what])

    with tempfile.TemporaryDirectory(prefix="tiledrizzle-warmup-") as tmp:
        paths, _ = write_exposures(tmp, 2, np.random.default_rng(0), detector=DETECTOR)
        described = [FitsExposure(p) for p in paths]
        for e in described:
            e.describe()
        out_wcs = fit_output_wcs([e.wcs for e in described])
        ny, nx = DETECTOR
        data = np.ones(DETECTOR, np.float32)
        y, x = np.mgrid[0:ny, 0:nx].astype(float)
        pixmap = np.dstack([x + 0.3, y + 0.2])
        for k, kernel in enumerate(kernels):

            def fits_mosaics(kernel=kernel, k=k):
                for full in (True, False):
                    opts = dict(err_ext="ERR", dq_ext="DQ", bad_bits=4) if full else {}
                    inputs = [FitsExposure(p, **opts) for p in paths]
                    store = os.path.join(tmp, f"f{k}{int(full)}.zarr")
                    mosaic(inputs, store, wcs=out_wcs, tile_shape=(32, 32), kernel=kernel,
                           scheduler="sync")  # fmt: skip

            def array_runs(kernel=kernel, k=k):
                for full in (True, False):
                    extra = dict(data2=[data], dq=np.zeros(DETECTOR, np.uint32)) if full else {}
                    e = dict(data=data, pixmap=pixmap, exptime=1.0, **extra)
                    store = os.path.join(tmp, f"a{k}{int(full)}.zarr")
                    mosaic([e], store, out_shape=DETECTOR, tile_shape=(32, 32), kernel=kernel,
                           scheduler="sync")  # fmt: skip
                    d = Drizzle(kernel=kernel, out_shape=DETECTOR)
                    d.add_image(data, exptime=1.0, pixmap=pixmap, **extra)

            step(f"{kernel}: FITS mosaics", fits_mosaics)
            step(f"{kernel}: arrays and facade", array_runs)
        if blot:
            for interp in BLOT_INTERPOLATORS:
                step(f"blot {interp}", lambda i=interp: blot_image(data, pixmap, interp=i))
    return times
