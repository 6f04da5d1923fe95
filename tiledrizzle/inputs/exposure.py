"""One input of a mosaic, as users give it, and its validation before any work starts.

An input is an ``Exposure`` (the arguments of ``Drizzle.add_image``), a mapping
of its fields, a file-backed input with a ``prepare`` hook (``FitsExposure``)
or a FITS path. ``prepare_inputs`` checks every one of them with the facade's
rules (``core.options``) before anything is planned or written, and returns
``PreparedExposure`` objects: the kernel arrays and options, the input box and,
for inputs read lazily, where their pixels and pixmap come from.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from numbers import Real

import numpy as np

from tiledrizzle.core.errors import InputError, InputTypeError
from tiledrizzle.core.interrupt import checkpoint
from tiledrizzle.core.kernel_input import EMPTY_DQ, PreparedInput
from tiledrizzle.core.options import DEPRECATED_ARG, validate_add_image
from tiledrizzle.inputs.sources import ArraySource


@dataclass
class Exposure:
    """One input of a mosaic: the arguments of ``Drizzle.add_image`` (pixfrac is per mosaic)."""

    data: object
    pixmap: object
    exptime: float
    weight_map: object = None
    data2: object = None
    dq: object = None
    iscale: float = 1.0
    pixel_scale_ratio: float | None = 1.0
    wht_scale: float = 1.0
    in_units: str = "cps"
    xmin: int | None = None
    xmax: int | None = None
    ymin: int | None = None
    ymax: int | None = None
    name: str | None = None


_EXPOSURE_FIELDS = {f.name for f in fields(Exposure)}


def as_exposure(item, k):
    """An ``Exposure`` (from itself or a mapping), a file-backed input, or a FITS path."""
    if isinstance(item, Exposure) or hasattr(item, "prepare"):
        return item
    if isinstance(item, str | os.PathLike):
        from tiledrizzle.inputs.fits import FitsExposure  # astropy.io.fits on demand

        return FitsExposure(item)
    if isinstance(item, Mapping):
        unknown = set(item) - _EXPOSURE_FIELDS
        if unknown:
            raise InputTypeError(f"input {k}: unknown field(s) {sorted(unknown)}")
        try:
            return Exposure(**item)
        except TypeError as exc:
            raise InputTypeError(f"input {k}: {exc}") from None
    raise InputTypeError(
        f"input {k}: expected an Exposure, a mapping, a FitsExposure or a FITS path, "
        f"got {type(item).__name__}"
    )


@dataclass(frozen=True)
class PreparedExposure:
    """A validated input: kernel arrays and options, input box, and its lazy parts if any."""

    inp: PreparedInput
    box: tuple
    n_img2: int
    pixmap_fn: object = None  # callable (rows, cols) -> pixmap block, for lazy inputs
    source: object = None  # where a lazy input's pixels are read

    @property
    def with_dq(self) -> bool:
        return self.inp.dq.shape[0] > 0

    @property
    def shape(self):
        return tuple(self.source.shape if self.source is not None else self.inp.shape)


def _validated(e: Exposure, k, kernel, pixfrac):
    """``Drizzle.add_image``'s checks on one input; errors name the input."""
    lazy = callable(e.pixmap)
    pixmap = e.pixmap
    # Stricter than add_image (which follows the reference): a batch must not make the
    # store's exposure time NaN, nor drop an imaginary part with only a numpy warning.
    if isinstance(e.exptime, Real) and not np.isfinite(e.exptime):
        raise InputError(
            f"input {k} ({e.name or 'unnamed'}): 'exptime' must be positive and finite, "
            f"got {e.exptime}"
        )
    for name in ("data", "pixmap"):
        value = getattr(e, name)
        if not callable(value) and np.iscomplexobj(value):
            raise InputTypeError(
                f"input {k} ({e.name or 'unnamed'}): {name!r} must be real-valued, "
                f"got {np.asarray(value).dtype}"
            )
    if lazy:
        if any(v is not None for v in (e.xmin, e.xmax, e.ymin, e.ymax)):
            raise InputError(f"input {k}: an input box (xmin..ymax) needs an array pixmap")
        shape = np.shape(e.data)
        if len(shape) != 2:
            raise InputError(f"input {k}: 'data' must be a 2D array, got shape {shape}")
        # A stand-in map (no copy) for the array checks; the real one is made per block.
        pixmap = np.broadcast_to(np.zeros(2), tuple(shape) + (2,))
    inp, box, n2, _ = checked(
        k, e.name or "unnamed", kernel, e.data, e.exptime, pixmap, e.data2, e.dq, e.iscale,
        e.pixel_scale_ratio, e.weight_map, e.wht_scale, pixfrac, e.in_units,
        e.xmin, e.xmax, e.ymin, e.ymax,
    )  # fmt: skip
    if not lazy:
        return PreparedExposure(inp, box, n2 or 0)
    source = ArraySource(inp.data, inp.weights, inp.data2, inp.dq)
    return lazy_prepared(inp, n2 or 0, inp.dq.shape[0] > 0, e.pixmap, source)


