"""The Zarr v3 mosaic store: layout, metadata, crash-safe tile writes, a writer lock.

Layout of the group (every array chunked by tile)::

    img        float32 (ny, nx)           weighted mean, fill value where empty
    wht        float32 (ny, nx)           summed weight
    ctx        int32   (planes, ny, nx)   context bits, chunks (1, tile)
    img2/<k>   float32 (ny, nx)           squared-weight co-adds (when inputs have data2)
    dq         uint32  (ny, nx)           OR of input DQ (when inputs have DQ)
    tile_batch int32   (tiles_y, tiles_x) last batch committed to each tile
    tile_pending int32 (tiles_y, tiles_x) batch whose write to the tile has begun
    tile_prior int32   (tiles_y, tiles_x) the batch the tile held when that write began
    _backup/*                             a tile's previous content while it is rewritten

Group attribute ``tiledrizzle`` holds the metadata: grid, kernel, pixfrac,
fill values, total exposure time, next context id, the output WCS header, the
inputs with their parameters and the batches. Tiles that receive nothing are
never written, so their chunks stay absent on disk.

A tile is written once per batch by ``write_tile``: its previous content (if
any) is saved to ``_backup`` and the tile marked pending before the new content
goes in, and the tile marked committed after. A batch interrupted anywhere can
therefore be rerun: committed tiles are skipped and a half-written tile is
rebuilt from its backup, so a resumed mosaic equals an uninterrupted one. Or it
can be undone (``abort_batch``): tiles it wrote get their backups back (or become
blank again), and the layout and metadata return to what they were.

Structural changes are complete or absent: a new store is built under a
temporary name beside its path and renamed into place; arrays a batch adds are
recorded in the metadata only once they exist, and arrays that exist without a
record (a run killed in between) are made again. Zarr writes each metadata
document and chunk to a temporary file and renames it. A tile whose marker is
missing while its data is on disk is corruption, not a blank tile.
"""

from __future__ import annotations

import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import zarr

from tiledrizzle.core.errors import InputError, InputTypeError, StoreError
from tiledrizzle.core.grid import TileGrid
from tiledrizzle.store.lock import WriterLock
from tiledrizzle.store.tile_state import TileState

FORMAT = "tiledrizzle-mosaic/2"
MARKERS = ("tile_batch", "tile_pending", "tile_prior")


def _fill_from_attr(value):
    return None if value is None else np.float32(value)


@dataclass
class StoreMeta:
    """The parameters fixed when a store is created (must match on every later batch)."""

    grid: TileGrid
    kernel: str
    pixfrac: float
    fillval: float | None  # None: NaN
    fillval2: float | None

    def to_attrs(self):
        return {
            "grid": self.grid.to_attrs(),
            "kernel": self.kernel,
            "pixfrac": self.pixfrac,
            "fillval": None if self.fillval is None else float(self.fillval),
            "fillval2": None if self.fillval2 is None else float(self.fillval2),
        }

    @classmethod
    def from_attrs(cls, a):
        g = a["grid"]
        return cls(
            TileGrid(tuple(g["shape"]), tuple(g["tile_shape"])),
            a["kernel"],
            float(a["pixfrac"]),
            _fill_from_attr(a["fillval"]),
            _fill_from_attr(a["fillval2"]),
        )


