"""Checkpointed execution: finished blocks are kept on disk, a rerun computes only the rest.

:class:`Checkpointed` wraps another execution strategy (serial or Dask): blocks already in
the :class:`ChunkStore` directory are read back, the others are computed by the wrapped
strategy with a task that writes its result to the store where it runs (on the worker), so
an interrupted scan loses at most the blocks in flight. The store's manifest records what
the scan is (:func:`null_fingerprint` of the null and test, the blocks' candidate IDs, the
source); a directory holding another scan is refused. Each block file also records a
fingerprint of the block's content (:func:`content_fingerprint`: for a PLINK block, a hash of
its ``.bed`` bytes), so a block stored from other genotypes of the same shape is refused
rather than reused. A damaged manifest or block file is an error that says so.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_path
from ..scan import CandidateBlock, Execution, ScanResult, TestPlan, restate
from ..scan.block_scan import ScanNull
from ..scan.blocks import Task
from ..scan.observed_kernel import ObservedNullModel

__all__ = [
    "ChunkStore",
    "Checkpointed",
    "StoringTask",
    "null_fingerprint",
    "content_fingerprint",
    "check_checkpoint_dir",
]

logger = logging.getLogger("kronlmm")

logger = logging.getLogger("kronlmm")

#: Arrays of a stored block, by their ScanResult names.
STORED_ARRAYS = ("lml_null", "lml_alt", "chi2", "dof", "p_value", "neg_log10_p_value", "scale",
                 "beta", "se", "n_missing", "mean")  # fmt: skip

#: Arrays of the F test, stored since it exists (absent from older files: then derived from
#: ``chi2`` by :func:`kronlmm.scan.restate` when the scan resumes).
F_ARRAYS = ("F", "df1", "df2")

#: Names of kronlmm 0.1.0 checkpoint files (read, never written).
OLD_NAMES = {"p_value": "pvalue", "neg_log10_p_value": "neg_log10_pvalue",
             "trait_names": "effect_names"}  # fmt: skip


def null_fingerprint(null: ScanNull, plan: TestPlan) -> str:
    """A short hash identifying a null model and test (for checkpoint manifests).

    Parameters
    ----------
    null : NullModel or ObservedNullModel
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
    if isinstance(null, ObservedNullModel):
        arrays = [*null.fingerprint_arrays(), plan.A1r, plan.Va]
    else:
        arrays = [null.Lh, null.invD, null.UX, null.Yt, null.beta0, plan.A1r, plan.Va]
    for arr in arrays:
        h.update(np.ascontiguousarray(arr).tobytes())
    if plan.A1r_null is not None:
        h.update(plan.A1r_null.tobytes())
    h.update(repr((null.n, null.p, null.quad0, null.logdetK, plan.dof)).encode())
    return h.hexdigest()[:16]


def content_fingerprint(data: Any) -> str | None:
    """A hash of a block's candidates, or ``None`` when it cannot be had without computing
    them (a Dask chunk, a reader without a ``fingerprint()`` method).

    A reader's own ``fingerprint()`` is used (:meth:`kronlmm.io.PlinkSlice.fingerprint`
    hashes the ``.bed`` bytes it reads); an in-memory array is hashed with its shape and
    type.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.gwas import content_fingerprint
    >>> a = np.arange(6.0).reshape(3, 2)
    >>> content_fingerprint(a) == content_fingerprint(a.copy())
    True
    >>> content_fingerprint(a + 1) == content_fingerprint(a)
    False
    """
    method = getattr(data, "fingerprint", None)
    if callable(method):
        return str(method())
    if isinstance(data, np.ndarray):
        h = hashlib.sha256(repr((data.shape, data.dtype.str)).encode())
        h.update(np.ascontiguousarray(data).tobytes())
        return h.hexdigest()[:32]
    return None


def check_checkpoint_dir(directory: str | os.PathLike[str]) -> Path:
    """Make sure a checkpoint folder can be used before a scan starts: not a file, created
    if missing, writable. Returns it.

    Raises
    ------
    ValueError
        Naming the folder and the problem.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from kronlmm.gwas import check_checkpoint_dir
    >>> tmp = tempfile.TemporaryDirectory()
    >>> check_checkpoint_dir(Path(tmp.name) / "ck").is_dir()
    True
    >>> _ = (Path(tmp.name) / "file").write_text("x")
    >>> check_checkpoint_dir(Path(tmp.name) / "file")
    Traceback (most recent call last):
        ...
    ValueError: checkpoint '.../file' is a file, not a folder; give a folder (created if missing)
    >>> tmp.cleanup()
    """
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"checkpoint {str(path)!r} is a file, not a folder; give a folder (created if missing)"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise ValueError(
            f"checkpoint folder {str(path)!r} cannot be written ({err.strerror or err}); give "
            "a folder you can write to"
        ) from None
    return path


