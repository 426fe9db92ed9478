"""The one atomic writer of kronlmm: write to a temporary name, rename when complete.

Every file kronlmm writes (result tables, JSON, kinship matrices, checkpoint chunks and
manifests, plots) goes through :func:`atomic_path`: the content is written to a hidden
temporary file next to the destination (``.NAME.<pid>.<random>.tmp``), which is renamed onto
the destination only once it is complete (:func:`os.replace`, atomic on POSIX and Windows,
and on shared file systems such as NFS and Lustre). A run that fails part-way therefore
never leaves a truncated file under the final name, and the temporary file is removed. A
full disk (or quota) is reported as :class:`OutOfSpaceError`, naming the file, the file
system it is on and the space left there.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._common import PathLike

__all__ = ["atomic_path", "OutOfSpaceError", "mount_point"]

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class OutOfSpaceError(OSError):
    """A file could not be written: its file system is full (or the quota is exhausted).

    Its message names the file, the file system (mount point) and the space left.

    Examples
    --------
    >>> import errno
    >>> from kronlmm.io import OutOfSpaceError
    >>> err = OutOfSpaceError(errno.ENOSPC, "no space left writing 'x.tsv'")
    >>> isinstance(err, OSError), err.errno == errno.ENOSPC, str(err)
    (True, True, "no space left writing 'x.tsv'")
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.errno = code

    def __str__(self) -> str:
        return str(self.args[0])


def mount_point(path: PathLike) -> Path:
    """The mount point of the file system that holds ``path`` (or would hold it).

    Examples
    --------
    >>> from kronlmm.io import mount_point
    >>> mount_point("/").as_posix()
    '/'
    """
    here = Path(os.path.abspath(path))
    while not here.exists() and here.parent != here:
        here = here.parent
    while not os.path.ismount(here) and here.parent != here:
        here = here.parent
    return here


def _out_of_space(final: Path, err: OSError) -> OutOfSpaceError:
    where = mount_point(final.parent)
    try:
        free = f"{shutil.disk_usage(where).free / 2**20:.1f} MiB free there now"
    except OSError:
        free = "free space unknown"
    what = "disk quota exceeded" if err.errno != errno.ENOSPC else "no space left on the device"
    return OutOfSpaceError(
        err.errno or errno.ENOSPC,
        f"{what} while writing {str(final)!r} (file system mounted at {str(where)!r}, {free});"
        " free some space or write elsewhere",
    )


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

    Raises
    ------
    OutOfSpaceError
        When the file system is full (ENOSPC) or the quota exceeded (EDQUOT), naming the
        file and the file system.

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
    except OSError as err:
        if err.errno in _NO_SPACE and not isinstance(err, OutOfSpaceError):
            raise _out_of_space(final, err) from None
        raise
    finally:
        if tmp.exists():
            tmp.unlink()
