"""Progress of the long phases of a GWAS (GRM, eigendecomposition, scan), with or without a
terminal.

On a terminal a phase shows a tqdm bar (``progress=True`` or ``"auto"``). Without one
(``"auto"`` in a batch job, a pipe, a log file) a :class:`Heartbeat` writes an INFO line on
the ``"kronlmm"`` logger when the phase starts, at least every :data:`LOG_INTERVAL` seconds
while it runs (done/total, elapsed time and the estimated time left), and when it ends. A
callable ``progress(done, total)`` is called as blocks finish, as everywhere in kronlmm.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

from ..core.progress import Progress, wants_bar

__all__ = [
    "LOG_INTERVAL",
    "Heartbeat",
    "ScanLog",
    "phase_progress",
    "scan_progress",
    "format_seconds",
]

logger = logging.getLogger("kronlmm")

LOG_INTERVAL = 30.0
"""Seconds between two progress lines of a phase when there is no terminal."""


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 01 min``.

    Examples
    --------
    >>> from kronlmm.gwas.progress_log import format_seconds
    >>> format_seconds(4.24), format_seconds(185), format_seconds(7260)
    ('4.2 s', '3 min 05 s', '2 h 01 min')
    """
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Heartbeat:
    """Log lines for one phase: at the start, every ``interval`` seconds, at the end.

    Parameters
    ----------
    desc : str
        The phase, e.g. ``"GRM"``.
    total : int or None
        Units of work (variants); ``None`` when the phase cannot count (an
        eigendecomposition): lines then give the elapsed time and ``expected`` seconds.
    unit : str
        What is counted (``"variant"``).
    expected : float, optional
        Expected duration in seconds (an estimate stated as such), for phases that cannot
        count.
    interval : float, optional
        Seconds between lines (default :data:`LOG_INTERVAL`).

    Examples
    --------
    >>> import logging
    >>> import sys
    >>> from kronlmm.gwas.progress_log import Heartbeat
    >>> log = logging.getLogger("kronlmm")
    >>> handler = logging.StreamHandler(sys.stdout)
    >>> log.addHandler(handler)
    >>> log.setLevel(logging.INFO)
    >>> beat = Heartbeat("GRM", 2000, "variant", interval=3600)
    GRM: started (2000 variants)
    >>> beat.update(500)
    >>> beat.status()
    'GRM: 500/2000 variants (25%), ... elapsed, about ... left'
    >>> elapsed = beat.close()
    GRM: done, 2000 variants in ... s
    >>> log.removeHandler(handler)
    >>> log.setLevel(logging.NOTSET)
    """

    def __init__(
        self,
        desc: str,
        total: int | None,
        unit: str = "variant",
        *,
        expected: float | None = None,
        interval: float | None = None,
    ) -> None:
        self.desc, self.total, self.unit, self.expected = desc, total, unit, expected
        self.interval = LOG_INTERVAL if interval is None else float(interval)
        self.done = 0
        self.start = time.monotonic()
        self._stop = threading.Event()
        what = f"{total} {unit}s" if total is not None else "cannot report progress"
        if expected is not None:
            what += f"; expected to take about {format_seconds(expected)}"
        logger.info("%s: started (%s)", desc, what)
        self._thread = threading.Thread(target=self._beat, name=f"kronlmm-{desc}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            logger.info("%s", self.status())

    def status(self) -> str:
        """One line: done/total, elapsed and the estimated time left."""
        elapsed = time.monotonic() - self.start
        if self.total is None:
            line = f"{self.desc}: running, {format_seconds(elapsed)} elapsed"
            if self.expected is not None:
                line += f" (expected about {format_seconds(self.expected)})"
            return line
        share = self.done / self.total if self.total else 1.0
        line = (
            f"{self.desc}: {self.done}/{self.total} {self.unit}s ({100 * share:.0f}%), "
            f"{format_seconds(elapsed)} elapsed"
        )
        if 0 < self.done < self.total:
            line += f", about {format_seconds(elapsed * (self.total - self.done) / self.done)} left"
        return line

    def update(self, done: int) -> None:
        """Record progress (units done so far)."""
        self.done = int(done)

    def close(self) -> float:
        """Stop the periodic lines, log the end (once) and return the elapsed seconds.

        Called while an exception propagates (from a ``finally`` clause), it logs that the
        phase stopped rather than that it is done."""
        elapsed = time.monotonic() - self.start
        if self._stop.is_set():
            return elapsed
        self._stop.set()
        self._thread.join()
        if sys.exc_info()[0] is not None:
            logger.info("%s: stopped after %s", self.desc, format_seconds(elapsed))
            return elapsed
        count = f"{self.total} {self.unit}s " if self.total is not None else ""
        logger.info("%s: done, %sin %s", self.desc, count, format_seconds(elapsed))
        return elapsed


def phase_progress(
    progress: Progress, total: int, desc: str, unit: str = "variant"
) -> Callable[[int | None], None]:
    """``report(done)`` as work is done and ``report(None)`` at the end of a phase.

    A callable ``progress`` is called as ``progress(done, total)``; ``True`` (or ``"auto"``
    on a terminal) shows a tqdm bar named ``desc``; ``"auto"`` without a terminal logs
    :class:`Heartbeat` lines; ``False`` does nothing.

    Examples
    --------
    >>> from kronlmm.gwas.progress_log import phase_progress
    >>> seen = []
    >>> report = phase_progress(lambda done, total: seen.append((done, total)), 10, "GRM")
    >>> report(4), report(10), report(None)
    (None, None, None)
    >>> seen
    [(4, 10), (10, 10)]
    """
    if callable(progress):
        call = progress
        return lambda done: None if done is None else call(done, total)
    if progress is False or progress is None:
        return lambda done: None
    if wants_bar(progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, leave=False)

        def update_bar(done: int | None) -> None:
            if done is None:
                bar.close()
            else:
                bar.update(done - bar.n)

        return update_bar
    beat = Heartbeat(desc, total, unit)

    def update_log(done: int | None) -> None:
        if done is None:
            beat.close()
        else:
            beat.update(done)

    return update_log


class ScanLog:
    """A ``progress(done, total)`` callback for the scan driver that logs
    :class:`Heartbeat` lines; started when created, ended by :meth:`close`.

    Examples
    --------
    >>> from kronlmm.gwas.progress_log import ScanLog
    >>> log = ScanLog(3000, "scan")
    >>> log(1000, 3000)
    >>> log.beat.status().startswith("scan: 1000/3000 variants (33%)")
    True
    >>> log.close()
    """

    def __init__(self, total: int, desc: str = "scan", unit: str = "variant") -> None:
        self.beat = Heartbeat(desc, total, unit)

    def __call__(self, done: int, total: int) -> None:
        self.beat.update(done)

    def close(self) -> None:
        """End the phase's log lines."""
        self.beat.close()


def scan_progress(
    progress: Progress, total: int, desc: str = "scan", unit: str = "variant"
) -> Progress:
    """The progress to give the scan driver: as given, except ``"auto"`` without a
    terminal, which becomes a :class:`ScanLog` (close it when the scan ends).

    Examples
    --------
    >>> from kronlmm.gwas.progress_log import scan_progress
    >>> scan_progress(False, 10), scan_progress(True, 10)
    (False, True)
    """
    if progress == "auto" and not wants_bar(progress):
        return ScanLog(total, desc, unit)
    return progress