def _damaged(directory: Path, what: str, err: BaseException) -> ValueError:
    return ValueError(
        f"checkpoint {str(directory)!r} is damaged: {what} ({type(err).__name__}: {err}); "
        "delete it or use a new one"
    )


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
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, OSError) as err:
                raise _damaged(self.directory, "manifest.json cannot be read", err) from None
            if not isinstance(old, dict):
                raise _damaged(
                    self.directory, "manifest.json is not a JSON object", TypeError(type(old))
                )
            new = json.loads(text)
            if old != new:
                keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                raise ValueError(
                    f"{self.directory} holds results of a different scan (its manifest.json "
                    f"differs in {', '.join(keys)}: other data, null model, test or "
                    "chunking); use an empty directory or delete it"
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

    def write(self, index: int, result: ScanResult, fingerprint: str | None = None) -> None:
        """Store one block's result atomically, with the fingerprint of its content."""
        arrays = {k: getattr(result, k) for k in STORED_ARRAYS + F_ARRAYS}
        arrays["statistic"] = np.asarray(result.statistic)
        if fingerprint is not None:
            arrays["content_fingerprint"] = np.asarray(fingerprint)
        arrays["reason"] = result.reason.astype(str)
        arrays["trait_names"] = np.asarray(result.trait_names, dtype=str)
        if result.ids is not None:
            ids = np.asarray(result.ids)
            arrays["ids"] = ids.astype(str) if ids.dtype == object else ids
        with atomic_path(self.path(index)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # a file object: savez would append ".npz" to a name

    def fingerprint(self, index: int) -> str | None:
        """The content fingerprint stored with block ``index`` (``None`` if it has none,
        e.g. written by kronlmm 0.1.0)."""
        try:
            with open(self.path(index), "rb") as fh, np.load(fh, allow_pickle=False) as z:
                return str(z["content_fingerprint"]) if "content_fingerprint" in z.files else None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise _damaged(self.directory, f"{self.path(index).name} cannot be read", err) from None

    def read(self, index: int) -> ScanResult:
        """Load one finished block (also from a kronlmm 0.1.0 checkpoint)."""
        try:
            # an open file, closed here even when np.load fails on a damaged one
            with open(self.path(index), "rb") as fh, np.load(fh, allow_pickle=False) as z:

                def get(name: str) -> Any:
                    return z[name] if name in z.files else z[OLD_NAMES.get(name, name)]

                kw: dict[str, Any] = {k: get(k) for k in STORED_ARRAYS}
                if "F" in z.files:
                    kw.update({k: z[k] for k in F_ARRAYS})
                    kw["statistic"] = str(z["statistic"])
                else:  # written before the F test: its p-values are the chi2 test's
                    m = kw["chi2"].shape[0]
                    kw.update(F=np.full(m, np.nan), df1=kw["dof"], df2=np.zeros(m, np.int64))
                    kw["statistic"] = "chi2"
                kw["reason"] = z["reason"].astype(object)
                kw["trait_names"] = [str(s) for s in get("trait_names")]
                kw["ids"] = z["ids"] if "ids" in z.files else None
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
            raise _damaged(self.directory, f"{self.path(index).name} cannot be read", err) from None
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

    def __call__(self, null: ScanNull, plan: TestPlan, block: CandidateBlock) -> ScanResult:
        result = self.task(null, plan, block)
        fingerprint = content_fingerprint(block.data)
        ChunkStore.attach(self.directory).write(block.index, result, fingerprint)
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
        self, task: Task, null: ScanNull, plan: TestPlan, blocks: Sequence[CandidateBlock]
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
        _check_stored_content(store, stored)
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
        resumed = ((block, restate(store.read(block.index), null, plan)) for block in stored)
        return itertools.chain(resumed, computed)

    def __repr__(self) -> str:
        return f"Checkpointed({self.inner!r}, {str(self.directory)!r})"


def _check_stored_content(store: ChunkStore, stored: Sequence[CandidateBlock]) -> None:
    """Refuse stored blocks whose candidates changed since they were stored."""
    changed: list[int] = []
    unverified = 0
    for block in stored:
        then = store.fingerprint(block.index)
        now = content_fingerprint(block.data) if then is not None else None
        if then is None or now is None:
            unverified += 1
        elif now != then:
            changed.append(block.index)
    if changed:
        shown = ", ".join(str(i) for i in changed[:5]) + (" ..." if len(changed) > 5 else "")
        raise ValueError(
            f"checkpoint {str(store.directory)!r} holds results computed from other "
            f"candidates: the content of {len(changed)} of its {len(stored)} stored block(s) "
            f"(block {shown}) changed since they were stored (for PLINK genotypes: the .bed "
            "bytes of their variants differ); delete it or use a new one"
        )
    if unverified:
        logger.info(
            "%d stored block(s) of checkpoint %s reused without a content check (no "
            "fingerprint: written by kronlmm 0.1.0, or not computable before reading)",
            unverified,
            store.directory,
        )