class MosaicStore:
    """A mosaic on disk (any path or URL zarr can open)."""

    def __init__(self, path, group, meta: StoreMeta):
        self.path = str(path)
        self.group = group
        self.meta = meta
        self._handles = {}

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def open(cls, path, mode="r"):
        """Open an existing store; ``StoreError`` when it is missing or not a mosaic."""
        try:
            group = zarr.open_group(str(path), mode=mode)
        except FileNotFoundError:
            raise StoreError(f"no mosaic store at {str(path)!r}") from None
        except Exception as exc:  # zarr raises many types for unreadable metadata
            raise StoreError(f"cannot open the mosaic store {str(path)!r}: {exc}") from exc
        attrs = group.attrs.asdict().get("tiledrizzle")
        if not isinstance(attrs, dict) or attrs.get("format") != FORMAT:
            raise StoreError(f"{str(path)!r} is not a tiledrizzle mosaic store (no valid metadata)")
        try:
            meta = StoreMeta.from_attrs(attrs)
            _check_layout(group, attrs, meta.grid)
        except (KeyError, TypeError, ValueError) as exc:
            what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise StoreError(
                f"corrupted metadata in the mosaic store {str(path)!r}: {what}"
            ) from None
        return cls(path, group, meta)

    @classmethod
    def exists(cls, path) -> bool:
        """Whether ``path`` holds a Zarr group (readable or not: a damaged one counts)."""
        local = str(path).removeprefix("file://")
        if "://" not in local and os.path.exists(os.path.join(local, "zarr.json")):
            return True
        try:
            zarr.open_group(str(path), mode="r")
        except Exception:
            return False
        return True

    @classmethod
    def create(cls, path, meta: StoreMeta, wcs_header=None):
        """Create a new, empty store (the path must not hold one).

        On a local path the store is built under a temporary name beside it and
        renamed into place, so a store is either complete or absent.
        """
        local = _local_path(path)
        if local is None:
            group = cls._build(str(path), meta, wcs_header)
            return cls(path, group, meta)
        if os.path.lexists(local) and not (os.path.isdir(local) and not os.listdir(local)):
            raise StoreError(f"{str(path)!r} already exists")
        parent, base = os.path.split(os.path.abspath(local))
        _remove_abandoned_builds(parent, base)
        building = os.path.join(parent, f".{base}.creating-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            cls._build(building, meta, wcs_header)
            os.replace(building, local)  # an empty directory named by the user is replaced
        except OSError as exc:
            shutil.rmtree(building, ignore_errors=True)
            if os.path.lexists(local) and os.listdir(local):
                raise StoreError(f"{str(path)!r} already exists") from None
            raise StoreError(f"cannot create the mosaic store {str(path)!r}: {exc}") from None
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        return cls(path, zarr.open_group(local, mode="r+"), meta)

    @staticmethod
    def _build(path, meta: StoreMeta, wcs_header):
        try:
            group = zarr.open_group(path, mode="w-")
        except (FileExistsError, zarr.errors.ContainsGroupError, zarr.errors.ContainsArrayError):
            raise StoreError(f"{path!r} already exists") from None
        grid = meta.grid
        nan = float("nan")
        fill = nan if meta.fillval is None else float(meta.fillval)
        chunks = grid.tile_shape
        group.create_array("img", shape=grid.shape, chunks=chunks, dtype="f4", fill_value=fill,
                           compressors=_codec())  # fmt: skip
        group.create_array("wht", shape=grid.shape, chunks=chunks, dtype="f4", fill_value=0.0,
                           compressors=_codec())  # fmt: skip
        group.create_array(
            "ctx", shape=(1,) + grid.shape, chunks=(1,) + chunks, dtype="i4", fill_value=0,
            compressors=_codec(),
        )  # fmt: skip
        tiles = (grid.n_tiles_y, grid.n_tiles_x)
        for name in MARKERS:
            group.create_array(name, shape=tiles, chunks=(1, 1), dtype="i4", fill_value=0)
        attrs = {
            "format": FORMAT,
            "store_id": uuid.uuid4().hex,
            **meta.to_attrs(),
            "total_exptime": 0.0,
            "next_ctx_id": 0,
            "n_img2": 0,
            "has_dq": False,
            "wcs": wcs_header,
            "inputs": [],
            "batches": [],
        }
        group.attrs["tiledrizzle"] = attrs
        return group

    # -- metadata ----------------------------------------------------------------------

    @property
    def attrs(self) -> dict:
        return self.group.attrs.asdict()["tiledrizzle"]

    def update_attrs(self, **changes):
        a = self.attrs
        a.update(changes)
        self.group.attrs["tiledrizzle"] = a

    def wcs(self):
        """The output WCS kept with the mosaic (astropy WCS with its array shape), or None."""
        header = self.attrs.get("wcs")
        if header is None:
            return None
        from tiledrizzle.inputs.output_wcs import wcs_from_header_string

        return wcs_from_header_string(header)

    def check_matches(self, meta: StoreMeta):
        """Refuse (``StoreError``, nothing written) a batch with other fixed parameters."""
        mine = self.meta
        for what, a, b in (
            ("grid shape", mine.grid.shape, meta.grid.shape),
            ("tile shape", mine.grid.tile_shape, meta.grid.tile_shape),
            ("kernel", mine.kernel, meta.kernel),
            ("pixfrac", mine.pixfrac, meta.pixfrac),
            ("fillval", _fill_text(mine.fillval), _fill_text(meta.fillval)),
            ("fillval2", _fill_text(mine.fillval2), _fill_text(meta.fillval2)),
        ):
            if a != b:
                raise StoreError(
                    f"the store {self.path!r} was made with {what} {a!r}, not {b!r}; "
                    "use a new store for a different grid, tiling, kernel or fill value"
                )

    def prepare_layout(self, n_planes, n_img2, with_dq):
        """Grow the context planes; add ``img2/<k>`` and ``dq`` arrays when first needed."""
        self._handles.clear()
        grid = self.meta.grid
        ctx = self.group["ctx"]
        if ctx.shape[0] < n_planes:
            ctx.resize((n_planes,) + grid.shape)
        a = self.attrs
        if n_img2 and not a["n_img2"]:
            fill2 = float("nan") if self.meta.fillval2 is None else float(self.meta.fillval2)
            for k in range(n_img2):  # overwrite: left without a record by a killed run
                self.group.create_array(
                    f"img2/{k}", shape=grid.shape, chunks=grid.tile_shape, dtype="f4",
                    fill_value=fill2, compressors=_codec(), overwrite=True,
                )  # fmt: skip
            self.update_attrs(n_img2=n_img2)
        if with_dq and not a["has_dq"]:
            self.group.create_array(
                "dq", shape=grid.shape, chunks=grid.tile_shape, dtype="u4", fill_value=0,
                compressors=_codec(), overwrite=True,
            )  # fmt: skip
            self.update_attrs(has_dq=True)

    def layout(self) -> dict:
        """What ``prepare_layout`` may change: context planes, variance arrays, DQ."""
        a = self.attrs
        return {"ctx_planes": int(self.group["ctx"].shape[0]), "n_img2": a["n_img2"],
                "has_dq": a["has_dq"]}  # fmt: skip

    def restore_layout(self, layout):
        """Undo ``prepare_layout`` back to ``layout`` (``layout()`` taken before it)."""
        self._handles.clear()
        grid = self.meta.grid
        ctx = self.group["ctx"]
        if ctx.shape[0] > layout["ctx_planes"]:
            ctx.resize((layout["ctx_planes"],) + grid.shape)
        a = self.attrs
        if a["n_img2"] and not layout["n_img2"]:
            self.update_attrs(n_img2=0)  # the record first: an unrecorded array is debris
            for k in range(a["n_img2"]):
                _delete(self.group, f"img2/{k}")
        if a["has_dq"] and not layout["has_dq"]:
            self.update_attrs(has_dq=False)
            _delete(self.group, "dq")

    def ensure_backup(self):
        """Give every data array a ``_backup`` twin (same shape), used while tiles are rewritten."""
        self._handles.clear()
        for name in self._data_arrays():
            src = self.group[name]
            key = f"_backup/{name}"
            if key not in self.group:
                self.group.create_array(
                    key, shape=src.shape, chunks=src.chunks, dtype=src.dtype,
                    fill_value=src.fill_value, compressors=src.compressors,
                )  # fmt: skip
            elif self.group[key].shape != src.shape:
                self.group[key].resize(src.shape)

    def array_names(self) -> list:
        """The mosaic's data arrays: img, wht, ctx, img2/<k>, dq (as the store has them)."""
        return self._data_arrays()

    def _data_arrays(self):
        a = self.attrs
        names = ["img", "wht", "ctx"] + [f"img2/{k}" for k in range(a["n_img2"])]
        return names + (["dq"] if a["has_dq"] else [])

    def tile_batches(self) -> np.ndarray:
        """Per tile, the last batch committed to it (0: never written)."""
        return self._markers("tile_batch")

    def tile_pendings(self) -> np.ndarray:
        """Per tile, the batch whose write to it has begun (0: none)."""
        return self._markers("tile_pending")

    def tiles_written(self) -> int:
        """How many tiles hold a committed batch (counted from the marker chunks on disk,
        which exist only for written tiles, without reading them)."""
        local = _local_path(self.path)
        if local is None:
            return int((self.tile_batches() > 0).sum())
        return len(_chunk_files(os.path.join(local, "tile_batch", "c")))

    def _markers(self, name):
        """The marker array ``name`` (one chunk per tile). On a local store only the chunks
        on disk are read (a marker equal to 0 has none), so the cost follows the tiles
        written, not the grid."""
        array = self._array(name)
        local = _local_path(self.path)
        try:
            if local is None:
                return array[...]
            out = np.zeros(array.shape, dtype=array.dtype)
            tiles = _chunk_files(os.path.join(local, name, "c"))
            got = _in_parallel([partial(array.__getitem__, t) for t in tiles]) if tiles else []
            for t, v in zip(tiles, got, strict=True):
                out[t] = v
            return out
        except Exception as exc:  # zarr raises codec and I/O errors of many types
            raise StoreError(
                f"corrupted tile markers {name!r} in the mosaic store {self.path!r}: {exc}"
            ) from None

    def check_markers(self, batch):
        """``check_marker`` for every tile at once (one listing of the weight chunks), for a
        run of ``batch`` (new or resumed)."""
        local = _local_path(self.path)
        if local is None:
            return
        committed, pending = self.tile_batches(), self.tile_pendings()
        for tile in _chunk_files(os.path.join(local, "wht", "c")):
            self.check_marker(tile, (int(committed[tile]), int(pending[tile])), batch)

    def check_marker(self, tile, marks, batch):
        """Refuse a tile marked never written whose data is on disk (a lost marker). A
        tile ``batch`` began to write (pending) may hold data before its commit mark."""
        committed, pending = marks
        local = _local_path(self.path)
        if committed != 0 or pending == batch or local is None:
            return
        ty, tx = tile
        if os.path.exists(os.path.join(local, "wht", "c", str(ty), str(tx))):
            raise StoreError(
                f"the mosaic store {self.path!r} is damaged: tile {tuple(tile)} holds data "
                "but its marker 'tile_batch' is missing; restore the store from a copy"
            )

    # -- tiles -------------------------------------------------------------------------

    def _array(self, name):
        """The zarr array ``name`` (handles are kept: opening one re-reads its metadata)."""
        array = self._handles.get(name)
        if array is None:
            array = self._handles[name] = self.group[name]
        return array

    def _read_state(self, prefix, tile, n_img2, with_dq) -> TileState:
        rows, cols = self.meta.grid.slices(tile)
        reads = [(f"{prefix}img", (rows, cols)), (f"{prefix}wht", (rows, cols)),
                 (f"{prefix}ctx", (slice(None), rows, cols))]  # fmt: skip
        reads += [(f"{prefix}img2/{k}", (rows, cols)) for k in range(n_img2)]
        if with_dq:
            reads.append((f"{prefix}dq", (rows, cols)))
        got = _in_parallel([partial(self._read_named, n, sel) for n, sel in reads])
        ny, nx = self.meta.grid.extent(tile)
        img2 = got[3 : 3 + n_img2]
        return TileState(
            got[0], got[1], got[2],
            np.stack(img2) if img2 else np.zeros((0, ny, nx), np.float32),
            got[3 + n_img2] if with_dq else None,
        )  # fmt: skip

    def _read_named(self, name, selection):
        return ArrayReader(self, name, self._array(name))[selection]

    def reader(self, name):
        """Array ``name`` for reading: errors name the array and the chunks read."""
        return ArrayReader(self, name, self._array(name))

    def check_finished(self, doing):
        """Refuse (``StoreError``) to read a store whose last batch is unfinished: its tiles
        would mix two batches. ``doing`` says what was asked, e.g. 'exporting'."""
        running = [b["id"] for b in self.attrs["batches"] if b.get("status") != "complete"]
        if running:
            raise StoreError(
                f"the store {self.path!r} holds an unfinished batch {running[-1]}; finish it "
                f"(resume=True) or undo it (abort_batch(store)) before {doing}"
            )

    def _write_state(self, prefix, tile, state: TileState):
        rows, cols = self.meta.grid.slices(tile)
        writes = [(f"{prefix}img", (rows, cols), state.img),
                  (f"{prefix}wht", (rows, cols), state.wht),
                  (f"{prefix}ctx", (slice(None), rows, cols), state.ctx)]  # fmt: skip
        writes += [(f"{prefix}img2/{k}", (rows, cols), v) for k, v in enumerate(state.img2)]
        if state.dq is not None:
            writes.append((f"{prefix}dq", (rows, cols), state.dq))
        _in_parallel([partial(self._array(n).__setitem__, sel, v) for n, sel, v in writes])

    def read_tile_before(self, tile, batch, n_img2, with_dq, marks=None) -> TileState:
        """The tile as it was before ``batch`` wrote to it (from the backup if interrupted).

        ``marks`` is ``tile_marks(tile)`` when the caller has just read it. A tile
        never written comes back as ``TileState.blank``: zeros, fill values not in.
        """
        committed, pending = self.tile_marks(tile) if marks is None else marks
        self.check_marker(tile, (committed, pending), batch)
        if committed == 0:  # never written: a blank tile (see reduce.TileState.blank)
            n_planes = self._array("ctx").shape[0]
            return TileState.blank(self.meta.grid.extent(tile), n_planes, n_img2, with_dq)
        prefix = "_backup/" if pending == batch else ""
        return self._read_state(prefix, tile, n_img2, with_dq)

    def write_tile(self, tile, before: TileState, after: TileState, batch, marks=None):
        """Replace the tile's content by ``after`` for ``batch``, crash-safely (see module).

        Before the tile's data is touched it is marked pending for ``batch``, with the
        batch it held (``tile_prior``) and, when it held one, its content in the backup.
        A tile never committed needs no backup (``read_tile_before`` gives a blank tile
        for it whatever its chunks hold); its pending mark tells a half-written new tile
        from a tile whose marker was lost, and ``abort_tiles`` blanks it.
        """
        ty, tx = tile
        committed, pending = self.tile_marks(tile) if marks is None else marks
        if committed == batch:
            return
        if pending != batch:
            if committed != 0:
                self._write_state("_backup/", tile, before)
            self._array("tile_prior")[ty, tx] = committed
            self._array("tile_pending")[ty, tx] = batch
        self._write_state("", tile, after)
        self._array("tile_batch")[ty, tx] = batch

    def tile_marks(self, tile):
        """``(committed batch, pending batch)`` of ``tile``."""
        ty, tx = tile
        try:
            got = _in_parallel([partial(self._array(n).__getitem__, (ty, tx))
                                for n in ("tile_batch", "tile_pending")])  # fmt: skip
        except Exception as exc:  # zarr raises codec and I/O errors of many types
            raise StoreError(
                f"corrupted marker of tile {(ty, tx)} in the mosaic store {self.path!r}: {exc}"
            ) from None
        return int(got[0]), int(got[1])

    # -- undoing a batch ------------------------------------------------------------------

    def abort_tiles(self, batch):
        """Put back every tile ``batch`` wrote: its backup where it held data before,
        blank where it did not. Returns the number of tiles put back."""
        committed, pending = self.tile_batches(), self.tile_pendings()
        prior = self._markers("tile_prior")
        a = self.attrs
        n_img2, with_dq = a["n_img2"], a["has_dq"]
        undone = 0
        for ty, tx in zip(*np.nonzero((committed == batch) | (pending == batch)), strict=True):
            tile = (int(ty), int(tx))
            before = int(prior[tile]) if pending[tile] == batch else 0
            if before:  # it held data before: that is in the backup
                state = self._read_state("_backup/", tile, n_img2, with_dq)
            else:  # blank before this batch
                state = self._blank_state(tile, n_img2, with_dq)
            self._write_state("", tile, state)
            self._array("tile_batch")[tile] = before
            self._array("tile_pending")[tile] = 0
            undone += 1
        return undone

    def _blank_state(self, tile, n_img2, with_dq):
        ny, nx = self.meta.grid.extent(tile)
        fill = np.nan if self.meta.fillval is None else self.meta.fillval
        fill2 = np.nan if self.meta.fillval2 is None else self.meta.fillval2
        return TileState(
            np.full((ny, nx), fill, np.float32), np.zeros((ny, nx), np.float32),
            np.zeros((self._array("ctx").shape[0], ny, nx), np.int32),
            np.full((n_img2, ny, nx), fill2, np.float32),
            np.zeros((ny, nx), np.uint32) if with_dq else None,
        )  # fmt: skip

    # -- lock ---------------------------------------------------------------------------

    def acquire_lock(self):
        """Take the writer lock (``tiledrizzle.store.lock``)."""
        WriterLock(self.path).acquire()

    def release_lock(self):
        WriterLock(self.path).release()


class ArrayReader:
    """A store array for reading (``shape``, ``dtype``, ``chunks``, indexing) whose errors
    are ``StoreError``s naming the array and the chunks the read touched: a damaged
    chunk is one clear line, not a codec traceback."""

    def __init__(self, store, name, array):
        self.store, self.name, self.array = store, name, array
        self.shape, self.dtype, self.chunks = array.shape, array.dtype, array.chunks
        self.ndim = len(array.shape)

    def __getitem__(self, selection):
        try:
            return self.array[selection]
        except Exception as exc:  # zarr and its codecs raise errors of many types
            where, exc = self._damaged_chunk(selection, exc)
            raise StoreError(
                f"cannot read the array {self.name!r} of the mosaic store "
                f"{self.store.path!r} ({where}): {type(exc).__name__}: {exc}"
            ) from None

    def _chunk_ranges(self, selection):
        if selection is Ellipsis:
            selection = ()
        sel = selection if isinstance(selection, tuple) else (selection,)
        sel = sel + (slice(None),) * (self.ndim - len(sel))
        ranges = []
        for s, n, c in zip(sel, self.shape, self.chunks, strict=False):
            if isinstance(s, slice):
                start, stop, _ = s.indices(n)
                ranges.append(range(start // c, max(start, stop - 1) // c + 1))
            else:
                ranges.append(range(int(s) // c, int(s) // c + 1))
        return ranges

    def _damaged_chunk(self, selection, exc):
        """``(text naming the first unreadable chunk, its error)``: the chunks a failed
        read touched are read one by one (only on this error path)."""
        import itertools

        ranges = self._chunk_ranges(selection)
        if all(len(r) == 1 for r in ranges):
            return "chunk (" + ", ".join(str(r[0]) for r in ranges) + ")", exc
        for index in itertools.product(*ranges):
            chunk = tuple(
                slice(i * c, (i + 1) * c) for i, c in zip(index, self.chunks, strict=True)
            )
            try:
                self.array[chunk]
            except Exception as one:  # the same kinds as above
                return "chunk (" + ", ".join(map(str, index)) + ")", one
        return "chunks (" + ", ".join(f"{r[0]}..{r[-1]}" for r in ranges) + ")", exc


def _codec():
    """Tile compression: Blosc LZ4 with byte shuffle. Several times faster than zarr's
    default Zstd and it releases the GIL, so reducers encode while kernels run."""
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


_IO_POOL = {}  # pid -> thread pool (made after a fork, never inherited)


def _in_parallel(calls):
    """Run the zarr reads/writes ``calls`` concurrently (their encoding and file I/O
    overlap); returns their results in order."""
    if len(calls) == 1:
        return [calls[0]()]
    pool = _IO_POOL.get(os.getpid())
    if pool is None:
        pool = _IO_POOL.setdefault(os.getpid(), ThreadPoolExecutor(8, "tiledrizzle-io"))
    return [f.result() for f in [pool.submit(c) for c in calls]]


def _fill_text(value):
    """A fill value as compared between batches (None and NaN both mean NaN)."""
    return "NaN" if value is None or np.isnan(value) else repr(float(value))


def _check_layout(group, attrs, grid):
    """Raise KeyError/TypeError/ValueError where the store's metadata or arrays are damaged."""

    def need(key, kinds, ok=lambda v: True, what="invalid"):
        value = attrs[key]
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise InputTypeError(f"{key!r} is {value!r}")
        if not ok(value):
            raise InputError(f"{key!r} is {what}: {value!r}")
        return value

    need("store_id", (str,))
    need("total_exptime", (int, float), lambda v: np.isfinite(v) and v >= 0, "not >= 0")
    need("next_ctx_id", (int,), lambda v: v >= 0, "negative")
    n_img2 = need("n_img2", (int,), lambda v: v >= 0, "negative")
    has_dq = need("has_dq", (bool,))
    need("inputs", (list,))
    need("batches", (list,))
    if attrs.get("wcs") is not None and not isinstance(attrs["wcs"], str):
        raise InputTypeError(f"'wcs' is {attrs['wcs']!r}")
    tiles = (grid.n_tiles_y, grid.n_tiles_x)
    shapes = {"img": grid.shape, "wht": grid.shape, **{name: tiles for name in MARKERS}}
    shapes.update({f"img2/{k}": grid.shape for k in range(n_img2)})
    if has_dq:
        shapes["dq"] = grid.shape
    shapes["ctx"] = grid.shape  # (planes,) + grid shape
    for name, shape in shapes.items():
        try:
            got = tuple(group[name].shape)
        except KeyError:
            raise InputError(f"the array {name!r} is missing") from None
        if (got[1:] if name == "ctx" else got) != tuple(shape):
            raise InputError(f"the array {name!r} has shape {got}, expected {shape}")


def _local_path(path):
    """The filesystem path of a local store, or None for a URL (object stores)."""
    text = str(path).removeprefix("file://")
    return None if "://" in text else text


def _remove_abandoned_builds(parent, base):
    """Remove stores left half-built beside ``base`` by processes of this host now gone."""
    prefix = f".{base}.creating-"
    try:
        names = [n for n in os.listdir(parent) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        try:
            pid = int(name[len(prefix) :].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
        except (ValueError, PermissionError):
            continue


def _delete(group, name):
    try:
        del group[name]
    except KeyError:
        pass


def _chunk_files(root):
    """``[(ty, tx), ...]`` of the 2-D chunks stored under ``root`` (``<array>/c``)."""
    out = []
    for row in _listdir(root):
        for col in _listdir(os.path.join(root, row)):
            if row.isdigit() and col.isdigit():
                out.append((int(row), int(col)))
    return out


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []
