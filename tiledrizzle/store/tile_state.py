"""What one output tile holds: the store's layout for one chunk of every array."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TileState:
    """What one output tile holds: the store's layout for one chunk of every array.

    ``img``/``wht`` float32 (ny, nx); ``ctx`` int32 (planes, ny, nx); ``img2``
    float32 (k, ny, nx); ``dq`` uint32 (ny, nx) or None.
    """

    img: np.ndarray
    wht: np.ndarray
    ctx: np.ndarray
    img2: np.ndarray
    dq: np.ndarray | None

    @classmethod
    def blank(cls, shape, n_planes, n_img2, with_dq):
        """A tile that has received nothing, before its fill values: zeros everywhere
        (fresh zeroed pages cost nothing); ``reduce_tile(..., blank=True)`` fills it."""
        ny, nx = shape
        return cls(
            np.zeros((ny, nx), dtype=np.float32),
            np.zeros((ny, nx), dtype=np.float32),
            np.zeros((n_planes, ny, nx), dtype=np.int32),
            np.zeros((n_img2, ny, nx), dtype=np.float32),
            np.zeros((ny, nx), dtype=np.uint32) if with_dq else None,
        )


def copy_state(state: TileState) -> TileState:
    """A copy of every array of ``state``."""
    return TileState(
        state.img.copy(), state.wht.copy(), state.ctx.copy(), state.img2.copy(),
        None if state.dq is None else state.dq.copy(),
    )  # fmt: skip
