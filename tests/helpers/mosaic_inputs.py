"""Synthetic mosaics for the engine tests: overlapping, distorted, dithered exposures."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from helpers.parity import distorted_pixmap

OUT_SHAPE = (150, 170)
IN_SHAPE = (64, 72)


def exposures(n, seed=0, in_shape=IN_SHAPE, out_shape=OUT_SHAPE, data2=False, dq=False,
              weights=False):  # fmt: skip
    """``n`` exposures scattered over ``out_shape`` with smooth distortion and rotation.

    Each is a dict of ``Drizzle.add_image`` arguments plus ``name``.
    """
    rng = np.random.default_rng(seed)
    ny, nx = in_shape
    oy, ox = out_shape
    out = []
    for k in range(n):
        coeffs = rng.uniform(-0.04, 0.04, 6)
        pm = distorted_pixmap(in_shape, coeffs, scale=rng.uniform(0.9, 1.1))
        t = np.deg2rad(rng.uniform(-20, 20))
        x, y = pm[..., 0] - nx / 2, pm[..., 1] - ny / 2
        cx = rng.uniform(0.15 * ox, 0.85 * ox)
        cy = rng.uniform(0.15 * oy, 0.85 * oy)
        pm = np.dstack([np.cos(t) * x - np.sin(t) * y + cx, np.sin(t) * x + np.cos(t) * y + cy])
        e = {
            "data": rng.normal(1.0, 0.2, in_shape).astype(np.float32),
            "pixmap": pm,
            "exptime": float(rng.uniform(50, 150)),
            "name": f"exp{k:03d}",
        }
        if data2:
            e["data2"] = [rng.uniform(0.5, 1.5, in_shape).astype(np.float32) for _ in range(2)]
        if dq:
            e["dq"] = rng.choice([0, 1, 4, 64], size=in_shape, p=[0.9, 0.04, 0.03, 0.03]).astype(
                np.uint32
            )
        if weights:
            w = rng.uniform(0.5, 2.0, in_shape).astype(np.float32)
            w[rng.uniform(size=in_shape) < 0.02] = 0.0
            e["weight_map"] = w
        out.append(e)
    return out


def add_image_kwargs(e, **extra):
    kw = {k: v for k, v in e.items() if k != "name"}
    kw.update(extra)
    return kw


def store_checksum(path):
    """SHA-256 over every file (relative name and bytes) under ``path``."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            h.update(os.path.relpath(full, path).encode())
            with open(full, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def outputs(result):
    """The computed outputs of a ``MosaicResult`` as a dict of numpy arrays."""
    out = {
        "img": result.img.compute(),
        "wht": result.wht.compute(),
        "ctx": result.ctx.compute(),
    }
    for k, a in enumerate(result.img2):
        out[f"img2/{k}"] = a.compute()
    if result.dq is not None:
        out["dq"] = result.dq.compute()
    return out


def assert_identical(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
