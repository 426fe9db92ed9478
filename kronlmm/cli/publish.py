"""Publishing the outputs of one run of ``kronlmm``: together or not at all, one run at a time.

:class:`OutputSet` is what a command writes its files through, for an ``--out PREFIX``:

* **A lock.** ``.NAME.kronlmm.lock`` next to the outputs (``NAME`` the last part of the
  prefix) is held (``flock``) for the whole run: a second run with the same ``--out`` is
  refused at once, naming the process that holds it. The lock dies with its process, so
  a killed run leaves no lock behind that blocks the next one.
* **Early checks.** Taking the lock creates the output folder if needed and proves it is
  writable, before any input is read.
* **Staging.** Every file is written into a hidden staging folder next to the outputs
  (``.NAME.kronlmm-staging-PID-RANDOM``, on the same file system). Only when all are
  complete is a commit marker written and the files renamed onto their final names, with
  SIGINT and SIGTERM held back for those few renames; then the staging folder is removed.
  A run that fails or is interrupted before that leaves the previous complete set as it
  was.
* **Recovery.** Under the lock, leftovers of an earlier run with the same prefix are dealt
  with: a staging folder whose commit marker was written (a run killed while renaming) is
  published, so the set is whole again; any other staging folder and every hidden
  ``.tmp`` file of the prefix's outputs (a run killed by SIGKILL) is removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["OutputSet", "OutputLock", "OutputLockedError"]

logger = logging.getLogger("kronlmm")

COMMIT_MARKER = "COMMIT.json"
"""Written into the staging folder when every file is complete: the list of files to publish."""


class OutputLockedError(ValueError):
    """Another run holds the lock of the same ``--out`` prefix."""


def _holder(text: str) -> str:
    try:
        info = json.loads(text)
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["started"])))
        return f"pid {info['pid']} on {info['host']}, started {started}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"


class OutputLock:
    """An exclusive lock on an output prefix, held by this process until :meth:`release`.

    Parameters
    ----------
    prefix : pathlib.Path
        The output prefix; the lock file is ``.NAME.kronlmm.lock`` in its folder.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from kronlmm.cli.publish import OutputLock
    >>> tmp = tempfile.TemporaryDirectory()
    >>> lock = OutputLock(Path(tmp.name) / "run1")
    >>> lock.acquire()
    >>> OutputLock(Path(tmp.name) / "run1").acquire()
    Traceback (most recent call last):
        ...
    kronlmm.cli.publish.OutputLockedError: another kronlmm run is writing --out ... (pid ...
    >>> lock.release()
    >>> sorted(path.name for path in Path(tmp.name).iterdir())
    []
    >>> tmp.cleanup()
    """

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.path = prefix.parent / f".{prefix.name}.kronlmm.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`OutputLockedError` naming its holder."""
        for _ in range(10):
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open
            try:
                locked = _try_lock(handle)
                if not locked:
                    handle.seek(0)
                    holder = _holder(handle.read())
                    raise OutputLockedError(
                        f"another kronlmm run is writing --out {str(self.prefix)!r} ({holder}; "
                        f"lock file {str(self.path)!r}); wait for it to finish or choose "
                        "another --out"
                    )
                # the file may have been removed by its previous holder between open and lock
                if os.fstat(handle.fileno()).st_ino != _inode(self.path):
                    handle.close()
                    continue
            except BaseException:
                handle.close()
                raise
            handle.seek(0)
            handle.truncate()
            info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
            handle.write(json.dumps(info) + "\n")
            handle.flush()
            self._file = handle
            return
        raise OutputLockedError(f"could not take the lock {str(self.path)!r}; try again")

    def release(self) -> None:
        """Remove the lock file and let go of the lock."""
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._file.close()  # closing releases the flock
        self._file = None


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _try_lock(handle: IO[str]) -> bool:
    """An exclusive, non-blocking lock on an open file (flock; a byte lock on Windows)."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (POSIX, main thread) for the few renames of a publish."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = mask(signal.SIG_BLOCK, held)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)


class OutputSet:
    """The outputs of one run under ``--out PREFIX``, published together (module notes).

    Parameters
    ----------
    prefix : str or pathlib.Path
        The output prefix.
    kinds : sequence of str
        Suffixes of every output this kind of run can write (e.g. ``".null.json"``), for
        cleaning up the leftovers of earlier runs and naming outputs this run leaves as
        they were.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from kronlmm.cli.publish import OutputSet
    >>> tmp = tempfile.TemporaryDirectory()
    >>> prefix = Path(tmp.name) / "results" / "run1"
    >>> with OutputSet(prefix, [".a.txt", ".b.txt"]) as outputs:
    ...     _ = outputs.path(".a.txt").write_text("first")
    ...     _ = outputs.path(".b.txt").write_text("second")
    ...     sorted(p.name for p in prefix.parent.iterdir() if not p.name.startswith("."))
    ...     published = outputs.publish()
    []
    >>> [p.name for p in published], sorted(p.name for p in prefix.parent.iterdir())
    (['run1.a.txt', 'run1.b.txt'], ['run1.a.txt', 'run1.b.txt'])

    A run that fails leaves the previous set as it was:

    >>> try:
    ...     with OutputSet(prefix, [".a.txt", ".b.txt"]) as outputs:
    ...         _ = outputs.path(".a.txt").write_text("half a run")
    ...         raise RuntimeError("interrupted")
    ... except RuntimeError:
    ...     pass
    >>> (prefix.parent / "run1.a.txt").read_text(), sorted(p.name for p in prefix.parent.iterdir())
    ('first', ['run1.a.txt', 'run1.b.txt'])
    >>> tmp.cleanup()
    """

    def __init__(self, prefix: str | os.PathLike[str], kinds: Sequence[str]) -> None:
        self.prefix = Path(prefix)
        self.kinds = list(kinds)
        self.folder = self.prefix.parent
        self.lock = OutputLock(self.prefix)
        self.staging: Path | None = None
        self._created: list[Path] = []
        self._written: dict[str, Path] = {}

    # ------------------------------------------------------------------ lifetime
    def __enter__(self) -> OutputSet:
        self._make_folder()
        try:
            self.lock.acquire()
        except OutputLockedError:
            self._remove_created()
            raise
        except OSError as err:
            self._remove_created()
            raise OSError(
                f"cannot write to the output folder {str(self.folder)!r} ({err.strerror or err})"
                "; choose another --out"
            ) from None
        try:
            self._recover()
            name = f".{self.prefix.name}.kronlmm-staging-{os.getpid()}-{secrets.token_hex(4)}"
            self.staging = self.folder / name
            self.staging.mkdir()
        except BaseException:
            self._close(failed=True)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(failed=exc_type is not None)

    def _close(self, failed: bool) -> None:
        if self.staging is not None and self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = None
        self.lock.release()
        if failed:
            self._remove_created()

    def _make_folder(self) -> None:
        """Create the output folder (and the missing folders above it), refusing a file."""
        missing = []
        here = self.folder
        while not here.exists():
            missing.append(here)
            if here.parent == here:
                break
            here = here.parent
        if here.exists() and not here.is_dir():
            raise ValueError(
                f"--out {str(self.prefix)!r}: {str(here)!r} is a file, not a folder; choose "
                "another --out"
            )
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except OSError as err:
                self._remove_created()
                raise OSError(
                    f"cannot create the output folder {str(folder)!r} ({err.strerror or err}); "
                    "choose another --out"
                ) from None
            self._created.append(folder)

    def _remove_created(self) -> None:
        """Remove the folders this run created, if they are still empty."""
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._created = []

    # ------------------------------------------------------------------ recovery
    def _recover(self) -> None:
        """Publish a committed staging folder of an earlier run; remove other leftovers."""
        name = self.prefix.name
        for leftover in sorted(self.folder.glob(f".{name}.kronlmm-staging-*")):
            marker = leftover / COMMIT_MARKER
            if marker.is_file():
                try:
                    files = json.loads(marker.read_text(encoding="utf-8"))
                except ValueError:
                    files = []
                done = [self.folder / f for f in files if (leftover / f).is_file()]
                for final in done:
                    os.replace(leftover / final.name, final)
                if done:
                    logger.info(
                        "published the outputs of an earlier run of --out %s that was stopped "
                        "while publishing them: %s",
                        self.prefix,
                        ", ".join(p.name for p in done),
                    )
            shutil.rmtree(leftover, ignore_errors=True)
            logger.info("removed %s, left behind by an interrupted run", leftover)
        for kind in self.kinds:
            for stale in self.folder.glob(f".{name}{kind}.*.tmp"):
                with contextlib.suppress(OSError):
                    stale.unlink()
                    logger.info("removed %s, left behind by an interrupted run", stale)

    # ------------------------------------------------------------------ writing
    def path(self, kind: str) -> Path:
        """Where to write the output ``PREFIX + kind`` now (in the staging folder)."""
        if self.staging is None:
            raise RuntimeError("an OutputSet is written inside its with block")
        if kind not in self.kinds:
            raise ValueError(f"unknown output kind {kind!r}; expected one of {self.kinds}")
        final = self.final(kind)
        self._written[kind] = final
        return self.staging / final.name

    def final(self, kind: str) -> Path:
        """The published path of the output ``PREFIX + kind``."""
        return self.folder / f"{self.prefix.name}{kind}"

    def publish(self) -> list[Path]:
        """Move every file written onto its final name, as one step; returns the paths."""
        if self.staging is None:
            raise RuntimeError("an OutputSet is published inside its with block")
        finals = [final for final in self._written.values() if (self.staging / final.name).exists()]
        marker = self.staging / COMMIT_MARKER
        marker.write_text(json.dumps([f.name for f in finals]), encoding="utf-8")
        with _signals_held():
            for final in finals:
                os.replace(self.staging / final.name, final)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = None
        others = [
            self.final(kind)
            for kind in self.kinds
            if kind not in self._written and self.final(kind).exists()
        ]
        if others:
            logger.warning(
                "%s come(s) from an earlier run with --out %s (this run did not write %s); "
                "delete %s or use another --out, so that outputs of different runs are not "
                "mixed",
                ", ".join(str(p) for p in others),
                self.prefix,
                "it" if len(others) == 1 else "them",
                "it" if len(others) == 1 else "them",
            )
        return finals
