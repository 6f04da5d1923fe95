"""The output grid cut into tiles: tile index <-> array slices.

A tile is one chunk of every output array in the store. Tiles are numbered
``(ty, tx)`` in row-major order; edge tiles are smaller when the tile shape
does not divide the output shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from tiledrizzle.core.errors import InputError


def positive_pair(value, name):
    """``(ny, nx)`` from a pair of positive integers; ValueError naming ``name`` otherwise."""
    try:
        ny, nx = (int(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"'{name}' must be a pair of positive integers, got {value!r}.") from None
    if ny <= 0 or nx <= 0 or (ny, nx) != tuple(value):
        raise InputError(f"'{name}' must be a pair of positive integers, got {value!r}.")
    return ny, nx


@dataclass(frozen=True)
class TileGrid:
    """An output of ``shape`` (ny, nx) cut into tiles of ``tile_shape`` (ty, tx)."""

    shape: tuple[int, int]
    tile_shape: tuple[int, int]

    def __post_init__(self):
        object.__setattr__(self, "shape", positive_pair(self.shape, "out_shape"))
        object.__setattr__(self, "tile_shape", positive_pair(self.tile_shape, "tile_shape"))

    @property
    def n_tiles_y(self) -> int:
        return -(-self.shape[0] // self.tile_shape[0])

    @property
    def n_tiles_x(self) -> int:
        return -(-self.shape[1] // self.tile_shape[1])

    @property
    def n_tiles(self) -> int:
        return self.n_tiles_y * self.n_tiles_x

    def tiles(self):
        """All tile indices ``(ty, tx)`` in row-major order."""
        return [(ty, tx) for ty in range(self.n_tiles_y) for tx in range(self.n_tiles_x)]

    def origin(self, tile) -> tuple[int, int]:
        """Output pixel ``(y0, x0)`` of the tile's first pixel."""
        ty, tx = tile
        return ty * self.tile_shape[0], tx * self.tile_shape[1]

    def extent(self, tile) -> tuple[int, int]:
        """Shape ``(ny, nx)`` of the tile (smaller at the grid's far edges)."""
        y0, x0 = self.origin(tile)
        return (
            min(self.tile_shape[0], self.shape[0] - y0),
            min(self.tile_shape[1], self.shape[1] - x0),
        )

    def slices(self, tile) -> tuple[slice, slice]:
        """The tile's ``(rows, cols)`` slices into the output arrays."""
        y0, x0 = self.origin(tile)
        ny, nx = self.extent(tile)
        return slice(y0, y0 + ny), slice(x0, x0 + nx)

    def tiles_in_box(self, y_lo, y_hi, x_lo, x_hi):
        """Tile index ranges ``(ty_range, tx_range)`` covering the inclusive pixel box.

        The box is clipped to the grid; an empty or fully outside box gives empty ranges.
        """
        y_lo, x_lo = max(y_lo, 0), max(x_lo, 0)
        y_hi, x_hi = min(y_hi, self.shape[0] - 1), min(x_hi, self.shape[1] - 1)
        if y_lo > y_hi or x_lo > x_hi:
            return range(0), range(0)
        th, tw = self.tile_shape
        return range(y_lo // th, y_hi // th + 1), range(x_lo // tw, x_hi // tw + 1)

    def to_attrs(self) -> dict:
        return {"shape": list(self.shape), "tile_shape": list(self.tile_shape)}
