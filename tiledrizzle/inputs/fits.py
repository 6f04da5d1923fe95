"""FITS exposures as mosaic inputs, read lazily where their tasks run.

A ``FitsExposure`` names a file and how to read it: the science extension,
optional error (``ERR``, co-added as variance ``err**2``) or variance
extension, a DQ extension with the bits that mark bad pixels (weight 0; DQ
still propagates to the mosaic's ``dq``), the exposure time keyword, the units
and a weighting scheme:

* ``'uniform'``  every good pixel weighs 1;
* ``'exptime'``  every good pixel weighs the exposure time;
* ``'ivm'``      inverse variance, ``1 / err**2`` (or ``1 / var``), 0 where not finite/positive;
* an extension name or number: a weight map stored in the file.

``prepare`` (on the client) checks the file once: extensions exist, are 2D
images within the file (not truncated) and agree in shape, the exposure time
keyword is there and positive (or ``exptime`` is given), ``bad_bits`` fits the
32-bit DQ, the WCS is celestial, and reads ``BUNIT``: counts and count rates are
drizzled per *output* pixel (scaled by the pixel-area ratio, ``inputs.units``)
unless ``pixel_units='input'``; surface brightness is left as it is. Only the path
and these small facts travel to the workers; ``FitsSource.read`` reads one band of
the extensions there (whole rows, one
contiguous read per extension; other rows are not touched).
"""

from __future__ import annotations

import contextlib
import hashlib
import operator
import os
import warnings
import zlib
from dataclasses import dataclass

import numpy as np

from tiledrizzle.core.errors import FitsInputError, InputError
from tiledrizzle.core.kernel_input import EMPTY_DQ
from tiledrizzle.inputs.exposure import checked, lazy_prepared
from tiledrizzle.inputs.output_wcs import read_celestial_wcs
from tiledrizzle.inputs.pixmap import WCSPixmap
from tiledrizzle.inputs.units import (
    PER_OUTPUT_PIXEL,
    PIXEL_UNITS,
    flux_per,
    output_bunit,
    pixel_area_ratio,
)

WEIGHT_SCHEMES = ("uniform", "exptime", "ivm")
CONTENT_READ_BYTES = 8 << 20  # the content checksum reads files in pieces of this size


def _open(path):
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning

    try:
        return fits.open(path, lazy_load_hdus=True)
    except FileNotFoundError:
        raise FitsInputError(f"{path}: no such file") from None
    except (OSError, ValueError, TypeError, AstropyUserWarning) as exc:
        # (astropy's warnings about damaged headers arrive here when warnings are errors)
        raise FitsInputError(f"{path}: not a readable FITS file ({exc})") from None


def _hdu(hdul, ext, path, what):
    from astropy.utils.exceptions import AstropyUserWarning

    try:
        with warnings.catch_warnings():
            # astropy only warns when an HDU's data run past the end of the file
            warnings.filterwarnings("error", "File may have been truncated", AstropyUserWarning)
            hdu = hdul[ext]
    except (KeyError, IndexError):
        raise FitsInputError(f"{path}: no {what} extension {ext!r}") from None
    except AstropyUserWarning as exc:
        raise FitsInputError(f"{path}[{ext!r}]: the file is truncated or damaged ({exc})") from None
    except (OSError, ValueError, TypeError) as exc:
        raise FitsInputError(f"{path}: not a readable FITS file ({exc})") from None
    if not hdu.is_image:
        raise FitsInputError(
            f"{path}[{ext!r}]: the {what} extension must hold a 2D image, "
            f"not a {type(hdu).__name__}"
        )
    if hdu.header.get("NAXIS") != 2:
        raise FitsInputError(
            f"{path}[{ext!r}]: the {what} extension must hold a 2D image "
            f"(NAXIS={hdu.header.get('NAXIS')})"
        )
    return hdu


def _has_data(header):
    """Whether an HDU's header announces data (NAXIS > 0 and no axis of length 0)."""
    n = header.get("NAXIS", 0)
    return n > 0 and all(header.get(f"NAXIS{i}", 0) > 0 for i in range(1, n + 1))


def _shape(hdu):
    return (int(hdu.header["NAXIS2"]), int(hdu.header["NAXIS1"]))


_RAW_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _raw_layout(hdu):
    """``(byte offset of the data in the file, big-endian dtype)`` of an image HDU whose
    rows can be read straight from the file (plain, unscaled, not compressed); else None."""
    from astropy.io import fits

    header = hdu.header
    if type(hdu) not in (fits.PrimaryHDU, fits.ImageHDU) or header.get("NAXIS") != 2:
        return None
    if header.get("BSCALE", 1) != 1 or header.get("BZERO", 0) != 0:
        return None
    dtype = _RAW_DTYPES.get(header.get("BITPIX"))
    info = hdu.fileinfo()
    offset = info.get("datLoc") if info else None
    return None if dtype is None or offset is None else (int(offset), dtype)


