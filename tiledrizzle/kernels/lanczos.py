"""The one Lanczos look-up table, shared by the drizzle kernels and the blot interpolators."""

import math

import numpy as np

from ._jit import jit

LANCZOS_LUT_STEP = 0.003
"""Spacing of the table in pixels (the reference's)."""


@jit
def lanczos_lut(order):
    """Tabulated one-sided Lanczos kernel ``sinc(x) sinc(x / order)`` at ``x = k * 0.003``.

    Same length (``ceil(order / 0.003) + 1``) and values as the reference's table
    (``math.sin`` is the C library's ``sin``, so the entries are bit-identical).
    """
    n = int(math.ceil(order / LANCZOS_LUT_STEP)) + 1
    lut = np.zeros(n, dtype=np.float64)
    lut[0] = 1.0
    for k in range(1, n):
        x = k * LANCZOS_LUT_STEP
        if x <= order:
            px = math.pi * x
            r = px / order
            lut[k] = math.sin(px) * math.sin(r) / (px * r)
    return lut
