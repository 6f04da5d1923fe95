"""Numba kernels: pure functions over NumPy arrays (see ``_jit.jit``)."""
