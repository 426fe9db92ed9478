"""The one atomic writer of kronlmm: write to a temporary name, rename when complete.

Every file kronlmm writes (result tables, JSON, kinship matrices, checkpoint chunks and
manifests, plots) goes through :func:`atomic_path`: the content is written to a hidden
temporary file next to the destination (``.NAME.<pid>.<random>.tmp``), which is renamed onto
the destination only once it is complete (:func:`os.replace`, atomic on POSIX and Windows,
and on shared file systems such as NFS and Lustre). A run that fails part-way therefore
never leaves a truncated file under the final name, and the temporary file is removed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._common import PathLike

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Give a temporary path to write to; move it onto ``path`` only if the block succeeds.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination. Its folder must exist.

    Yields
    ------
    pathlib.Path
        A fresh temporary path in the same folder (so the final rename stays on one file
        system). Write the complete file there. Its name ends in ``.tmp``: writers that
        add a suffix of their own (``numpy.savez``) must be given an open file instead.

    Notes
    -----
    If the ``with`` block raises, the temporary file is deleted and ``path`` is left as it
    was (absent, or the previous complete version).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from kronlmm.io import atomic_path
    >>> tmp = tempfile.TemporaryDirectory()
    >>> target = Path(tmp.name) / "table.txt"
    >>> with atomic_path(target) as part:
    ...     _ = part.write_text("complete")
    >>> target.read_text()
    'complete'
    >>> try:
    ...     with atomic_path(target) as part:
    ...         _ = part.write_text("half")
    ...         raise RuntimeError("interrupted")
    ... except RuntimeError:
    ...     pass
    >>> target.read_text()  # the previous complete version
    'complete'
    >>> sorted(path.name for path in Path(tmp.name).iterdir())  # no temporary file left
    ['table.txt']
    >>> tmp.cleanup()
    """
    final = Path(path)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
