"""A finished mosaic out of the store as one FITS file.

``export_fits`` writes a mosaic that fits in memory to one FITS file (SCI,
WHT, CON, VAR, DQ extensions with the output WCS), atomically: it is written
to a temporary file beside the target and renamed when complete, so a failure
leaves nothing half-written. ``preview_png`` makes an 8-bit grayscale PNG of
any size of mosaic, reading the store lazily through Dask and block-averaging
it down to at most ``max_size`` pixels on a side; the PNG is written with
zlib and struct only.
"""

from __future__ import annotations

import os
import uuid

import numpy as np

from tiledrizzle.core.errors import InputError
from tiledrizzle.core.interrupt import checkpoint
from tiledrizzle.store.zarr_store import MosaicStore

DEFAULT_MAX_BYTES = 4 * 2**30
"""Largest output (bytes of all exported arrays) ``export_fits`` writes by default."""


def as_store(store) -> MosaicStore:
    if isinstance(store, MosaicStore):
        return store
    return MosaicStore.open(os.fspath(store))


def _version():
    import tiledrizzle

    return str(getattr(tiledrizzle, "__version__", "unknown"))


def _gib(nbytes):
    return f"{nbytes / 2**30:.2f} GiB ({nbytes} bytes)"


# -- FITS ------------------------------------------------------------------------------


def _extensions(st: MosaicStore):
    """(EXTNAME, array name in the store) of every extension, in file order."""
    a = st.attrs
    exts = [("SCI", "img"), ("WHT", "wht"), ("CON", "ctx")]
    n_img2 = int(a["n_img2"])
    if n_img2 == 1:
        exts.append(("VAR", "img2/0"))
    else:
        exts += [(f"VAR{k + 1}", f"img2/{k}") for k in range(n_img2)]
    if a["has_dq"]:
        exts.append(("DQ", "dq"))
    return exts


def _array_data(st: MosaicStore, name):
    """The whole array ``name`` of the store, in memory (a 2-D image for one ctx plane)."""
    data = _read_by_chunks(st.reader(name))
    if name == "ctx" and data.shape[0] == 1:
        data = data[0]
    return data


def _primary_header(st: MosaicStore):
    from astropy.io import fits

    a = st.attrs
    h = fits.Header()
    h["ORIGIN"] = ("tiledrizzle", "software that made the mosaic")
    h["TDRZVER"] = (_version(), "tiledrizzle version")
    h["KERNEL"] = (a["kernel"], "drizzle kernel")
    h["PIXFRAC"] = (float(a["pixfrac"]), "drizzle pixfrac")
    h["EXPTIME"] = (float(a["total_exptime"]), "[s] total exposure time of the inputs")
    _unit_cards(h, a)
    h["NINPUTS"] = (len(a["inputs"]), "number of inputs drizzled")
    h["NBATCHES"] = (len(a["batches"]), "number of batches added to the mosaic")
    fill = a["fillval"]
    h["FILLVAL"] = ("INDEF" if fill is None else float(fill), "value of pixels without weight")
    h["NCONPLN"] = (int(st.group["ctx"].shape[0]), "context bit planes (32 inputs each)")
    h["NVAR"] = (int(a["n_img2"]), "variance (img2) extensions")
    ny, nx = st.meta.grid.shape
    h["MOSNX"] = (nx, "mosaic width (pixels)")
    h["MOSNY"] = (ny, "mosaic height (pixels)")
    return h


def _unit_cards(h, attrs):
    from tiledrizzle.inputs.units import describe_units

    units = attrs.get("units") or {}
    if units.get("bunit"):
        h["BUNIT"] = (units["bunit"], "units of SCI (from the inputs' BUNIT)")
    if units.get("flux_per"):
        h["PIXUNITS"] = (units["flux_per"], "SCI values are per this (or surface brightness)")
    h["COMMENT"] = f"SCI: {describe_units(units)}"


def _inputs_table(st: MosaicStore):
    from astropy.io import fits

    inputs = st.attrs["inputs"]
    if not inputs:
        return None
    # FITS strings are ASCII: other characters are written as Python escapes (\xe9, \u2013);
    # the store keeps the names as given.
    names = [str(i.get("name", "")).encode("ascii", "backslashreplace").decode() for i in inputs]
    width = max(1, max(len(n) for n in names))
    cols = [
        fits.Column("NAME", f"{width}A", array=np.array(names)),
        fits.Column("BATCH", "J", array=np.array([i["batch"] for i in inputs], np.int32)),
        fits.Column("CTX_ID", "J", array=np.array([i["ctx_id"] for i in inputs], np.int32)),
        fits.Column("EXPTIME", "D", array=np.array([i["exptime"] for i in inputs], float)),
    ]
    hdu = fits.BinTableHDU.from_columns(cols, name="INPUTS")
    hdu.header["COMMENT"] = "CTX_ID k is bit k % 32 of context plane k // 32 (CON extension)"
    return hdu


