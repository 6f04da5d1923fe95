"""What a mosaic store holds, as one JSON-ready dict (``tiledrizzle info``, ``--json``).

Everything but the coverage comes from the store's metadata and its tile markers;
the coverage (fraction of grid pixels with weight) reads the weight of the
written tiles, one tile at a time, and is skipped above ``COVERAGE_MAX_PIXELS``
unless asked for.
"""

from __future__ import annotations

import math
import os

import numpy as np

from tiledrizzle.inputs.units import describe_units
from tiledrizzle.store.zarr_store import MosaicStore

COVERAGE_MAX_PIXELS = 1 << 27
"""Written-tile pixels up to which ``info`` counts the coverage by default (~0.5 GB read)."""


def fill_text(value) -> str:
    """A fill value as shown everywhere: ``'NaN'`` for no value (None, NaN, 'INDEF')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    return f"{float(value):g}"


def human_bytes(n) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def store_summary(store, *, coverage=None) -> dict:
    """``store`` (a path or ``MosaicStore``) described: grid and sky footprint, kernel,
    units, inputs (name, exposure time, batch, context id), batches, sizes and the
    coverage. ``coverage``: True always counts it, False never, None (default) counts it
    when the written tiles hold at most ``COVERAGE_MAX_PIXELS`` pixels."""
    st = store if isinstance(store, MosaicStore) else MosaicStore.open(os.fspath(store))
    a = st.attrs
    grid = st.meta.grid
    marks = st.tile_batches()
    written = [tuple(int(i) for i in t) for t in np.argwhere(marks > 0)]
    out = {
        "store": st.path,
        "grid": {
            "shape": list(grid.shape),
            "tile_shape": list(grid.tile_shape),
            "tiles": grid.n_tiles,
            "tiles_written": len(written),
        },
        "kernel": a["kernel"],
        "pixfrac": float(a["pixfrac"]),
        "fillval": fill_text(a["fillval"]),
        "units": {**(a.get("units") or {}), "text": describe_units(a.get("units"))},
        "total_exptime": float(a["total_exptime"]),
        "context_planes": int(st.group["ctx"].shape[0]),
        "arrays": st.array_names(),
        "inputs": [
            {
                "name": i.get("name"),
                "exptime": i.get("exptime"),
                "batch": i.get("batch"),
                "ctx_id": i.get("ctx_id"),
                "shape": i.get("shape"),
                "bunit": i.get("bunit"),
            }
            for i in a["inputs"]
        ],  # fmt: skip
        "batches": [
            {"id": b["id"], "status": b["status"], "inputs": len(b["inputs"])} for b in a["batches"]
        ],
        "sky": _sky(st.wcs(), grid.shape),
        "bytes_on_disk": _tree_bytes(st.path) if "://" not in st.path else None,
    }
    pixels = sum(int(np.prod(grid.extent(t))) for t in written)
    if coverage or (coverage is None and pixels <= COVERAGE_MAX_PIXELS):
        out["coverage"] = _coverage(st, grid, written)
    else:
        out["coverage"] = None
    return out


def _sky(wcs, shape):
    """Centre, corners (deg), pixel scale (arcsec) and rotation (deg, of the grid's +y
    axis east of north) of the output grid, or None without a WCS."""
    if wcs is None:
        return None
    from astropy.coordinates import SkyCoord
    from astropy.wcs.utils import proj_plane_pixel_scales, wcs_to_celestial_frame

    ny, nx = shape
    x = np.array([(nx - 1) / 2, -0.5, nx - 0.5, nx - 0.5, -0.5, (nx - 1) / 2])
    y = np.array([(ny - 1) / 2, -0.5, -0.5, ny - 0.5, ny - 0.5, (ny - 1) / 2 + 1])
    world = wcs.pixel_to_world(x, y)
    if not isinstance(world, SkyCoord):
        return None
    icrs = world.icrs
    rotation = icrs[0].position_angle(icrs[5]).deg
    scales = proj_plane_pixel_scales(wcs.celestial) * 3600.0
    return {
        "centre": [float(icrs[0].ra.deg), float(icrs[0].dec.deg)],
        "corners": [[float(c.ra.deg), float(c.dec.deg)] for c in icrs[1:5]],
        "pixel_scale_arcsec": float(np.mean(scales)),
        "rotation_deg": float(rotation if rotation <= 180 else rotation - 360),
        "projection": wcs.wcs.ctype[0][-3:],
        "frame": wcs_to_celestial_frame(wcs).name,
    }


def _coverage(st, grid, written):
    """Fraction of the grid's pixels with weight > 0 (tiles never written have none)."""
    wht = st.reader("wht")
    covered = 0
    for tile in written:
        covered += int(np.count_nonzero(wht[grid.slices(tile)] > 0))
    return covered / float(np.prod(grid.shape))


def _tree_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total
