"""Merge partial sums into stored weighted means (see ``tiledrizzle.reduce``)."""

import numpy as np

from ._jit import jit, jit_c, jit_inline


@jit_inline
def _merge_loop(flux, wsum, var, dq_or, img, wht, img2, dq, ctx_bits, ctx):
    """The loop of ``merge_sums``."""
    ny, nx = wsum.shape
    n_var = var.shape[0]
    has_dq = dq.shape[0] > 0
    has_ctx = ctx.shape[0] > 0
    for y in range(ny):
        for x in range(nx):
            if has_ctx:
                bits = ctx_bits[y, x]
                if bits != 0:  # untouched pixels are not written (nor their pages dirtied)
                    ctx[y, x] |= bits
            s_w = wsum[y, x]
            if s_w == 0.0:
                continue
            w_old = np.float64(wht[y, x])
            # With w_old == 0, w_new == s_w exactly and the stored values are ignored.
            w_new = w_old + s_w
            if w_old == 0.0:
                img[y, x] = flux[y, x] / w_new
            else:
                img[y, x] = (np.float64(img[y, x]) * w_old + flux[y, x]) / w_new
            for k in range(n_var):
                v = var[k, y, x]
                if w_old != 0.0:
                    v = np.float64(img2[k, y, x]) * (w_old * w_old) + v
                img2[k, y, x] = v / (w_new * w_new)
            if has_dq:
                dq[y, x] = dq_or[y, x] if w_old == 0.0 else dq[y, x] | dq_or[y, x]
            wht[y, x] = w_new


@jit_c
def merge_sums(flux, wsum, var, dq_or, img, wht, img2, dq, ctx_bits, ctx):
    """In place: fold partial sums (float64) into float32 means ``img``, ``wht``, ``img2``, ``dq``.

    ``ctx_bits`` (int32) are ORed into the context plane ``ctx`` everywhere; both
    may be (0, 0) arrays (no context).
    Only pixels that received a non-zero weight sum change. Where the stored
    weight is zero the stored image values are ignored (they hold fill values).
    ``dq`` may be a (0, 0) array (no DQ); ``var``/``img2`` may have 0 planes.
    A merged weight of zero (weights of both signs cancelling) gives inf/nan
    means, as in the reference.
    """
    if var.shape[0] == 0 and dq.shape[0] == 0:
        # The same call as below, but here LLVM knows there is no variance or DQ work.
        _merge_loop(flux, wsum, var, dq_or, img, wht, img2, dq, ctx_bits, ctx)
    else:
        _merge_loop(flux, wsum, var, dq_or, img, wht, img2, dq, ctx_bits, ctx)


@jit
def fill_no_weight(img, wht, fill):
    """``img[wht == 0] = fill`` in one pass (2-D arrays of the same shape)."""
    ny, nx = wht.shape
    for y in range(ny):
        yu = np.uint64(y)
        for x in range(nx):
            xu = np.uint64(x)
            if wht[yu, xu] == 0.0:
                img[yu, xu] = fill
