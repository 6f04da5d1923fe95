"""The JIT aliases every kernel uses, and small numeric helpers shared by kernels.

Kernels are plain module-level functions over NumPy arrays: no Dask, no I/O,
no closures built at run time, and they release the GIL so threads scale.
"""

import math

import numpy as np
from numba import njit

jit = njit(nogil=True, cache=True)
"""``numba.njit`` with ``nogil=True, cache=True``: the decorator every kernel uses."""

jit_c = njit(nogil=True, cache=True, error_model="numpy")
"""``jit`` with C semantics for float division: dividing by zero gives inf/nan (as
the reference's C code does) instead of raising, and the loops carry no
zero-divisor checks. Results for nonzero divisors are the same as with ``jit``."""

jit_inline = njit(nogil=True, cache=True, inline="always")
"""``jit`` for small helpers called per pixel: inlined into the calling kernel at
Numba-IR level, so no call (and no array-struct copies) happen in inner loops."""


@jit_inline
def round_half_away(x):
    """Nearest integer, halves rounded away from zero (C ``round``), as an int.

    NumPy and Numba's ``round`` round halves to even; the reference C core uses
    ``round()``, so pixel selection must use this to land on the same pixels.
    ``int`` truncates toward zero and ``x - int(x)`` is exact (|x| < 2**63), so
    comparing it with +-0.5 decides exactly as C ``round`` does.
    """
    t = int(x)
    r = x - t
    if r >= 0.5:
        t += 1
    elif r <= -0.5:
        t -= 1
    return t


@jit_inline
def round_above_half(x):
    """``round_half_away(x)`` for ``x > -0.5`` (the result is then >= 0): no sign handling.

    ``int`` truncates toward zero, and ``x - int(x)`` is exact, so the test
    against 0.5 is the same as C ``round``'s. For ``-0.5 < x < 0`` it gives 0.
    """
    t = int(x)
    if x - t >= 0.5:
        t += 1
    return t


_EXP_N = 16
_LOG2E_N = 16.0 / math.log(2.0)
_LN2_N_HI = 6.93147180369123816490e-01 / 16.0  # (ln 2)/16 to 32 bits: q * _LN2_N_HI is exact
_LN2_N_LO = 1.90821492927058770002e-10 / 16.0  # (ln 2)/16 - _LN2_N_HI


@jit_inline
def exp_tables():
    """Tables for ``exp_nonpos``: ``2**(-j/16)`` for j = 0..15, and ``2**-m`` for m = 0..1074."""
    frac = np.empty(_EXP_N, dtype=np.float64)
    for j in range(_EXP_N):
        frac[j] = 2.0 ** (-j / _EXP_N)
    pow2 = np.empty(1075, dtype=np.float64)
    v = 1.0
    for m in range(1075):
        pow2[m] = v
        v *= 0.5
    return frac, pow2


@jit_inline
def exp_nonpos(x, frac, pow2):
    """``exp(x)`` for ``x <= 0`` without a call into libm, within a few ulp (measured <= 4).

    ``x = -q (ln 2)/16 + r`` with ``|r| <= (ln 2)/32`` (Cody-Waite reduction, so
    ``r`` is exact to the last bits); ``exp(r)`` by its degree-7 Taylor
    polynomial (truncation error < 2e-18 relative), evaluated in Estrin's
    order (short dependency chains); times ``2**-(q mod 16)/16`` and ``2**-(q div 16)``
    from the tables of ``exp_tables``. Underflow (``x <= -745``) gives 0.
    """
    if not x > -745.0:
        return 0.0
    q = int(0.5 - x * _LOG2E_N)
    r = (x + q * _LN2_N_HI) + q * _LN2_N_LO
    r2 = r * r
    p = ((1.0 + r) + r2 * (0.5 + r * (1.0 / 6.0))) + (r2 * r2) * (
        (1.0 / 24.0 + r * (1.0 / 120.0)) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0))
    )
    m = q >> 4
    if m > 1074:
        return 0.0
    return (p * frac[np.uint64(q & 15)]) * pow2[np.uint64(m)]
