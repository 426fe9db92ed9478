"""Checkpointed execution: finished blocks are kept on disk, a rerun computes only the rest.

:class:`Checkpointed` wraps another execution strategy (serial or Dask): blocks already in
the :class:`ChunkStore` directory are read back, the others are computed by the wrapped
strategy with a task that writes its result to the store where it runs (on the worker), so
an interrupted scan loses at most the blocks in flight. The store's manifest records what
the scan is (:func:`null_fingerprint` of the null and test, the blocks' candidate IDs, the
source); a directory holding another scan is refused.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_path
from ..scan import CandidateBlock, Execution, ScanResult, TestPlan
from ..scan.blocks import Task
from ..scan.kernel import NullModel

__all__ = ["ChunkStore", "Checkpointed", "StoringTask", "null_fingerprint"]

logger = logging.getLogger("kronlmm")

#: Arrays of a stored block, by their ScanResult names.
STORED_ARRAYS = ("lml_null", "lml_alt", "chi2", "dof", "p_value", "neg_log10_p_value", "scale",
                 "beta", "se", "n_missing", "mean")  # fmt: skip

#: Names of kronlmm 0.1.0 checkpoint files (read, never written).
OLD_NAMES = {"p_value": "pvalue", "neg_log10_p_value": "neg_log10_pvalue",
             "trait_names": "effect_names"}  # fmt: skip


def null_fingerprint(null: NullModel, plan: TestPlan) -> str:
    """A short hash identifying a null model and test (for checkpoint manifests).

    Parameters
    ----------
    null : NullModel
        Fitted null terms (``KronFastScanner.null``).
    plan : TestPlan
        The test (``KronFastScanner.plan("any")``).

    Returns
    -------
    str
        16 hexadecimal digits; equal for the same null and test, different otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.gwas import null_fingerprint
    >>> from kronlmm.scan import KronFastScanner
    >>> rng = np.random.default_rng(0)
    >>> n, p = 100, 2
    >>> Y, G = rng.standard_normal((n, p)), rng.standard_normal((n, 10))
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.2 * np.eye(p), np.eye(p))
    >>> key = null_fingerprint(scanner.null, scanner.plan("any"))
    >>> len(key), key == null_fingerprint(scanner.null, scanner.plan("any"))
    (16, True)
    >>> key == null_fingerprint(scanner.null, scanner.plan("common"))
    False
    """
    h = hashlib.sha256()
    for arr in (null.Lh, null.invD, null.UX, null.Yt, null.beta0, plan.A1r, plan.Va):
        h.update(np.ascontiguousarray(arr).tobytes())
    if plan.A1r_null is not None:
        h.update(plan.A1r_null.tobytes())
    h.update(repr((null.n, null.p, null.quad0, null.logdetK, plan.dof)).encode())
    return h.hexdigest()[:16]


class ChunkStore:
    """A directory of finished scan blocks: ``chunk-000123.npz`` plus ``manifest.json``.

    Each block file is written atomically (:func:`kronlmm.io.atomic_path`), so a file that
    exists is whole. The manifest records what the scan is (blocks, test, a fingerprint of
    the null model); opening a directory that holds a different scan raises ValueError
    instead of mixing results.

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
    :func:`~kronlmm.gwas.scan_source` (``checkpoint=...``) manages the store; by hand:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from kronlmm.gwas import ChunkStore
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

    def __init__(self, directory: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
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
            with atomic_path(path) as tmp:
                tmp.write_text(text)

    @classmethod
    def attach(cls, directory: str | os.PathLike[str]) -> ChunkStore:
        """Open a store whose manifest the driver has already checked (used on workers)."""
        store = cls.__new__(cls)
        store.directory = Path(directory)
        return store

    def path(self, index: int) -> Path:
        """The file of block ``index`` (``chunk-000123.npz``), whether or not it exists."""
        return self.directory / f"chunk-{index:06d}.npz"

    def done(self, index: int) -> bool:
        """Whether block ``index`` was written completely."""
        return self.path(index).exists()

    def write(self, index: int, result: ScanResult) -> None:
        """Store one block's result atomically."""
        arrays = {k: getattr(result, k) for k in STORED_ARRAYS}
        arrays["reason"] = result.reason.astype(str)
        arrays["trait_names"] = np.asarray(result.trait_names, dtype=str)
        if result.ids is not None:
            ids = np.asarray(result.ids)
            arrays["ids"] = ids.astype(str) if ids.dtype == object else ids
        with atomic_path(self.path(index)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # a file object: savez would append ".npz" to a name

    def read(self, index: int) -> ScanResult:
        """Load one finished block (also from a kronlmm 0.1.0 checkpoint)."""
        with np.load(self.path(index), allow_pickle=False) as z:

            def get(name: str) -> Any:
                return z[name] if name in z.files else z[OLD_NAMES.get(name, name)]

            kw: dict[str, Any] = {k: get(k) for k in STORED_ARRAYS}
            kw["reason"] = z["reason"].astype(object)
            kw["trait_names"] = [str(s) for s in get("trait_names")]
            kw["ids"] = z["ids"] if "ids" in z.files else None
        return ScanResult(**kw)


class StoringTask:
    """A task that also writes its result to a :class:`ChunkStore` (where it runs).

    Parameters
    ----------
    task : Task
        The task to run (:func:`kronlmm.scan.scan_candidate_block`).
    directory : str
        The store's directory, as the workers see it.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from kronlmm.gwas import StoringTask
    >>> from kronlmm.scan import CandidateBlock, KronFastScanner, scan_candidate_block
    >>> rng = np.random.default_rng(0)
    >>> n, p = 100, 2
    >>> Y, G = rng.standard_normal((n, p)), rng.standard_normal((n, 10))
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.2 * np.eye(p), np.eye(p))
    >>> tmp = tempfile.TemporaryDirectory()
    >>> task = StoringTask(scan_candidate_block, tmp.name)
    >>> block = CandidateBlock(3, rng.binomial(2, 0.3, size=(n, 4)).astype(float))
    >>> task(scanner.null, scanner.plan("any"), block).chi2.shape
    (4,)
    >>> [path.name for path in Path(tmp.name).iterdir()]
    ['chunk-000003.npz']
    >>> tmp.cleanup()
    """

    def __init__(self, task: Task, directory: str) -> None:
        self.task, self.directory = task, directory

    def __call__(self, null: NullModel, plan: TestPlan, block: CandidateBlock) -> ScanResult:
        result = self.task(null, plan, block)
        ChunkStore.attach(self.directory).write(block.index, result)
        return result


def _ids_digest(ids: Any) -> str | None:
    if ids is None:
        return None
    return hashlib.sha256(np.asarray(ids).astype(str).tobytes()).hexdigest()[:16]


class Checkpointed:
    """Execution strategy: keep every finished block on disk and reuse the ones there.

    Wraps another strategy (:class:`~kronlmm.scan.SerialExecution` or
    :class:`~kronlmm.gwas.DaskExecution`): blocks whose file exists in ``directory`` are
    read back (bit for bit the stored numbers); the others are computed by ``inner``, each
    written to the directory by the task that computed it, so an interrupted scan resumes
    where it stopped.

    Parameters
    ----------
    inner : Execution
        Where the missing blocks are computed.
    directory : path
        The checkpoint directory (shared by all workers).
    manifest : dict, optional
        Extra description of the scan for ``manifest.json`` (e.g. input file names); the
        fingerprint of the null and test, the number of blocks and a hash of each block's
        candidate IDs are always recorded.

    Raises
    ------
    ValueError
        When called on a directory that holds a different scan.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from kronlmm.gwas import Checkpointed
    >>> from kronlmm.scan import KronFastScanner, SerialExecution, array_blocks, scan_blocks
    >>> rng = np.random.default_rng(0)
    >>> n, p = 100, 2
    >>> Y, G = rng.standard_normal((n, p)), rng.standard_normal((n, 10))
    >>> scanner = KronFastScanner(Y, np.eye(p), np.ones((n, 1)), G, 0.2 * np.eye(p), np.eye(p))
    >>> blocks = array_blocks(rng.binomial(2, 0.3, size=(n, 12)).astype(float), 5)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> run = Checkpointed(SerialExecution(), tmp.name)
    >>> first = scan_blocks(scanner.null, scanner.plan("any"), blocks, execution=run)
    >>> sorted(path.name for path in Path(tmp.name).iterdir())
    ['chunk-000000.npz', 'chunk-000001.npz', 'chunk-000002.npz', 'manifest.json']
    >>> again = scan_blocks(scanner.null, scanner.plan("any"), blocks, execution=run)
    >>> bool(np.array_equal(again.chi2, first.chi2))
    True
    >>> tmp.cleanup()
    """

    def __init__(
        self,
        inner: Execution,
        directory: str | os.PathLike[str],
        manifest: dict[str, Any] | None = None,
    ) -> None:
        self.inner = inner
        self.directory = directory
        self.manifest = dict(manifest or {})

    def __call__(
        self, task: Task, null: NullModel, plan: TestPlan, blocks: Sequence[CandidateBlock]
    ) -> Iterable[tuple[CandidateBlock, ScanResult]]:
        description = {
            "null_and_test": null_fingerprint(null, plan),
            "nchunks": len(blocks),
            "chunk_ids": [_ids_digest(block.ids) for block in blocks],
            **self.manifest,
        }
        store = ChunkStore(self.directory, description)  # refuses another scan, now
        stored = [block for block in blocks if store.done(block.index)]
        missing = [block for block in blocks if not store.done(block.index)]
        if stored:
            logger.info(
                "checkpoint %s: resumed %d of %d blocks, %d to compute",
                store.directory,
                len(stored),
                len(blocks),
                len(missing),
            )
        else:
            logger.info("checkpoint %s: %d blocks to compute", store.directory, len(blocks))
        computed: Iterable[tuple[CandidateBlock, ScanResult]] = ()
        if missing:
            computed = self.inner(StoringTask(task, str(store.directory)), null, plan, missing)
        return itertools.chain(((block, store.read(block.index)) for block in stored), computed)

    def __repr__(self) -> str:
        return f"Checkpointed({self.inner!r}, {str(self.directory)!r})"
