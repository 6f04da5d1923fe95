"""tiledrizzle: the drizzle algorithm, tiled and parallel, to the reference's numbers.

The drop-in facade lives at the reference's import paths (``tiledrizzle.resample``,
``tiledrizzle.utils``). The rest of the public API is here, loaded on first use
so that ``import tiledrizzle.resample`` stays fast::

    from tiledrizzle import mosaic, plan_mosaic, FitsExposure, fit_output_wcs, export_fits
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "mosaic": "tiledrizzle.engine.batch",
    "plan_mosaic": "tiledrizzle.engine.plan",
    "MosaicPlan": "tiledrizzle.engine.plan",
    "MosaicResult": "tiledrizzle.engine.execute",
    "abort_batch": "tiledrizzle.engine.execute",
    "InputsOutsideWarning": "tiledrizzle.engine.plan",
    "Exposure": "tiledrizzle.inputs.exposure",
    "FitsExposure": "tiledrizzle.inputs.fits",
    "WCSPixmap": "tiledrizzle.inputs.pixmap",
    "fit_output_wcs": "tiledrizzle.inputs.output_wcs",
    "wcs_from_header_file": "tiledrizzle.inputs.output_wcs",
    "MosaicStore": "tiledrizzle.store.zarr_store",
    "export_fits": "tiledrizzle.products.export",
    "preview_png": "tiledrizzle.products.preview",
    "blot_mosaic": "tiledrizzle.products.blot_mosaic",
    "TiledrizzleError": "tiledrizzle.core.errors",
    "InputError": "tiledrizzle.core.errors",
    "InputTypeError": "tiledrizzle.core.errors",
    "FitsInputError": "tiledrizzle.core.errors",
    "PlanError": "tiledrizzle.core.errors",
    "StoreError": "tiledrizzle.core.errors",
    "StoreLockedError": "tiledrizzle.core.errors",
    "ClusterError": "tiledrizzle.core.errors",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'tiledrizzle' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