def _read_rows(f, offset, dtype, nx, y0, y1):
    """Rows ``y0..y1-1`` of a plain 2D image whose data start at byte ``offset`` of ``f``."""
    f.seek(offset + y0 * nx * dtype.itemsize)
    count = (y1 - y0) * nx
    buf = f.read(count * dtype.itemsize)
    if len(buf) != count * dtype.itemsize:
        raise FitsInputError(f"{f.name}: the file ends inside its image data")
    return np.frombuffer(buf, dtype=dtype).reshape(y1 - y0, nx)


@dataclass(frozen=True)
class FitsSource:
    """Reads bands of one FITS exposure (see the module docstring)."""

    path: str
    shape: tuple
    sci_ext: object
    err_ext: object
    var_ext: object
    dq_ext: object
    weight: object
    bad_bits: int
    exptime: float

    layouts: tuple = ()  # ((ext, data byte offset, big-endian dtype), ...): see _raw_layout

    def check_readable(self):
        """Read the last row of every extension used; ``FitsInputError`` when it cannot be
        read (a truncated or damaged file), so a mosaic fails before it starts."""
        ny, nx = self.shape
        try:
            self.read(ny - 1, ny, 0, nx)
        except Exception as exc:  # astropy and numpy raise many types for damaged files
            raise FitsInputError(
                f"{self.path}: its pixels cannot be read to the last row ({exc}); "
                "the file may be truncated or damaged"
            ) from None

    def read(self, y0, y1, x0, x1):
        raw = {ext: (offset, dtype) for ext, offset, dtype in self.layouts}
        hduls = []

        def band(ext, dtype):
            # Whole rows are one contiguous read; a narrower box is cut from them.
            if ext in raw:
                offset, file_dtype = raw[ext]
                rows = _read_rows(raw_file, offset, np.dtype(file_dtype), self.shape[1], y0, y1)
            else:
                if not hduls:
                    hduls.append(stack.enter_context(_open(self.path)))
                rows = hduls[0][ext].section[y0:y1, :]
            return np.array(rows[:, x0:x1], dtype=dtype)

        with contextlib.ExitStack() as stack:
            raw_file = stack.enter_context(open(self.path, "rb")) if raw else None
            data = band(self.sci_ext, np.float32)
            var = None
            if self.err_ext is not None:
                err = band(self.err_ext, np.float32)
                var = err * err
            elif self.var_ext is not None:
                var = band(self.var_ext, np.float32)
            dq = band(self.dq_ext, np.uint32) if self.dq_ext is not None else EMPTY_DQ
            if self.weight == "uniform":
                weights = np.ones(data.shape, dtype=np.float32)
            elif self.weight == "exptime":
                weights = np.full(data.shape, self.exptime, dtype=np.float32)
            elif self.weight == "ivm":
                with np.errstate(divide="ignore", invalid="ignore"):
                    weights = np.where((var > 0) & np.isfinite(var), 1.0 / var, 0.0)
                weights = weights.astype(np.float32)
            else:
                weights = band(self.weight, np.float32)
        if self.bad_bits and dq.shape[0]:
            weights[(dq & np.uint32(self.bad_bits)) != 0] = 0.0
        data2 = (var if var is not None else np.zeros((0,) + data.shape, np.float32)).reshape(
            (-1,) + data.shape
        )
        return data, weights, np.ascontiguousarray(data2, dtype=np.float32), dq


