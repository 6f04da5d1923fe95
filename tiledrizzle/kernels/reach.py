"""How far from an input pixel each kernel can put weight on the output.

The planner widens block footprints by these bounds and tasks narrow the
pixels they visit with them; a bound that is too small would drop weight, so
every one is an upper bound, with ``ROUNDING_MARGIN`` for the rounding of
footprint limits to pixel indices.
"""

from .drizzle import FWHM_PER_SIGMA, GAUSSIAN_NSIG

ROUNDING_MARGIN = 2.0
"""Output pixels added to every reach: rounding of footprint limits to pixel indices."""


def square_corner_steps(pixfrac):
    """How far (in steps) a square-kernel corner strays from the pixmap values it is
    interpolated from: ``2 dh + 2 dh**2`` with ``dh = pixfrac / 2``.

    A corner is a bilinear evaluation of the pixmap at offsets up to ``dh`` from
    a corner of its cell. Inside the input with ``pixfrac <= 2`` it is a convex
    combination of the cell's values and strays not at all; at the input's edges
    (and everywhere when ``pixfrac > 2``) the cell is extrapolated, by at most
    ``dh * step`` along each axis plus ``dh**2 * 2 step`` for the cross term.
    """
    dh = 0.5 * pixfrac
    return 2.0 * dh + 2.0 * dh * dh


def kernel_reach(kernel, pixfrac, pscale_ratio, step):
    """How far (output pixels) beyond the pixmap values of a pixel's neighbourhood
    ``kernel`` can deposit weight (plus the rounding margin).

    ``step`` is the output size of one input pixel (largest coordinate change
    between neighbours); ``pscale_ratio`` sizes turbo, gaussian and lanczos.
    For the square kernel the neighbourhood is the pixel and its ``halo_for``
    neighbours (``square_corner_steps``); the other kernels work from the mapped
    centre alone.
    """
    psr = float(pscale_ratio)
    if kernel == "square":
        reach = square_corner_steps(pixfrac) * step
    elif kernel == "point":
        reach = 0.0
    elif kernel == "turbo":
        reach = 0.5 * pixfrac / psr
    elif kernel == "gaussian":
        reach = max(GAUSSIAN_NSIG * pixfrac / FWHM_PER_SIGMA / psr, 1.2 / psr)
    elif kernel in ("lanczos2", "lanczos3"):
        reach = int(kernel[-1]) / psr
    else:
        raise ValueError(f"Kernel '{kernel}' is not supported.")
    return reach + ROUNDING_MARGIN


def centre_reach(kernel, pixfrac, pscale_ratio):
    """``(reach, reach_steps, halo)``: a pixel can put weight no farther than
    ``reach + reach_steps * step`` output pixels from its own mapped centre.

    For the square kernel the corners come from neighbours up to ``halo`` pixels
    away (at most ``2 halo`` steps along each output axis) and stray
    ``square_corner_steps`` beyond them; ``halo`` is the neighbourhood over
    which ``step`` must be measured. Other kernels: ``kernel_reach``, no halo.
    """
    if kernel == "square":
        halo = halo_for(pixfrac)
        return ROUNDING_MARGIN, 2.0 * halo + square_corner_steps(pixfrac), halo
    return kernel_reach(kernel, pixfrac, pscale_ratio, 0.0), 0.0, 0


def halo_for(pixfrac):
    """Neighbour pixels around a block whose map bounds the square kernel's corners."""
    return int(0.5 * pixfrac) + 1
