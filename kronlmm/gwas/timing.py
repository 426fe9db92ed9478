"""Per-stage timings of the GWAS workflow, logged at DEBUG level (``kronlmm -v``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["stage"]

logger = logging.getLogger("kronlmm")


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Log how long the enclosed stage took: ``stage NAME: 1.23 s`` (DEBUG).

    Parameters
    ----------
    name : str
        What the stage does (``"read phenotypes"``, ``"variant QC"``, …).

    Examples
    --------
    >>> import logging
    >>> import sys
    >>> from kronlmm.gwas.timing import stage
    >>> handler = logging.StreamHandler(sys.stdout)
    >>> log = logging.getLogger("kronlmm")
    >>> log.addHandler(handler)
    >>> log.setLevel(logging.DEBUG)
    >>> with stage("nothing at all"):
    ...     pass
    stage nothing at all: 0.00 s
    >>> log.removeHandler(handler)
    >>> log.setLevel(logging.NOTSET)
    """
    start = time.perf_counter()
    try:
        yield
    finally:
        logger.debug("stage %s: %.2f s", name, time.perf_counter() - start)
