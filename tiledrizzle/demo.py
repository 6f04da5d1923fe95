"""A self-contained end-to-end example: dithered, distorted exposures of a synthetic
star field, drizzled onto one output grid with the reference-compatible facade."""

from __future__ import annotations

import time

import numpy as np

from .resample import Drizzle
from .utils import decode_context


def star_field(shape, n_stars, rng, psf_sigma=1.3):
    """Sky-subtracted image (counts/s) of Gaussian stars, returned with their true fluxes."""
    ny, nx = shape
    y, x = np.indices(shape, dtype=np.float64)
    xs, ys = rng.uniform(5, nx - 5, n_stars), rng.uniform(5, ny - 5, n_stars)
    flux = rng.lognormal(5.0, 1.0, n_stars)
    img = np.zeros(shape)
    for xc, yc, f in zip(xs, ys, flux, strict=False):
        img += (
            f
            / (2 * np.pi * psf_sigma**2)
            * np.exp(-((x - xc) ** 2 + (y - yc) ** 2) / (2 * psf_sigma**2))
        )
    return img


def detector_pixmap(shape, dither, distortion=2.0e-5):
    """Our own mild detector distortion (radial + skew) plus a dither offset, in output pixels."""
    ny, nx = shape
    y, x = np.indices(shape, dtype=np.float64)
    u, v = x - nx / 2.0, y - ny / 2.0
    r2 = u * u + v * v
    ox = x + distortion * u * r2 / nx + 3e-3 * v + dither[0]
    oy = y + distortion * v * r2 / ny + dither[1]
    return np.dstack([ox, oy])


def run_demo(n_exposures=6, shape=(400, 400), seed=42, kernel="square", pixfrac=0.8):
    """Drizzle ``n_exposures`` dithered exposures and print a summary; returns the Drizzle."""
    rng = np.random.default_rng(seed)
    out_shape = (shape[0] + 40, shape[1] + 40)
    sky = star_field(out_shape, 150, rng)
    d = Drizzle(kernel=kernel, out_shape=out_shape, fillval=0.0)
    t0 = time.perf_counter()
    total_in = 0.0
    for k in range(n_exposures):
        dither = (10 + rng.uniform(0, 20), 10 + rng.uniform(0, 20))
        pixmap = detector_pixmap(shape, dither)
        # observe the sky through this pixmap (nearest sampling of the truth) plus noise
        ix = np.clip(np.rint(pixmap[..., 0]).astype(int), 0, out_shape[1] - 1)
        iy = np.clip(np.rint(pixmap[..., 1]).astype(int), 0, out_shape[0] - 1)
        data = (sky[iy, ix] + rng.normal(0.0, 0.5, shape)).astype(np.float32)
        total_in += float(data.sum())
        d.add_image(data, exptime=100.0, pixmap=pixmap, pixfrac=pixfrac)
        print(f"  exposure {k}: dither=({dither[0]:.2f}, {dither[1]:.2f})")
    elapsed = time.perf_counter() - t0
    covered = d.out_wht > 0
    ny, nx = out_shape
    contributors = decode_context(d.out_ctx, [nx // 2], [ny // 2])[0]
    print(f"tiledrizzle demo: {n_exposures} exposures of {shape[1]}x{shape[0]} -> "
          f"{nx}x{ny} output, kernel={kernel}, pixfrac={pixfrac}")  # fmt: skip
    print(f"  total exposure time : {d.total_exptime:.0f} s")
    print(f"  output coverage     : {covered.mean():.1%} of pixels, "
          f"mean weight {d.out_wht[covered].mean():.2f}")  # fmt: skip
    print(f"  flux in / out       : {total_in / n_exposures:.1f} / "
          f"{float((d.out_img * d.out_wht).sum()) / n_exposures:.1f} (per exposure)")  # fmt: skip
    print(f"  inputs at centre    : {contributors.tolist()}")
    print(f"  time                : {elapsed:.2f} s")
    return d
