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

from tiledrizzle.kernels.merge import merge_sums
from tiledrizzle.store.tile_state import TileState

_NO_CTX = np.zeros((0, 0), dtype=np.int32)


def merge_window(sums, out_img, out_wht, out_img2, out_dq, at=None, out_ctx=None):
    """Merge ``sums`` (a ``partials.WindowSums``) into the output arrays' window, in place.

    ``out_img2`` is a list of float32 arrays (one per ``sums.var`` plane) and
    ``out_dq`` a uint32 array or None. ``at`` is the (row, column) of the
    window's first pixel in these arrays: by default the window's output
    origin (arrays covering the whole output); ``(0, 0)`` for tile arrays.
    ``out_ctx`` is the int32 context plane that takes ``sums.ctx`` (None: the
    context bits are not merged here).
    """
    ny, nx = sums.wht.shape
    y0, x0 = (sums.y0, sums.x0) if at is None else at
    win = (slice(y0, y0 + ny), slice(x0, x0 + nx))
    img = out_img[win]
    wht = out_wht[win]
    if img.shape != (ny, nx) or wht.shape != (ny, nx):
        # The compiled merge does not check bounds: refuse before it could write outside.
        raise ValueError(f"window {win} of the partial sums lies outside the output arrays")
    n_var = sums.var.shape[0]
    img2 = (
        np.stack([a[win] for a in out_img2]) if n_var else np.zeros((0, ny, nx), dtype=np.float32)
    )
    dq = out_dq[win] if (out_dq is not None and sums.dq.shape[0]) else np.zeros((0, 0), np.uint32)
    if out_ctx is not None and sums.ctx.shape[0]:
        ctx_bits, ctx = sums.ctx, out_ctx[win]
    else:
        ctx_bits = ctx = _NO_CTX
    merge_sums(sums.flux, sums.wht, sums.var, sums.dq, img, wht, img2, dq, ctx_bits, ctx)
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


def reduce_tile(state: TileState, partials, fill, fill2, origin, blank=False) -> TileState:
    """Fold the partials of one tile into ``state`` (in place) in global input order.

    Inputs are merged one at a time in increasing ``index``, each exactly as
    the facade merges one ``add_image``: the result depends on the set of
    inputs and their order only, never on which other tiles or tasks exist.
    A partial may cover part of the tile only (``origin``: the tile's first
    output pixel); pixels outside it received no weight from that input, and
    merging skips zero-weight pixels anyway. Context bits are ORed into their
    planes; pixels left with zero weight get the fill values (None leaves them
    alone, except in a ``blank`` state (``TileState.blank``), where it means NaN).
    """
    if blank:
        fill = np.float32(np.nan) if fill is None else fill
        fill2 = np.float32(np.nan) if fill2 is None else fill2
    img2 = [state.img2[k] for k in range(state.img2.shape[0])]
    for part in sorted(partials, key=lambda p: p.index):
        sums = part.sums
        at = (sums.y0 - origin[0], sums.x0 - origin[1])
        merge_window(sums, state.img, state.wht, img2, state.dq, at, state.ctx[part.ctx_plane])
    fill_empty(state.img, state.wht, fill, img2, fill2)
    return state
