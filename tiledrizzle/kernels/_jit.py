"""The JIT aliases every kernel uses, and small numeric helpers shared by kernels.

Kernels are plain module-level functions over NumPy arrays: no Dask, no I/O,
no closures built at run time, and they release the GIL so threads scale.
"""

import math

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
    """
    a = abs(x)
    f = math.floor(a)
    if a - f >= 0.5:
        f += 1.0
    return int(f) if x >= 0.0 else -int(f)