def checked(k, name, kernel, *add_image_args):
    """``core.options.validate_add_image`` (no deprecated ``scale``) with errors naming
    input ``k`` (``name``), of the same type."""
    data, exptime, pixmap, data2, dq, *rest = add_image_args
    try:
        return validate_add_image(
            kernel, data, exptime, pixmap, data2, dq, DEPRECATED_ARG, *rest, stacklevel=3
        )
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"input {k} ({name}): {exc}") from None


def lazy_prepared(inp, n_var, with_dq, pixmap_fn, source) -> PreparedExposure:
    """A lazy input: ``inp`` keeps the options only (its arrays become empty stand-ins)."""
    no_pixels = np.zeros((0, 0), dtype=np.float32)
    options = replace(
        inp, data=no_pixels, weights=no_pixels, pixmap=no_pixels,
        data2=np.zeros((n_var, 0, 0), np.float32),
        dq=np.zeros((1, 0), np.uint32) if with_dq else EMPTY_DQ,
    )  # fmt: skip
    return PreparedExposure(options, None, n_var, pixmap_fn, source)


def prepare_inputs(exposures, kernel, pixfrac, out_wcs):
    """Validate every input (nothing is written before all pass); each warning once."""
    prepared = []
    seen = set()
    for k, e in enumerate(exposures):
        checkpoint()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if hasattr(e, "prepare"):  # a file-backed input (tiledrizzle.inputs.fits)
                p = e.prepare(k, kernel, pixfrac, out_wcs)
            else:
                p = _validated(e, k, kernel, pixfrac)
        for w in caught:
            if str(w.message) not in seen:
                seen.add(str(w.message))
                warnings.warn(w.message, w.category, stacklevel=4)
        prepared.append(p)
    n_img2 = {p.n_img2 for p in prepared}
    if len(n_img2 - {0}) > 1:
        raise InputError("all inputs must have the same number of 'data2' arrays")
    return prepared


FINGERPRINT_SAMPLES = 1 << 16
"""Elements of each array hashed into a fingerprint (evenly spaced, plus both ends)."""


def fingerprint(e, p: PreparedExposure) -> str:
    """A short hash of what an input's pixels depend on, beyond its scalar options: a FITS
    input's file (path, size, modification time) and reader options; an array input's
    shapes, dtypes and an even sample of its arrays (cheap at any size; two inputs that
    differ anywhere but between samples are told apart only by their other facts)."""
    h = hashlib.sha256()
    identity = getattr(e, "identity", None)
    if identity is not None:
        h.update(repr(identity()).encode())
        return h.hexdigest()[:32]
    for a in _arrays(p):
        _hash_sample(h, a)
    if p.pixmap_fn is None:
        _hash_sample(h, p.inp.pixmap)
    else:
        h.update(type(p.pixmap_fn).__qualname__.encode())
        try:
            h.update(pickle.dumps(p.pixmap_fn))
        except Exception:  # an unpicklable callable: its type is all we know
            pass
    h.update(repr(p.box).encode())
    return h.hexdigest()[:32]


def _arrays(p: PreparedExposure):
    """An array input's data, weights, variance and DQ (held by its source when its
    pixel map is lazy: ``inp`` then keeps stand-ins)."""
    held = p.source if isinstance(p.source, ArraySource) else p.inp
    return held.data, held.weights, held.data2, held.dq


def _hash_sample(h, a):
    a = np.asarray(a)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    if a.size == 0:
        return
    flat = a.reshape(-1)
    step = max(1, flat.size // FINGERPRINT_SAMPLES)
    for part in (flat[:256], flat[::step], flat[-256:]):
        h.update(np.ascontiguousarray(part).tobytes())


def source_id(e, p: PreparedExposure) -> str:
    """Which exposure an input *is*, whatever the options it is drizzled with: a FITS
    file's content checksum (``FitsExposure.content_id``: a copy under another name is
    the same input), or a checksum of an array input's whole data array (CRC-32, about
    4 GB/s) with a sample of its pixel map (where it lands). Two inputs with one
    ``source_id`` would count the same exposure twice."""
    content = getattr(e, "content_id", None)
    if content is not None:
        return content()
    h = hashlib.sha256(b"array")
    data = np.asarray(_arrays(p)[0])
    h.update(f"{data.dtype.str}{data.shape}".encode())
    h.update(
        zlib.crc32(np.ascontiguousarray(data).reshape(-1).view(np.uint8)).to_bytes(4, "little")
    )
    if p.pixmap_fn is None:
        _hash_sample(h, p.inp.pixmap)
    else:
        try:
            h.update(pickle.dumps(p.pixmap_fn))
        except Exception:  # an unpicklable callable: only the data tells inputs apart
            h.update(type(p.pixmap_fn).__qualname__.encode())
    return "array-" + h.hexdigest()[:32]


def source_path(e) -> str | None:
    """The file an input is read from (absolute), or None for arrays."""
    path = getattr(e, "path", None)
    return os.fspath(path) if path is not None else None
