"""BLAS threads during a scan: how many are in effect, and one-thread sections.

A scan does one large matrix product per block (``[U, X, …]ᵀ G``) and many small ones
(the per-candidate algebra). A multi-threaded BLAS wakes its threads for every call, which
made the small calls up to 100 times slower on a busy 2-core machine, and threads that
wait for each other at every call make even the large product slower there. So scans use
every core by computing several blocks at once, each with one BLAS thread
(:class:`kronlmm.scan.ThreadedExecution`), and never by threading inside a block.

BLAS thread limits (threadpoolctl) apply to the whole process. :func:`single_blas_thread`
may be entered by several threads at once: the first one in sets the limit, the last one
out restores what was there before, so a thread that leaves early never lifts the limit
under another one still computing. With threadpoolctl ≥ 3.8 only one live Python thread
(the first that set a limit) may change an OpenBLAS limit, and a limit set from another
thread is ignored (:func:`blas_threads` shows it): the thread that sets or lifts the limit
of :func:`single_blas_thread` takes that control for the moment and gives it back, and
scans set the limit from the thread that runs the scan, not from their worker threads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from threadpoolctl import ThreadpoolController

from ..core.numerics import blas_threads

__all__ = ["blas_threads", "single_blas_thread"]

_lock = threading.Lock()
_entered = 0
_controller: Any = None  # of the limit set by the first thread in
_limiter: Any = None


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit every BLAS library to one thread while any thread is inside this context.

    Re-entrant and safe to enter from several threads at once (see the module notes):
    the limit set by the first thread in is restored by the last one out.

    Examples
    --------
    >>> from kronlmm.scan import blas_threads, single_blas_thread
    >>> before = blas_threads()
    >>> with single_blas_thread():
    ...     with single_blas_thread():  # nested: still one thread
    ...         inner = blas_threads()
    ...     after_inner = blas_threads()
    >>> inner, after_inner, blas_threads() == before
    (1, 1, True)
    """
    global _entered, _controller, _limiter
    with _lock:
        if _entered == 0:
            _controller = ThreadpoolController()
            with _blas_control(_controller):
                _limiter = _controller.limit(limits=1, user_api="blas")
        _entered += 1
    try:
        yield
    finally:
        with _lock:
            _entered -= 1
            if _entered == 0:
                with _blas_control(_controller):
                    _limiter.restore_original_limits()
                _controller = _limiter = None


@contextlib.contextmanager
def _blas_control(controller: Any) -> Iterator[None]:
    """Hold the control of OpenBLAS limits for this thread while inside, then free it.

    threadpoolctl ≥ 3.8 lets only the first thread that set an OpenBLAS limit (while it
    lives) change one; the others' changes are ignored. Under the module lock, the thread
    that sets or lifts the limit of :func:`single_blas_thread` takes that control (whoever
    entered or leaves last) and gives it back, so that other threads (the caller's) can
    set limits again afterwards."""
    classes = {type(lib) for lib in controller.lib_controllers}
    clears = [c.clear_controlling_thread for c in classes if hasattr(c, "clear_controlling_thread")]
    for clear in clears:
        clear(force=True)
    try:
        yield
    finally:
        for clear in clears:
            clear()
