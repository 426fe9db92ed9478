"""Progress reporting for long scans (tqdm bars or a user callback)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Literal

__all__ = ["Progress", "progress_reporter", "wants_bar"]

Progress = bool | Literal["auto"] | Callable[[int, int], None]
"""Progress reporting: ``False`` (none), ``True`` (tqdm bar on stderr), ``"auto"`` (tqdm bar
only when stderr is a terminal) or a callable ``progress(done, total)`` called after each
block."""


def wants_bar(progress: Progress) -> bool:
    """Whether ``progress`` asks for a bar on stderr now (``"auto"``: only on a terminal)."""
    if progress is True:
        return True
    return progress == "auto" and sys.stderr.isatty()


def progress_reporter(
    progress: Progress, total: int, unit: str = "variant"
) -> Callable[[int | None], None]:
    """``report(done)`` after each block, ``report(None)`` at the end."""
    if callable(progress):
        return lambda done: None if done is None else progress(done, total)
    if progress is False or progress is None:
        return lambda done: None
    if progress not in (True, "auto"):
        raise ValueError(f"progress must be True, False, 'auto' or a callable, got {progress!r}")
    from tqdm.auto import tqdm

    bar = tqdm(
        total=total,
        unit=unit,
        desc="scan",
        file=sys.stderr,
        disable=None if progress == "auto" else False,
        leave=False,
    )

    def update(done: int | None) -> None:
        if done is None:
            bar.close()
        else:
            bar.update(done - bar.n)

    return update