def _wcs_header(st: MosaicStore):
    from tiledrizzle.inputs.output_wcs import wcs_from_header_string, wcs_to_header

    text = st.attrs.get("wcs")
    if not text:
        return None
    wcs = wcs_from_header_string(text, shape=st.meta.grid.shape)
    return wcs_to_header(wcs)


def export_fits(store, path, *, overwrite=False, max_bytes=DEFAULT_MAX_BYTES):
    """Write the mosaic in ``store`` (a ``MosaicStore`` or its path) to the FITS file ``path``.

    Extensions: SCI (img), WHT (wht), CON (context, int32; a 2-D image with
    one plane, else (planes, ny, nx)), VAR or VAR1..VARn (img2 arrays) and DQ
    when the mosaic has them, and an INPUTS table (name, batch, context id,
    exposure time). Every image extension carries the output WCS when the
    store has one. The primary header holds KERNEL, PIXFRAC, EXPTIME (total),
    NINPUTS, TDRZVER and more.

    The whole mosaic is read into memory, one array at a time: mosaics whose
    arrays exceed ``max_bytes`` are refused (``ValueError``). An existing
    ``path`` is refused (``FileExistsError``) unless ``overwrite``. The file is
    written to a temporary file in the same directory and renamed when
    complete. Returns ``path``.
    """
    from astropy.io import fits

    st = as_store(store)
    path = os.fspath(path)
    st.check_finished("exporting")
    exts = _extensions(st)
    nbytes = sum(int(st.group[name].nbytes) for _, name in exts)
    if nbytes > max_bytes:
        raise InputError(
            f"the mosaic's arrays are {_gib(nbytes)}, above max_bytes = {_gib(int(max_bytes))}; "
            "export_fits holds the output in memory (raise max_bytes, or read the Zarr "
            "store directly)"
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory")
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path!r} exists (pass overwrite=True to replace it)")
    wcs_header = _wcs_header(st)

    fd, tmp = temp_beside(path)
    os.close(fd)
    try:
        fits.PrimaryHDU(header=_primary_header(st)).writeto(tmp, overwrite=True)
        for extname, name in exts:
            header = fits.Header()
            if wcs_header is not None:
                header.extend(wcs_header)
            if name == "img":
                _unit_cards(header, st.attrs)
            data = _array_data(st, name)
            hdu = fits.ImageHDU(data=data, header=header, name=extname)
            if name == "ctx":
                hdu.header["COMMENT"] = (
                    "bit k of plane p: the input with context id 32 p + k (INPUTS table)"
                )
            _append(tmp, hdu)
            del data, hdu
        table = _inputs_table(st)
        if table is not None:
            _append(tmp, table)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _publish(tmp, path, overwrite)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def temp_beside(path):
    """A new, empty temporary file in the directory of ``path`` (mode from the umask)."""
    directory = os.path.dirname(os.path.abspath(path))
    for _ in range(100):
        tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            return os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file beside {path!r}")


def _append(filename, hdu):
    from astropy.io import fits

    with fits.open(filename, mode="append") as hdul:
        hdul.append(hdu)


def _publish(tmp, path, overwrite):
    """Move the finished temporary file to ``path`` (never replacing a file unless asked)."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic, and fails if ``path`` appeared meanwhile
    except FileExistsError:
        raise FileExistsError(f"{path!r} exists (pass overwrite=True to replace it)") from None
    except OSError:  # no hard links on this filesystem
        if os.path.lexists(path):
            raise FileExistsError(f"{path!r} exists (pass overwrite=True to replace it)") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _read_by_chunks(reader):
    """The whole array, read chunk by chunk (a damaged chunk is named)."""
    out = np.empty(reader.shape, dtype=reader.dtype)
    lead = (slice(None),) * (reader.ndim - 2)
    cy, cx = reader.chunks[-2:]
    for y0 in range(0, reader.shape[-2], cy):
        for x0 in range(0, reader.shape[-1], cx):
            checkpoint()
            sel = lead + (slice(y0, y0 + cy), slice(x0, x0 + cx))
            out[sel] = reader[sel]
    return out
