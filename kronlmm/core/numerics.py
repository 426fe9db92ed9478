"""Numerical policy: the tolerances and constants every layer of kronlmm shares.

One place for each judgement call about rounding, so that the model, the scanners and the
workflow agree on what counts as zero.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "SMALL_WORK",
    "blas_threads_for",
    "blas_limit",
    "blas_threads",
    "cores_available",
    "LOG2PI",
    "NO_VARIANCE_RTOL",
    "COLLINEAR_RTOL",
    "no_variance_left",
]

#: Problems whose evaluations take fewer floating-point operations than this run the
#: optimiser with one BLAS thread: for them a multi-threaded BLAS spends more time waking
#: threads than computing (measured: L-BFGS-B's own small vector operations became 60×
#: slower with two OpenBLAS threads).
SMALL_WORK = 5e7

#: ``log(2π)``, the constant of every Gaussian log-density.
LOG2PI = float(np.log(2 * np.pi))

#: Residual variance at or below this fraction of a trait's mean square is rounding noise of
#: Y's own values: the trait has no variance left after the covariates.
NO_VARIANCE_RTOL = (1e3 * np.finfo(float).eps) ** 2

#: Relative tolerance below which a candidate's residual (after X) counts as zero.
COLLINEAR_RTOL = 1e-9


def no_variance_left(
    resid_var: NDArray[np.float64], mean_square: NDArray[np.float64]
) -> NDArray[np.intp]:
    """Indices of traits whose residual variance (after X) is at rounding level.

    ``resid_var``: per-trait residual variance after regressing out X; ``mean_square``:
    per-trait mean of Y². A trait with mean 1e7 and sd 1 keeps its variance (ratio 1e-14);
    a constant trait leaves ~(ε·mean)², far below the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.core.numerics import no_variance_left
    >>> no_variance_left(np.array([1.0, 1e-30]), np.array([1e14, 1.0])).tolist()
    [1]
    """
    return np.flatnonzero(resid_var <= NO_VARIANCE_RTOL * mean_square)


def blas_threads_for(flops: float) -> int | None:
    """Thread limit for an optimisation whose evaluations cost about ``flops``: 1 for
    small problems (:data:`SMALL_WORK`), ``None`` (no limit) otherwise.

    Examples
    --------
    >>> from kronlmm.core.numerics import blas_threads_for
    >>> blas_threads_for(1e4), blas_threads_for(1e9)
    (1, None)
    """
    return 1 if flops < SMALL_WORK else None


def blas_threads() -> int:
    """Threads the BLAS libraries loaded in this process use now (the largest; 1 if none).

    This is what "all threads" means for a scan: the BLAS default (every core) unless the
    user limited it (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``, threadpoolctl).

    Examples
    --------
    >>> from threadpoolctl import threadpool_limits
    >>> from kronlmm.core.numerics import blas_threads
    >>> with threadpool_limits(limits=1, user_api="blas"):
    ...     blas_threads()
    1
    """
    from threadpoolctl import ThreadpoolController

    counts = [
        int(lib.num_threads)
        for lib in ThreadpoolController().lib_controllers
        if lib.user_api == "blas"
    ]
    return max(counts, default=1)


def cores_available() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one).

    Examples
    --------
    >>> from kronlmm.core.numerics import cores_available
    >>> cores_available() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_controller: Any = None


def blas_limit(flops: float) -> contextlib.AbstractContextManager[Any]:
    """Context in which an optimisation whose evaluations cost about ``flops`` runs: BLAS
    limited to :func:`blas_threads_for` threads, or nothing changed.

    The threadpoolctl controller is created once per process (creating one scans the
    loaded libraries, ~1–2 ms, which is most of a small fit's overhead otherwise).

    Examples
    --------
    >>> from kronlmm.core.numerics import blas_limit
    >>> with blas_limit(1e4):  # one BLAS thread inside
    ...     pass
    """
    global _controller
    limit = blas_threads_for(flops)
    if limit is None:
        return contextlib.nullcontext()
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    out: contextlib.AbstractContextManager[Any] = _controller.limit(limits=limit, user_api="blas")
    return out
