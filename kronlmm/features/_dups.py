"""Duplicate spots: limma's ``unwrapdups`` layout.

With ``ndups`` spots per gene at distance ``spacing`` (in rows), spot row
``g·ndups·spacing + d·spacing + s`` (gene group g, duplicate d, offset s) becomes gene row
``g·spacing + s``, and its value on array j goes to column ``j·ndups + d``. The design is
repeated accordingly (``design ⊗ 1_ndups``) and the duplicates of one array form a block.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["check_dups", "unwrap_dups", "unwrap_names"]


def check_dups(nspots: int, ndups: int, spacing: int) -> None:
    """ValueError unless ``nspots`` splits into groups of ``ndups`` × ``spacing`` rows."""
    for name, value in (("ndups", ndups), ("spacing", spacing)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if nspots % (ndups * spacing):
        raise ValueError(
            f"ndups={ndups} and spacing={spacing} need the number of rows ({nspots}) to be "
            f"a multiple of ndups × spacing = {ndups * spacing}: check the layout of the "
            "duplicate spots"
        )


def unwrap_dups(M: NDArray[Any], ndups: int, spacing: int) -> NDArray[Any]:
    """Spots × arrays → genes × (arrays · ndups)."""
    if ndups == 1:
        return M
    nspots, narrays = M.shape
    ngroups = nspots // (ndups * spacing)
    out = M.reshape(ngroups, ndups, spacing, narrays).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(out.reshape(ngroups * spacing, narrays * ndups))


def unwrap_names(names: list[str], ndups: int, spacing: int) -> list[str]:
    """The name of each gene: that of its first spot."""
    if ndups == 1:
        return names
    ngroups = len(names) // (ndups * spacing)
    return [names[g * ndups * spacing + s] for g in range(ngroups) for s in range(spacing)]
