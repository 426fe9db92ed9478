"""Sample and variant lists in PLINK's formats (``--keep``, ``--remove``, ``--extract``,
``--exclude``).

Sample lists
------------
One sample per line, as PLINK 1.9 and 2 read them: ``FID IID`` (two columns), or ``IID``
alone (one column); further columns are ignored. A first line starting with ``#`` is a
PLINK 2 header (``#FID IID``, ``#IID``, ``#IID SID``…) naming the columns. Samples are
matched to the ``.fam`` by IID (as everywhere in kronlmm); where a line also gives an FID it
must be that sample's FID in the ``.fam``, otherwise the list is refused (PLINK would match
nothing for that line, silently).

Variant lists
-------------
One variant ID per line (the first whitespace-separated column; PLINK's default). Blank
lines are skipped. IDs that are not in the ``.bim`` are counted and logged, as PLINK does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._common import PathLike, check_exists, format_ids

__all__ = [
    "SampleList",
    "read_sample_list",
    "read_variant_list",
    "select_samples",
    "select_variants",
]

logger = logging.getLogger("kronlmm")


class SampleList:
    """Samples of a PLINK sample list (``--keep``/``--remove`` file).

    Attributes
    ----------
    iids : list of str
        The IIDs, in file order.
    fids : list of str or None
        The FIDs (``None`` for an IID-only list).
    source : str
        Where it was read from (for messages).

    Examples
    --------
    >>> from kronlmm.io import SampleList
    >>> keep = SampleList(["IND001", "IND007"], ["FAM001", "FAM007"])
    >>> keep
    SampleList(2 samples, with FIDs)
    """

    def __init__(
        self, iids: Sequence[str], fids: Sequence[str] | None = None, source: str = "sample list"
    ) -> None:
        self.iids = [str(i) for i in iids]
        self.fids = None if fids is None else [str(f) for f in fids]
        if self.fids is not None and len(self.fids) != len(self.iids):
            raise ValueError(f"{source}: {len(self.fids)} FIDs for {len(self.iids)} IIDs")
        self.source = source

    def __len__(self) -> int:
        return len(self.iids)

    def __repr__(self) -> str:
        kind = "with FIDs" if self.fids is not None else "IIDs only"
        return f"SampleList({len(self)} samples, {kind})"


def _tokens(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig") as fh:
        return [line.split() for line in fh if line.strip()]


def read_sample_list(path: PathLike) -> SampleList:
    """Read a PLINK sample list (``--keep``/``--remove`` format; see the module notes).

    Parameters
    ----------
    path : str or os.PathLike
        The list: ``FID IID`` or ``IID`` per line, optionally a PLINK 2 ``#`` header.

    Returns
    -------
    SampleList

    Raises
    ------
    InputFileNotFoundError
        (also a ValueError) if the file does not exist.
    ValueError
        If the header has no IID column or lines have different numbers of columns.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from kronlmm.io import read_sample_list
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "keep.txt")
    ...     with open(path, "w") as fh:
    ...         _ = fh.write("#FID\\tIID\\nFAM001\\tIND001\\nFAM007\\tIND007\\n")
    ...     keep = read_sample_list(path)
    >>> keep.iids, keep.fids
    (['IND001', 'IND007'], ['FAM001', 'FAM007'])
    """
    path = Path(path)
    check_exists(path, "sample list")
    source = f"sample list {str(path)!r}"
    rows = _tokens(path)
    if rows and rows[0][0].startswith("#"):
        header = [h.lstrip("#").upper() for h in rows[0]]
        rows = rows[1:]
        if "IID" not in header:
            raise ValueError(f"{source}: its header {header} has no IID column")
        iid_at = header.index("IID")
        fid_at = header.index("FID") if "FID" in header else None
    else:
        width = len(rows[0]) if rows else 2
        iid_at, fid_at = (0, None) if width == 1 else (1, 0)
    need = max(iid_at, fid_at or 0) + 1
    short = [i for i, row in enumerate(rows) if len(row) < need]
    if short:
        raise ValueError(
            f"{source}: line(s) {format_ids([i + 1 for i in short])} have fewer than {need} "
            "column(s); give 'FID IID' or 'IID' on every line"
        )
    iids = [row[iid_at] for row in rows]
    fids = None if fid_at is None else [row[fid_at] for row in rows]
    return SampleList(iids, fids, source)


def read_variant_list(path: PathLike) -> list[str]:
    """Read a PLINK variant list (``--extract``/``--exclude``): the first column of each line.

    Parameters
    ----------
    path : str or os.PathLike
        One variant ID per line (further columns ignored, blank lines skipped).

    Returns
    -------
    list of str

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from kronlmm.io import read_variant_list
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "snps.txt")
    ...     with open(path, "w") as fh:
    ...         _ = fh.write("rs1\\nrs7  extra column\\n\\nrs9\\n")
    ...     read_variant_list(path)
    ['rs1', 'rs7', 'rs9']
    """
    path = Path(path)
    check_exists(path, "variant list")
    return [row[0] for row in _tokens(path)]


def _as_sample_list(spec: SampleList | PathLike | Sequence[str]) -> SampleList:
    if isinstance(spec, SampleList):
        return spec
    if isinstance(spec, (str, Path)) or hasattr(spec, "__fspath__"):
        return read_sample_list(spec)
    return SampleList(list(spec), None, "sample list")


def select_samples(
    iids: NDArray[np.object_],
    fids: NDArray[np.object_],
    keep: SampleList | PathLike | Sequence[str] | None = None,
    remove: SampleList | PathLike | Sequence[str] | None = None,
) -> tuple[NDArray[np.intp], dict[str, int]]:
    """Positions of the samples kept by ``keep`` and ``remove`` (PLINK's ``--keep``/``--remove``).

    Parameters
    ----------
    iids, fids : numpy.ndarray
        The ``.fam``'s IIDs and FIDs.
    keep, remove : SampleList, path or sequence of IIDs, optional
        Samples to keep (all others are removed) and samples to remove.

    Returns
    -------
    positions : numpy.ndarray
        Kept ``.fam`` positions, in ``.fam`` order.
    counts : dict
        ``"removed_by_keep"`` and ``"removed_by_remove"`` (samples of the ``.fam``).

    Raises
    ------
    ValueError
        If a list gives an FID that differs from the ``.fam``'s for that IID.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.io import select_samples
    >>> iids = np.array(["a", "b", "c", "d"], dtype=object)
    >>> fids = np.array(["f1", "f1", "f2", "f2"], dtype=object)
    >>> positions, counts = select_samples(iids, fids, keep=["a", "c", "d", "x"], remove=["d"])
    >>> positions.tolist(), counts
    ([0, 2], {'removed_by_keep': 1, 'removed_by_remove': 1})
    """
    mask = np.ones(iids.size, dtype=bool)
    counts = {"removed_by_keep": 0, "removed_by_remove": 0}
    index = pd.Index(iids.astype(str))
    for name, spec in (("keep", keep), ("remove", remove)):
        if spec is None:
            continue
        lst = _as_sample_list(spec)
        where = index.get_indexer(pd.Index(lst.iids))
        if lst.fids is not None:
            found = where >= 0
            wrong = [
                f"{iid} (list: FID {fid}, .fam: FID {fids[pos]})"
                for iid, fid, pos in zip(
                    np.asarray(lst.iids)[found],
                    np.asarray(lst.fids)[found],
                    where[found],
                    strict=True,
                )
                if str(fids[pos]) != fid
            ]
            if wrong:
                raise ValueError(
                    f"--{name} {lst.source}: FID differs from the .fam for "
                    f"{format_ids(wrong, 3)}; samples are matched by IID, so give the "
                    ".fam's FID or an IID-only list"
                )
        unknown = int((where < 0).sum())
        if unknown:
            logger.info("--%s: %d listed sample(s) not in the .fam", name, unknown)
        listed = np.zeros(iids.size, dtype=bool)
        listed[where[where >= 0]] = True
        before = int(mask.sum())
        mask &= listed if name == "keep" else ~listed
        counts[f"removed_by_{name}"] = before - int(mask.sum())
    return np.flatnonzero(mask).astype(np.intp), counts


def select_variants(
    variant_ids: NDArray[np.object_],
    extract: PathLike | Sequence[str] | None = None,
    exclude: PathLike | Sequence[str] | None = None,
) -> tuple[NDArray[np.intp], dict[str, int]]:
    """Positions of the variants kept by ``extract`` and ``exclude`` (PLINK's meanings).

    Parameters
    ----------
    variant_ids : numpy.ndarray
        The ``.bim``'s variant IDs.
    extract, exclude : path or sequence of str, optional
        Variants to keep (all others are removed) and variants to remove.

    Returns
    -------
    positions : numpy.ndarray
        Kept ``.bim`` positions, in ``.bim`` order (a variant ID that occurs twice in the
        ``.bim`` is kept or removed at both positions).
    counts : dict
        ``"removed_by_extract"`` and ``"removed_by_exclude"``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.io import select_variants
    >>> ids = np.array(["rs1", "rs2", "rs3", "rs4"], dtype=object)
    >>> positions, counts = select_variants(ids, extract=["rs4", "rs2", "rs3"], exclude=["rs3"])
    >>> positions.tolist(), counts
    ([1, 3], {'removed_by_extract': 1, 'removed_by_exclude': 1})
    """
    mask = np.ones(variant_ids.size, dtype=bool)
    counts = {"removed_by_extract": 0, "removed_by_exclude": 0}
    ids = variant_ids.astype(str)
    for name, spec in (("extract", extract), ("exclude", exclude)):
        if spec is None:
            continue
        listed_ids = (
            read_variant_list(spec)
            if isinstance(spec, (str, Path)) or hasattr(spec, "__fspath__")
            else [str(v) for v in spec]
        )
        listed = np.isin(ids, np.asarray(listed_ids, dtype=str))
        unknown = len(set(listed_ids) - set(ids[listed]))
        if unknown:
            logger.info("--%s: %d listed variant ID(s) not in the .bim", name, unknown)
        before = int(mask.sum())
        mask &= listed if name == "extract" else ~listed
        counts[f"removed_by_{name}"] = before - int(mask.sum())
    return np.flatnonzero(mask).astype(np.intp), counts
