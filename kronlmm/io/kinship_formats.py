"""Kinship files of other tools: GEMMA, GCTA and PLINK, read and written by their rules.

==================  ======================================  =====================================
format              files                                   layout
==================  ======================================  =====================================
GEMMA (``-gk``)     ``P.cXX.txt`` (centred) or ``P.sXX.txt``  text, n lines of n values (tab or
                    (standardised)                          space separated), no IDs: rows are
                                                            the samples of the ``.fam`` in order
GCTA (``--make-     ``P.grm.bin``, ``P.grm.N.bin``,          binary little-endian float32 lower
grm``)              ``P.grm.id``                            triangle with the diagonal, row by
                                                            row (``K[0,0]; K[1,0], K[1,1]; …``);
                                                            ``.N.bin`` the same layout of
                                                            variant counts; ``.id``: FID IID
PLINK text          ``P.rel`` + ``P.rel.id``                ``square`` (n lines of n values),
(``--make-rel``)                                            ``square0`` (upper triangle written
                                                            as 0) or ``triangle`` (line i holds
                                                            ``K[i,0..i]``)
PLINK binary        ``P.rel.bin`` + ``P.rel.id``            little-endian float64 (``bin``) or
(``--make-rel                                               float32 (``bin4``), square,
bin|bin4``)                                                 square0 or triangle as above
==================  ======================================  =====================================

The format is recognised by the file name (:func:`kinship_format`); square or triangle and
the precision of a binary file by its size, which the number of IDs fixes. ID files
(``.rel.id``, ``.grm.id``) hold ``FID IID`` per line, or PLINK 2's ``#FID IID`` /
``#IID`` header and columns; the IID is the sample ID. Binary files are read as arrays
(``numpy.fromfile``), never parsed as text.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ._common import PathLike, check_exists
from .atomic import atomic_path
from .kinship import check_kinship
from .text_files import EXACT_FLOAT_PARSING

__all__ = [
    "KinshipFormat",
    "kinship_format",
    "read_gemma_kinship",
    "read_gcta_grm",
    "read_plink_rel",
    "write_gemma_kinship",
    "write_gcta_grm",
    "write_plink_rel",
    "read_id_file",
]

KinshipFormat = Literal["gemma", "gcta", "plink-rel", "plink-rel-bin", "npz", "table"]
Shape = Literal["square", "triangle"]


def kinship_format(path: PathLike) -> KinshipFormat:
    """The kinship format a file name stands for.

    ``*.cXX.txt``/``*.sXX.txt`` → ``"gemma"``; ``*.grm.bin``, ``*.grm.N.bin`` or
    ``*.grm.id`` → ``"gcta"``; ``*.rel`` → ``"plink-rel"``; ``*.rel.bin`` →
    ``"plink-rel-bin"``; ``*.npz`` → ``"npz"``; anything else → ``"table"`` (kronlmm's
    ID-labelled matrix, see :mod:`kronlmm.io.kinship_file`). Case-insensitive.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str

    Examples
    --------
    >>> from kronlmm.io import kinship_format
    >>> [kinship_format(p) for p in ["out/cohort.cXX.txt", "cohort.grm.bin", "cohort.rel",
    ...                              "cohort.rel.bin", "kin.npz", "kin.tsv"]]
    ['gemma', 'gcta', 'plink-rel', 'plink-rel-bin', 'npz', 'table']
    """
    name = Path(path).name.lower()
    if name.endswith((".cxx.txt", ".sxx.txt")):
        return "gemma"
    if name.endswith((".grm.bin", ".grm.n.bin", ".grm.id")):
        return "gcta"
    if name.endswith(".rel.bin"):
        return "plink-rel-bin"
    if name.endswith(".rel"):
        return "plink-rel"
    if name.endswith(".npz"):
        return "npz"
    return "table"


def _gcta_prefix(path: Path) -> Path:
    name = path.name
    for suffix in (".grm.bin", ".grm.N.bin", ".grm.id"):
        if name.lower().endswith(suffix.lower()):
            return path.with_name(name[: -len(suffix)])
    return path


def read_id_file(path: PathLike) -> tuple[NDArray[np.object_], NDArray[np.object_] | None]:
    """Sample IDs of a PLINK/GCTA ID file (``.rel.id``, ``.grm.id``).

    Parameters
    ----------
    path : str or os.PathLike
        ``FID IID`` per line (PLINK 1.9, GCTA), or a PLINK 2 header line ``#FID IID`` or
        ``#IID`` naming the columns.

    Returns
    -------
    iids : numpy.ndarray of str
    fids : numpy.ndarray of str or None
        ``None`` when the file has IIDs only.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from kronlmm.io import read_id_file
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "k.rel.id")
    ...     with open(path, "w") as fh:
    ...         _ = fh.write("#FID\\tIID\\nF1\\tI1\\nF2\\tI2\\n")
    ...     iids, fids = read_id_file(path)
    >>> iids.tolist(), fids.tolist()
    (['I1', 'I2'], ['F1', 'F2'])
    """
    path = Path(path)
    check_exists(path, "kinship ID")
    with open(path, encoding="utf-8-sig") as fh:
        rows = [line.split() for line in fh if line.strip()]
    if rows and rows[0][0].startswith("#"):
        header = [h.lstrip("#").upper() for h in rows[0]]
        rows = rows[1:]
        if "IID" not in header:
            raise ValueError(f"ID file {str(path)!r}: header {header} has no IID column")
        iid_at, fid_at = header.index("IID"), header.index("FID") if "FID" in header else None
    else:
        width = len(rows[0]) if rows else 2
        iid_at, fid_at = (0, None) if width == 1 else (1, 0)
    need = max(iid_at, fid_at or 0) + 1
    if any(len(row) < need for row in rows):
        raise ValueError(f"ID file {str(path)!r}: every line needs {need} column(s)")
    iids = np.asarray([row[iid_at] for row in rows], dtype=object)
    fids = None if fid_at is None else np.asarray([row[fid_at] for row in rows], dtype=object)
    return iids, fids


def _from_triangle(values: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    K = np.zeros((n, n))
    K[np.tril_indices(n)] = values  # row-major lower triangle: K[0,0]; K[1,0], K[1,1]; ...
    return K + np.tril(K, -1).T


def _from_square(values: NDArray[np.float64], n: int, name: str) -> NDArray[np.float64]:
    K = values.reshape(n, n)
    if n > 1 and not K[0, 1:].any() and not np.triu(K, 1).any() and np.tril(K, -1).any():
        return np.tril(K) + np.tril(K, -1).T  # PLINK's 'square0': upper triangle written as 0
    return K


def _matrix(values: NDArray[np.float64], n: int, name: str) -> NDArray[np.float64]:
    if values.size == n * n:
        return _from_square(values, n, name)
    if values.size == n * (n + 1) // 2:
        return _from_triangle(values, n)
    raise ValueError(
        f"{name} holds {values.size} values, which is neither n² = {n * n} (square) nor "
        f"n(n+1)/2 = {n * (n + 1) // 2} (triangle) for the n = {n} samples of its ID file; "
        "the matrix and its IDs do not belong together"
    )


def _text_values(path: Path) -> NDArray[np.float64]:
    text = path.read_text(encoding="utf-8")
    with warnings.catch_warnings():
        # NumPy warns (DeprecationWarning) and stops where a token is not a number
        warnings.simplefilter("error", DeprecationWarning)
        try:
            return np.fromstring(text, dtype=np.float64, sep=" ")
        except (DeprecationWarning, ValueError):
            bad = next(t for t in text.split() if not _is_number(t))
            raise ValueError(f"kinship {str(path)!r} has a non-numeric value {bad!r}") from None


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_gemma_kinship(path: PathLike, ids: Sequence[object] | ArrayLike) -> NDArray[np.float64]:
    """Read GEMMA's ``.cXX.txt``/``.sXX.txt`` (n lines of n numbers, no IDs).

    Parameters
    ----------
    path : str or os.PathLike
    ids : sequence
        The sample IDs of its rows: the ``.fam`` the kinship was computed from, in order.

    Returns
    -------
    numpy.ndarray
        The ``n × n`` matrix.

    Raises
    ------
    ValueError
        If the file is not square or does not have one row per ID.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from kronlmm.io import read_gemma_kinship
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "out.cXX.txt")
    ...     with open(path, "w") as fh:
    ...         _ = fh.write("0.5\\t0.1\\n0.1\\t0.4\\n")
    ...     read_gemma_kinship(path, ["s1", "s2"]).tolist()
    [[0.5, 0.1], [0.1, 0.4]]
    """
    path = Path(path)
    check_exists(path, "kinship")
    n = len(np.asarray(ids, dtype=object).ravel())
    try:
        frame: pd.DataFrame = pd.read_csv(
            path, sep=r"\s+", header=None, dtype=np.float64, engine="c", **EXACT_FLOAT_PARSING
        )
    except (ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"GEMMA kinship {str(path)!r} cannot be read as numbers: {err}") from None
    if frame.shape != (n, n):
        raise ValueError(
            f"GEMMA kinship {str(path)!r} is {frame.shape[0]} × {frame.shape[1]}, but the .fam "
            f"has {n} samples; GEMMA's kinship files hold no IDs, so their rows must be the "
            ".fam's samples in order (give the --bfile it was computed from)"
        )
    matrix: NDArray[np.float64] = frame.to_numpy(dtype=np.float64)
    return matrix


def read_gcta_grm(path: PathLike) -> tuple[NDArray[np.object_], NDArray[np.float64]]:
    """Read GCTA's binary GRM: ``P.grm.bin`` with ``P.grm.id`` (``.grm.N.bin`` not needed).

    Parameters
    ----------
    path : str or os.PathLike
        ``P.grm.bin``, ``P.grm.id``, ``P.grm.N.bin`` or the prefix ``P``.

    Returns
    -------
    ids : numpy.ndarray
        IIDs.
    K : numpy.ndarray
        The matrix (float32 values as float64).

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> import numpy as np
    >>> from kronlmm.io import read_gcta_grm, write_gcta_grm
    >>> K = np.array([[1.0, 0.25], [0.25, 0.5]])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = write_gcta_grm(os.path.join(tmp, "g.grm.bin"), ["a", "b"], K, n_variants=100)
    ...     ids, back = read_gcta_grm(os.path.join(tmp, "g"))
    >>> ids.tolist(), back.tolist()
    (['a', 'b'], [[1.0, 0.25], [0.25, 0.5]])
    """
    prefix = _gcta_prefix(Path(path))
    matrix, id_path = Path(f"{prefix}.grm.bin"), Path(f"{prefix}.grm.id")
    check_exists(matrix, "GCTA GRM")
    iids, _ = read_id_file(id_path)
    n = iids.size
    values = np.fromfile(matrix, dtype="<f4").astype(np.float64)
    if values.size != n * (n + 1) // 2 or matrix.stat().st_size % 4:
        raise ValueError(
            f"GCTA GRM {str(matrix)!r} has {matrix.stat().st_size} bytes, but the "
            f"{n} samples of {str(id_path)!r} need {4 * n * (n + 1) // 2} (float32 lower "
            "triangle); the matrix and its IDs do not belong together"
        )
    return iids, _from_triangle(values, n)


def read_plink_rel(path: PathLike) -> tuple[NDArray[np.object_], NDArray[np.float64]]:
    """Read PLINK's ``--make-rel`` output: ``.rel`` (text) or ``.rel.bin``, with ``.rel.id``.

    Square, square0 or triangle; float64 (``bin``) or float32 (``bin4``) binaries — told
    apart by the number of values, which the IDs fix.

    Parameters
    ----------
    path : str or os.PathLike
        ``P.rel`` or ``P.rel.bin`` (the IDs are read from ``P.rel.id``).

    Returns
    -------
    ids : numpy.ndarray
        IIDs.
    K : numpy.ndarray

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> import numpy as np
    >>> from kronlmm.io import read_plink_rel, write_plink_rel
    >>> K = np.array([[1.0, 0.25], [0.25, 0.5]])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_plink_rel(os.path.join(tmp, "k.rel"), ["a", "b"], K, shape="triangle")
    ...     lines = [line.split("\\t") for line in path.read_text().splitlines()]
    ...     ids, back = read_plink_rel(path)
    >>> lines  # line i holds K[i, 0..i]
    [['1'], ['0.25', '0.5']]
    >>> ids.tolist(), back.tolist()
    (['a', 'b'], [[1.0, 0.25], [0.25, 0.5]])
    """
    path = Path(path)
    check_exists(path, "PLINK relationship matrix")
    binary = path.name.lower().endswith(".rel.bin")
    base = path.with_name(path.name[: -len(".bin")]) if binary else path
    iids, _ = read_id_file(Path(f"{base}.id"))
    n = iids.size
    if not binary:
        return iids, _matrix(_text_values(path), n, f"PLINK .rel {str(path)!r}")
    size = path.stat().st_size
    for count in (n * n, n * (n + 1) // 2):
        for dtype in ("<f8", "<f4"):
            if count and size == count * np.dtype(dtype).itemsize:
                values = np.fromfile(path, dtype=dtype).astype(np.float64)
                return iids, _matrix(values, n, f"PLINK .rel.bin {str(path)!r}")
    raise ValueError(
        f"PLINK .rel.bin {str(path)!r} has {size} bytes, which fits no square or triangle "
        f"float64/float32 matrix of the {n} samples of its .rel.id; the matrix and its IDs "
        "do not belong together"
    )


def _id_lines(ids: Sequence[str], fids: Sequence[str] | None, header: bool) -> str:
    if fids is None:
        head = "#IID\n" if header else ""
        return head + "".join(f"{i}\n" for i in ids)
    head = "#FID\tIID\n" if header else ""
    return head + "".join(f"{f}\t{i}\n" for f, i in zip(fids, ids, strict=True))


def _ids_and_matrix(
    ids: Sequence[object] | ArrayLike, K: ArrayLike
) -> tuple[list[str], NDArray[np.float64]]:
    kin = check_kinship(ids, K, check_psd=False)
    return [str(i) for i in kin.ids], kin.K


def write_gemma_kinship(path: PathLike, K: ArrayLike) -> Path:
    """Write ``K`` as GEMMA does (``-gk``): n lines of n tab-separated values, 10 digits.

    The file holds no IDs: its rows must be the samples of the ``.fam`` in order.

    Parameters
    ----------
    path : str or os.PathLike
        Destination (``P.cXX.txt`` or ``P.sXX.txt``), written atomically.
    K : array_like
        ``n × n`` symmetric matrix.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from kronlmm.io import write_gemma_kinship
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_gemma_kinship(os.path.join(tmp, "k.sXX.txt"), [[1.0, 0.5], [0.5, 1.0]])
    ...     [line.split("\\t") for line in path.read_text().splitlines()]
    [['1', '0.5'], ['0.5', '1']]
    """
    path = Path(path)
    _, mat = _ids_and_matrix(range(np.shape(K)[0]), K)
    with atomic_path(path) as tmp:
        np.savetxt(tmp, mat, fmt="%.10g", delimiter="\t")
    return path


def write_gcta_grm(
    path: PathLike,
    ids: Sequence[object] | ArrayLike,
    K: ArrayLike,
    *,
    fids: Sequence[object] | None = None,
    n_variants: int | ArrayLike = 0,
) -> list[Path]:
    """Write GCTA's binary GRM: ``P.grm.bin``, ``P.grm.N.bin`` and ``P.grm.id``.

    Parameters
    ----------
    path : str or os.PathLike
        ``P.grm.bin`` or the prefix ``P``; each file is written atomically.
    ids : sequence
        IIDs.
    K : array_like
        ``n × n`` symmetric matrix (stored as float32, GCTA's precision).
    fids : sequence, optional
        FIDs (default: the IIDs, as PLINK does for samples without one).
    n_variants : int or array_like, default 0
        The ``.grm.N.bin`` values: variants behind each pair (one number for all pairs, or
        an ``n × n`` matrix).

    Returns
    -------
    list of pathlib.Path
        The three files.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from kronlmm.io import write_gcta_grm
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     files = write_gcta_grm(os.path.join(tmp, "g"), ["a", "b"], [[1, 0.5], [0.5, 1]])
    ...     [(f.name, f.stat().st_size) for f in files]  # 3 float32 values: K[0,0]; K[1,0..1]
    [('g.grm.bin', 12), ('g.grm.N.bin', 12), ('g.grm.id', 8)]
    """
    prefix = _gcta_prefix(Path(path))
    iids, mat = _ids_and_matrix(ids, K)
    n = len(iids)
    lower = np.tril_indices(n)
    counts = np.broadcast_to(np.asarray(n_variants, dtype=np.float64), (n, n))[lower]
    fid_list = iids if fids is None else [str(f) for f in fids]
    out = [Path(f"{prefix}.grm.bin"), Path(f"{prefix}.grm.N.bin"), Path(f"{prefix}.grm.id")]
    for target, data in ((out[0], mat[lower]), (out[1], counts)):
        with atomic_path(target) as tmp:
            np.asarray(data, dtype="<f4").tofile(tmp)
    with atomic_path(out[2]) as tmp:
        tmp.write_text(_id_lines(iids, fid_list, header=False))
    return out


def write_plink_rel(
    path: PathLike,
    ids: Sequence[object] | ArrayLike,
    K: ArrayLike,
    *,
    fids: Sequence[object] | None = None,
    shape: Shape = "square",
    precision: Literal["float64", "float32"] = "float64",
) -> Path:
    """Write PLINK's ``--make-rel`` files: ``P.rel`` (text) or ``P.rel.bin``, and ``P.rel.id``.

    Parameters
    ----------
    path : str or os.PathLike
        ``P.rel`` (tab-separated text, 6 significant digits as PLINK writes) or
        ``P.rel.bin`` (binary); each file is written atomically.
    ids : sequence
        IIDs.
    K : array_like
        ``n × n`` symmetric matrix.
    fids : sequence, optional
        FIDs; without them the ``.rel.id`` has PLINK 2's ``#IID`` header and IIDs only.
    shape : {"square", "triangle"}, default "square"
        Whole matrix, or line i = ``K[i, 0..i]``.
    precision : {"float64", "float32"}, default "float64"
        Of a binary file (PLINK's ``bin`` and ``bin4``).

    Returns
    -------
    pathlib.Path
        The matrix file.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from kronlmm.io import write_plink_rel
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_plink_rel(os.path.join(tmp, "k.rel.bin"), ["a", "b"],
    ...                            [[1, 0.5], [0.5, 1]], fids=["f", "f"])
    ...     size = path.stat().st_size  # 4 float64 values
    ...     with open(os.path.join(tmp, "k.rel.id")) as fh:
    ...         ids = fh.read().split()
    >>> size, ids
    (32, ['#FID', 'IID', 'f', 'a', 'f', 'b'])
    """
    path = Path(path)
    if shape not in ("square", "triangle"):
        raise ValueError(f"shape must be 'square' or 'triangle', got {shape!r}")
    if precision not in ("float64", "float32"):
        raise ValueError(f"precision must be 'float64' or 'float32', got {precision!r}")
    iids, mat = _ids_and_matrix(ids, K)
    binary = path.name.lower().endswith(".rel.bin")
    if not binary and not path.name.lower().endswith(".rel"):
        raise ValueError(f"a PLINK relationship matrix is named P.rel or P.rel.bin, got {path}")
    base = path.with_name(path.name[: -len(".bin")]) if binary else path
    with atomic_path(path) as tmp:
        if binary:
            dtype = "<f8" if precision == "float64" else "<f4"
            values = mat.ravel() if shape == "square" else mat[np.tril_indices(len(iids))]
            values.astype(dtype).tofile(tmp)
        else:
            with open(tmp, "w") as fh:
                for i, row in enumerate(mat):
                    cells = row if shape == "square" else row[: i + 1]
                    fh.write("\t".join(f"{v:.6g}" for v in cells) + "\n")
    fid_list = None if fids is None else [str(f) for f in fids]
    with atomic_path(Path(f"{base}.id")) as tmp:
        tmp.write_text(_id_lines(iids, fid_list, header=True))
    return path
