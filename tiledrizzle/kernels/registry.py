"""The one table of drizzle kernels: name, entry point and the facts the rest relies on.

Every other module asks this table (the facade's accepted names, the CLI's
choices, the planner's reach, the warnings) instead of keeping its own list.
"""

from dataclasses import dataclass
from importlib import import_module

CTX_PLANE_BITS = 32
"""Inputs per context plane: input ``k`` is bit ``k % 32`` of plane ``k // 32`` (int32)."""


@dataclass(frozen=True)
class KernelSpec:
    """One drizzle kernel.

    ``flux_conserving``: total flux (and surface brightness) is preserved
    (square, point, turbo); the gaussian and lanczos kernels spread flux with
    weights that are not pixel overlaps and do not conserve it.
    ``needs_scale_ratio``: its footprint is sized by the output/input pixel
    scale ratio (estimated from the pixmap when not given).
    ``run``: the entry point, ``tiledrizzle.kernels.drizzle.drizzle_<name>``; every
    kernel shares one signature. It is looked up on use, so reading the table (the
    CLI's choices, the facade's checks) loads neither Numba nor the kernels.
    """

    name: str
    flux_conserving: bool
    needs_scale_ratio: bool

    @property
    def run(self):
        return getattr(import_module("tiledrizzle.kernels.drizzle"), f"drizzle_{self.name}")


_SPECS = (
    KernelSpec("square", True, False),
    KernelSpec("gaussian", False, True),
    KernelSpec("point", True, False),
    KernelSpec("turbo", True, True),
    KernelSpec("lanczos2", False, True),
    KernelSpec("lanczos3", False, True),
)

KERNELS = {spec.name: spec for spec in _SPECS}
"""Kernel name (lower case) -> ``KernelSpec``."""

KERNEL_NAMES = tuple(spec.name for spec in _SPECS)
"""The kernel names, in the reference's order (``SUPPORTED_DRIZZLE_KERNELS``)."""


def kernel_spec(name) -> KernelSpec | None:
    """The ``KernelSpec`` of ``name`` (any case), or None when there is no such kernel."""
    if not isinstance(name, str):
        return None
    return KERNELS.get(name.lower())


def context_plane_count(n_ids: int) -> int:
    """Context planes needed for context ids ``0 .. n_ids - 1`` (at least one)."""
    return max(n_ids - 1, 0) // CTX_PLANE_BITS + 1


BLOT_INTERPOLATORS = ("nearest", "linear", "poly3", "poly5", "lanczos3", "lanczos5", "sinc")
"""The blot interpolators (``engine.blot.INTERPOLATORS`` maps each to the kernel code of
the same name in ``kernels.blot``)."""

BLOT_ALIASES = {"lan3": "lanczos3", "lan5": "lanczos5"}
"""The reference's old interpolator names, accepted with a deprecation warning."""