@dataclass
class FitsExposure:
    """One FITS exposure to drizzle (see the module docstring for the options)."""

    path: str
    sci_ext: object = "SCI"
    err_ext: object = None
    var_ext: object = None
    dq_ext: object = None
    bad_bits: int = 0
    exptime_key: str = "EXPTIME"
    units: str = "cps"
    weight: object = "exptime"
    iscale: float = 1.0
    pixel_scale_ratio: float | None = None
    wht_scale: float = 1.0
    name: str | None = None
    pixmap_mode: str = "fast"
    pixmap_tolerance: float = 0.01
    pixel_units: str = "output"  # counts and rates per output pixel (inputs.units)
    exptime: float | None = None  # read from the header by ``describe`` unless given
    wcs: object = None  # read from the header by ``describe``
    bunit: str | None = None  # BUNIT, read from the header by ``describe``
    area_ratio: float = 1.0  # output over input pixel area, set by ``prepare``

    def __post_init__(self):
        self.path = os.path.abspath(os.fspath(self.path))  # workers may run elsewhere
        if self.name is None:
            self.name = os.path.basename(self.path)

    @property
    def in_units(self):
        return self.units

    @property
    def flux_per(self):
        """What a mosaic value is: per output pixel, per input pixel or surface brightness."""
        return flux_per(self.bunit, self.pixel_units)

    @property
    def out_bunit(self):
        """The mosaic's BUNIT from this input (None without BUNIT)."""
        return output_bunit(self.bunit, self.units)

    def content_id(self):
        """A checksum of the file's content: the same file, or a copy of it under another
        name, gives the same id (``engine.plan`` refuses an exposure counted twice).

        Where every HDU with data carries the FITS ``DATASUM`` keyword (mission files
        do), the headers (with their ``DATASUM`` and ``CHECKSUM``) stand for the data
        and no pixel is read; otherwise the whole file is read once (CRC-32, about
        4 GB/s). The science extension chosen is part of the id (two chips of one file
        are two inputs)."""
        h = hashlib.sha256(repr(self.sci_ext).encode())
        try:
            size = os.path.getsize(self.path)
            h.update(str(size).encode())
            with _open(self.path) as hdul:
                headers = [hdu.header for hdu in hdul]
            if all("DATASUM" in hd for hd in headers if _has_data(hd)):
                for hd in headers:
                    h.update(hd.tostring().encode("ascii", "replace"))
                return "fits-h-" + h.hexdigest()[:32]
            crc = 0
            with open(self.path, "rb") as f:
                while chunk := f.read(CONTENT_READ_BYTES):
                    crc = zlib.crc32(chunk, crc)
        except OSError as exc:
            raise FitsInputError(f"{self.path}: cannot be read ({exc.strerror})") from None
        h.update(crc.to_bytes(4, "little"))
        return "fits-" + h.hexdigest()[:32]

    def identity(self):
        """What this input's pixels depend on: the file (path, size, modification time)
        and every reader option (``inputs.exposure.fingerprint``)."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        return (self.path, stamp, self.sci_ext, self.err_ext, self.var_ext, self.dq_ext,
                self.bad_bits, self.exptime_key, self.units, self.weight, self.iscale,
                self.pixel_scale_ratio, self.wht_scale, self.pixmap_mode,
                self.pixmap_tolerance, self.exptime, self.pixel_units)  # fmt: skip

    def describe(self):
        """Read and check the headers; sets ``exptime``, ``wcs`` and returns the source.

        The answer is kept while the options and the file (size, time) stay the same.
        """
        try:
            st = os.stat(self.path)
            key = (st.st_size, st.st_mtime_ns, self.sci_ext, self.err_ext, self.var_ext,
                   self.dq_ext, self.bad_bits, self.exptime_key, self.units, self.weight,
                   self.exptime)  # fmt: skip
        except OSError:
            key = None  # the open below names the problem
        described = getattr(self, "_described", None)
        if key is not None and described is not None and described[0] == key:
            return described[1]
        source = self._describe()
        self._described = (key[:-1] + (self.exptime,) if key else None, source)
        return source

    def _describe(self):
        if self.err_ext is not None and self.var_ext is not None:
            raise FitsInputError(f"{self.path}: give 'err_ext' or 'var_ext', not both")
        if self.units not in ("cps", "counts"):
            raise FitsInputError(
                f"{self.path}: units must be 'cps' or 'counts', not {self.units!r}"
            )
        if self.pixel_units not in PIXEL_UNITS:
            raise FitsInputError(
                f"{self.path}: pixel_units must be one of {PIXEL_UNITS}, not {self.pixel_units!r}"
            )
        weight = self.weight
        if isinstance(weight, str) and weight.lower() in WEIGHT_SCHEMES:
            weight = weight.lower()
        elif not isinstance(weight, int | str):
            raise FitsInputError(
                f"{self.path}: weight must be one of {WEIGHT_SCHEMES} or an extension, "
                f"not {weight!r}"
            )
        if weight == "ivm" and self.err_ext is None and self.var_ext is None:
            raise FitsInputError(f"{self.path}: weight='ivm' needs 'err_ext' or 'var_ext'")
        bad_bits = _bit_mask(self.bad_bits, self.path)
        with _open(self.path) as hdul:
            sci = _hdu(hdul, self.sci_ext, self.path, "science")
            shape = _shape(sci)
            for ext, what in (
                (self.err_ext, "error"),
                (self.var_ext, "variance"),
                (self.dq_ext, "DQ"),
                (None if weight in WEIGHT_SCHEMES else weight, "weight"),
            ):
                if ext is None:
                    continue
                other = _shape(_hdu(hdul, ext, self.path, what))
                if other != shape:
                    raise FitsInputError(
                        f"{self.path}[{ext!r}]: the {what} extension has shape {other}, "
                        f"the science extension {shape}"
                    )
            if self.dq_ext is not None:
                kind = np.dtype(_bitpix_dtype(hdul[self.dq_ext].header["BITPIX"]))
                if kind.kind not in "iu" or kind.itemsize > 4:
                    raise FitsInputError(
                        f"{self.path}[{self.dq_ext!r}]: DQ must be an integer image of "
                        f"at most 32 bits (BITPIX={hdul[self.dq_ext].header['BITPIX']})"
                    )
            exptime = self.exptime
            if exptime is None:
                for h in (sci.header, hdul[0].header):
                    if self.exptime_key in h:
                        exptime = h[self.exptime_key]
                        break
                else:
                    raise FitsInputError(
                        f"{self.path}[{self.sci_ext!r}]: exposure time keyword "
                        f"{self.exptime_key!r} not found"
                    )
            try:
                exptime = float(exptime)
            except (TypeError, ValueError):
                raise FitsInputError(
                    f"{self.path}: exposure time {exptime!r} is not a number"
                ) from None
            if not (np.isfinite(exptime) and exptime > 0):
                raise FitsInputError(
                    f"{self.path}: exposure time must be positive, got {exptime!r}"
                )
            wcs = read_celestial_wcs(
                sci.header, f"{self.path}[{self.sci_ext!r}]", fobj=hdul, error=FitsInputError,
                missing="the WCS is missing or not celestial",
            )  # fmt: skip
            wcs.array_shape = shape
            exts = {self.sci_ext, self.err_ext, self.var_ext, self.dq_ext}
            exts |= {weight} if weight not in WEIGHT_SCHEMES else set()
            # Rows are read straight from the file only when its bytes are the FITS
            # bytes: a compressed file (gzip, bzip2, zip) is read through astropy.
            layouts = (
                ()
                if _is_compressed(self.path)
                else tuple(
                    (ext,) + layout
                    for ext in exts - {None}
                    if (layout := _raw_layout(hdul[ext])) is not None
                )
            )
        self.exptime, self.wcs = exptime, wcs
        self.bunit = next((str(h["BUNIT"]).strip() for h in (sci.header, hdul[0].header)
                           if str(h.get("BUNIT", "")).strip()), None)  # fmt: skip
        return FitsSource(
            self.path, shape, self.sci_ext, self.err_ext, self.var_ext, self.dq_ext, weight,
            bad_bits, exptime, layouts,
        )  # fmt: skip

    def prepare(self, k, kernel, pixfrac, out_wcs):
        """The engine's hook: check the file and build the lazy input (see ``mosaic``)."""
        if out_wcs is None:
            raise InputError(f"input {k} ({self.name}): FITS inputs need the output 'wcs'")
        source = self.describe()
        self.area_ratio = (
            pixel_area_ratio(self.wcs, out_wcs, source.shape)
            if self.flux_per == PER_OUTPUT_PIXEL
            else 1.0
        )
        # The scalar checks of add_image, on stand-in arrays (no pixels are read here).
        inp, _, _, _ = checked(
            k, self.name, kernel, np.zeros((2, 2), np.float32), self.exptime,
            np.zeros((2, 2, 2)), None, None, self.iscale * self.area_ratio,
            self.pixel_scale_ratio, None,
            self.wht_scale, pixfrac, self.units, None, None, None, None,
        )  # fmt: skip
        n_var = int(source.err_ext is not None or source.var_ext is not None)
        pixmap = WCSPixmap(
            self.wcs, out_wcs, source.shape, mode=self.pixmap_mode,
            tolerance=self.pixmap_tolerance,
        )  # fmt: skip
        return lazy_prepared(inp, n_var, source.dq_ext is not None, pixmap, source)


_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"PK\x03\x04")


def _is_compressed(path):
    """Whether the file is gzip, bzip2 or zip compressed (astropy opens all three)."""
    with open(path, "rb") as f:
        start = f.read(4)
    return start.startswith(_COMPRESSED_MAGIC)


def _bit_mask(value, path):
    """``bad_bits`` as an int that fits the uint32 DQ planes (checked here, not on a worker)."""
    try:
        bits = operator.index(value)
    except TypeError:
        raise FitsInputError(
            f"{path}: 'bad_bits' must be an integer bit mask, not {value!r}"
        ) from None
    if not 0 <= bits < 2**32:
        raise FitsInputError(
            f"{path}: 'bad_bits' must be a bit mask between 0 and 2**32 - 1, got {bits}"
        )
    return bits


def _bitpix_dtype(bitpix):
    return {8: np.uint8, 16: np.int16, 32: np.int32, 64: np.int64, -32: np.float32,
            -64: np.float64}[int(bitpix)]  # fmt: skip
