"""Run the reference ``drizzle`` and ``tiledrizzle`` on the same calls and compare.

Tolerances (stated once, used by every parity test):

* ``out_wht``: rtol 1e-5. For the lanczos kernels (negative lobes) an absolute
  floor of ``WHT_ATOL_LANCZOS * max(out_wht)`` is added: where positive and
  negative weights cancel, the reference's float32 running sum is off by a
  few float32 ulps of the *terms*, not of the tiny total.
* ``out_img`` and each ``out_img2``: rtol 1e-5, atol ``1e-6 * scale`` (scale =
  the largest |input value| of the call, so atol is 1e-6 in units of the data)
  where ``out_wht > 1e-4 * max(out_wht)``. For the lanczos kernels atol is
  ``ATOL_DATA_LANCZOS * scale`` (1e-5 of the data scale): the reference keeps a
  float32 running mean, and where negative lobes cancel (output values far
  below the inputs) its rounding is amplified; tiledrizzle sums in float64, so
  the difference is the reference's error, seen at up to ~4e-6 of the data.
* ``out_ctx``, ``out_dq``, ``nmiss``, ``nskip``, the NaN pattern of ``out_img``
  and fill values: identical. Warnings: same messages.
"""

from __future__ import annotations

import warnings

import numpy as np
from drizzle.resample import Drizzle as RefDrizzle

from tiledrizzle.resample import Drizzle as TileDrizzle

RTOL = 1e-5
ATOL_DATA = 1e-6
ATOL_DATA_LANCZOS = 1e-5
WHT_ATOL_LANCZOS = 1e-6
WHT_FRACTION = 1e-4


def run(cls, init, calls):
    """Create ``cls(**init)``, apply ``add_image(**c)`` for each call; return results."""
    init = {k: _copy(v) for k, v in init.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = cls(**init)
        counts = [
            d.add_image(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in c.items()})
            for c in calls
        ]
    messages = sorted({str(w.message) for w in caught})
    return d, counts, messages


def _copy(v):
    """Fresh copies of arrays: the reference writes into caller-supplied outputs."""
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, list | tuple):
        return [_copy(x) for x in v]
    return v


def compare(init, calls, kernel=None):
    """Run both implementations and assert parity; returns (ref, ours)."""
    ref, ref_counts, ref_warn = run(RefDrizzle, init, calls)
    ours, our_counts, our_warn = run(TileDrizzle, init, calls)
    kernel = kernel or init.get("kernel", "square")
    assert our_counts == ref_counts, f"(nmiss, nskip): ours {our_counts} != reference {ref_counts}"
    assert our_warn == ref_warn
    assert_outputs_match(ref, ours, kernel, data_scale(calls))
    return ref, ours


def data_scale(calls):
    scale = 0.0
    for c in calls:
        d = np.asarray(c["data"], dtype=np.float64) * c.get("iscale", 1.0)
        finite = d[np.isfinite(d)]
        if finite.size:
            scale = max(scale, float(np.abs(finite).max()))
    return max(scale, 1.0)


def assert_outputs_match(ref, ours, kernel, scale):
    wr, wo = ref.out_wht, ours.out_wht
    assert wo.dtype == np.float32 and wo.shape == wr.shape
    wmax = float(np.nanmax(np.abs(wr))) if np.any(np.isfinite(wr)) else 0.0
    atol_w = WHT_ATOL_LANCZOS * wmax if kernel.startswith("lanczos") else 0.0
    np.testing.assert_allclose(wo, wr, rtol=RTOL, atol=atol_w, err_msg="out_wht")
    good = wr > WHT_FRACTION * wmax
    atol = (ATOL_DATA_LANCZOS if kernel.startswith("lanczos") else ATOL_DATA) * scale
    np.testing.assert_allclose(
        ours.out_img[good], ref.out_img[good], rtol=RTOL, atol=atol, err_msg="out_img"
    )
    # Pixels without weight: same fill (NaN or number); same NaN pattern wherever the
    # weight is a number. (Where a NaN weight map makes out_wht NaN, the image value is
    # undefined: the reference keeps the first contribution's value, tiledrizzle NaN.)
    empty = wr == 0
    np.testing.assert_array_equal(ours.out_img[empty], ref.out_img[empty])
    finite_w = np.isfinite(wr)
    np.testing.assert_array_equal(np.isnan(ours.out_img[finite_w]), np.isnan(ref.out_img[finite_w]))
    if ref.out_ctx is None:
        assert ours.out_ctx is None
    else:
        np.testing.assert_array_equal(ours.out_ctx, ref.out_ctx)
    if ref.out_dq is None:
        assert ours.out_dq is None
    else:
        np.testing.assert_array_equal(ours.out_dq, ref.out_dq)
    if ref.out_img2 is None:
        assert ours.out_img2 is None
    else:
        assert len(ours.out_img2) == len(ref.out_img2)
        for a, b in zip(ours.out_img2, ref.out_img2, strict=False):
            np.testing.assert_allclose(
                a[good], b[good], rtol=RTOL, atol=atol * scale, err_msg="out_img2"
            )
            np.testing.assert_array_equal(a[empty], b[empty])
    assert ours.total_exptime == ref.total_exptime
    assert ours.ctx_id == ref.ctx_id
    assert ours.fillval == ref.fillval and ours.fillval2 == ref.fillval2


# --- pixmaps ---------------------------------------------------------------------------


def affine_pixmap(shape, scale=1.0, angle_deg=0.0, shift=(0.0, 0.0), center=None):
    """Output position of every input pixel for a rotation+scale+shift about ``center``."""
    ny, nx = shape
    y, x = np.indices(shape, dtype=np.float64)
    cx, cy = center if center is not None else ((nx - 1) / 2.0, (ny - 1) / 2.0)
    t = np.deg2rad(angle_deg)
    xr = scale * (np.cos(t) * (x - cx) - np.sin(t) * (y - cy))
    yr = scale * (np.sin(t) * (x - cx) + np.cos(t) * (y - cy))
    return np.dstack([xr + cx + shift[0], yr + cy + shift[1]])


def distorted_pixmap(shape, coeffs, scale=1.0, shift=(0.0, 0.0)):
    """Smooth polynomial distortion: quadratic + cubic terms given by ``coeffs`` (6 numbers)."""
    ny, nx = shape
    y, x = np.indices(shape, dtype=np.float64)
    u = (x - nx / 2.0) / nx
    v = (y - ny / 2.0) / ny
    a, b, c, d, e, f = coeffs
    dx = nx * (a * u * u + b * u * v + c * u**3)
    dy = ny * (d * v * v + e * u * v + f * v**3)
    return np.dstack([scale * (x + dx) + shift[0], scale * (y + dy) + shift[1]])
