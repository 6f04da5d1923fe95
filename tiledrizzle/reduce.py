"""Merge partial sums into stored outputs and normalise, once per window.

Given what an output window already holds (weighted mean ``img``, weight
``wht``, squared-weight means ``img2[k]``, ``dq``) and new partial sums
(Σ w·d, Σ w, Σ w²·d2, OR of DQ), the merged values are

    wht'    = wht + Σw
    img'    = (img·wht + Σw·d) / wht'
    img2'_k = (img2_k·wht² + Σw²·d2_k) / wht'²
    dq'     = dq | OR(dq_in)

which is exactly the reference's running weighted mean applied contribution by
contribution, evaluated once. Pixels whose stored weight is zero take the new
values alone (their stored image value is a fill value, not data), as the
reference does. Pixels that end with zero weight get the fill value.
"""

from __future__ import annotations

import numpy as np

from .kernels.merge import merge_sums


def merge_window(sums, out_img, out_wht, out_img2, out_dq):
    """Merge ``sums`` (a ``partials.WindowSums``) into the output arrays' window, in place.

    ``out_img2`` is a list of float32 arrays (one per ``sums.var`` plane) and
    ``out_dq`` a uint32 array or None.
    """
    ny, nx = sums.wht.shape
    win = (slice(sums.y0, sums.y0 + ny), slice(sums.x0, sums.x0 + nx))
    img = out_img[win]
    wht = out_wht[win]
    n_var = sums.var.shape[0]
    img2 = (
        np.stack([a[win] for a in out_img2]) if n_var else np.zeros((0, ny, nx), dtype=np.float32)
    )
    dq = out_dq[win] if (out_dq is not None and sums.dq.shape[0]) else np.zeros((0, 0), np.uint32)
    merge_sums(sums.flux, sums.wht, sums.var, sums.dq, img, wht, img2, dq)
    for k in range(n_var):
        out_img2[k][win] = img2[k]


def fill_empty(out_img, out_wht, fill_value, out_img2=(), fill_value2=None):
    """Set pixels with zero weight to the fill values (None leaves them as they are)."""
    empty = out_wht == 0.0
    if fill_value is not None:
        out_img[empty] = fill_value
        if fill_value2 is not None:
            for a in out_img2:
                a[empty] = fill_value2
