"""Per-chunk result files, so that an interrupted scan resumes without recomputing."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..scan.result import ScanResult

__all__ = ["ChunkStore"]

_ARRAYS = ("lml_null", "lml_alt", "chi2", "dof", "pvalue", "neg_log10_pvalue", "scale",
           "beta", "se", "n_missing", "mean")  # fmt: skip


class ChunkStore:
    """A directory of finished scan chunks: ``chunk-000123.npz`` plus ``manifest.json``.

    Each chunk file is written to a temporary name and renamed when complete, so a file
    that exists is whole. The manifest records what the scan is (chunk boundaries, test,
    a fingerprint of the null model); opening a directory that holds a different scan
    raises ValueError instead of mixing results.

    Parameters
    ----------
    directory : path
        Created if missing. Must be reachable from every worker (shared file system).
    manifest : dict
        JSON-serialisable description of the scan.

    Raises
    ------
    ValueError
        If ``directory`` already holds a manifest that differs from ``manifest``.

    Examples
    --------
    :func:`~kronlmm.distributed.scan_chunks` (``checkpoint=...``) manages the store; by hand:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from kronlmm.distributed import ChunkStore
    >>> from kronlmm.scan import KronFastScanner
    >>> rng = np.random.default_rng(0)
    >>> n, p = 100, 2
    >>> Y, G = rng.standard_normal((n, p)), rng.standard_normal((n, 10))
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.2 * np.eye(p), np.eye(p))
    >>> part = scanner.scan_variants(rng.binomial(2, 0.3, size=(n, 5)).astype(float))
    >>> tmp = tempfile.TemporaryDirectory()
    >>> store = ChunkStore(Path(tmp.name) / "ck", {"test": "any", "nchunks": 2})
    >>> store.write(0, part)
    >>> store.done(0), store.done(1)
    (True, False)
    >>> sorted(path.name for path in store.directory.iterdir())
    ['chunk-000000.npz', 'manifest.json']
    >>> bool(np.array_equal(store.read(0).chi2, part.chi2))
    True
    >>> ChunkStore(store.directory, {"test": "common", "nchunks": 2})
    Traceback (most recent call last):
        ...
    ValueError: ... holds results of a different scan ...
    >>> tmp.cleanup()
    """

    def __init__(self, directory: str | os.PathLike, manifest: dict[str, Any]) -> None:
        # absolute, so that workers in other working directories write to the same place
        self.directory = Path(directory).resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "manifest.json"
        text = json.dumps(manifest, sort_keys=True, indent=1)
        if path.exists():
            old = json.loads(path.read_text())
            if old != json.loads(text):
                raise ValueError(
                    f"{self.directory} holds results of a different scan (its manifest.json "
                    "differs: other data, null model, test or chunking); use an empty "
                    "directory or delete it"
                )
        else:
            _atomic_write_bytes(path, text.encode())

    @classmethod
    def attach(cls, directory: str | os.PathLike) -> ChunkStore:
        """Open a store whose manifest the driver has already checked (used on workers)."""
        store = cls.__new__(cls)
        store.directory = Path(directory)
        return store

    def path(self, index: int) -> Path:
        """The file of chunk ``index`` (``chunk-000123.npz``), whether or not it exists."""
        return self.directory / f"chunk-{index:06d}.npz"

    def done(self, index: int) -> bool:
        """Whether chunk ``index`` was written completely."""
        return self.path(index).exists()

    def write(self, index: int, result: ScanResult) -> None:
        """Store one chunk's result atomically."""
        arrays = {k: getattr(result, k) for k in _ARRAYS}
        arrays["reason"] = result.reason.astype(str)
        arrays["effect_names"] = np.asarray(result.effect_names, dtype=str)
        if result.ids is not None:
            ids = np.asarray(result.ids)
            arrays["ids"] = ids.astype(str) if ids.dtype == object else ids
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-chunk-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, self.path(index))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, index: int) -> ScanResult:
        """Load one finished chunk."""
        with np.load(self.path(index), allow_pickle=False) as z:
            kw = {k: z[k] for k in _ARRAYS}
            kw["reason"] = z["reason"].astype(object)
            kw["effect_names"] = [str(s) for s in z["effect_names"]]
            kw["ids"] = z["ids"] if "ids" in z.files else None
        return ScanResult(**kw)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
