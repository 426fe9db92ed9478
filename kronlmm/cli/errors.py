"""Error mapping of the ``kronlmm`` command: messages, logging and exit statuses.

Messages go to stderr through the ``"kronlmm"`` logger: INFO by default, ``-v`` for DEBUG
(and tracebacks on errors), ``-q`` for warnings only, ``-qq`` for errors only. A problem with
the input ends the run with one line ``kronlmm: error: …`` and exit status 1; a command-line
usage error prints the usage and one ``… error: …`` line, with exit status 2; an interrupt
(Ctrl-C, SIGINT) exits with 130 and SIGTERM with 143, both after the run cleaned up (no
output half written, the previous outputs as they were).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from typing import Any, TextIO

import click

__all__ = [
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "one_line",
    "run_logged",
    "show_usage_error",
]

logger = logging.getLogger("kronlmm")

EXIT_OK = 0
"""Exit status of a successful run."""

EXIT_ERROR = 1
"""Exit status for bad input or a failed analysis."""

EXIT_USAGE = 2
"""Exit status for a command-line usage error."""

EXIT_INTERRUPTED = 130
"""Exit status when interrupted (Ctrl-C)."""

EXIT_TERMINATED = 143
"""Exit status when stopped by SIGTERM (128 + 15)."""


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM, so that the run
    unwinds (removes what it staged, releases its lock) as it does on Ctrl-C."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def expected_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the input's or the environment's fault: one line, no traceback."""
    import numpy as np  # here, so that --help and --version stay quick

    return (ValueError, OSError, ImportError, np.linalg.LinAlgError)


class MessageFormatter(logging.Formatter):
    """``kronlmm: …``, ``kronlmm: warning: …``, ``kronlmm: error: …``."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"kronlmm: error: {msg}"
        if record.levelno >= logging.WARNING:
            return f"kronlmm: warning: {msg}"
        return f"kronlmm: {msg}"


def one_line(err: BaseException) -> str:
    """An exception's message on one line (later lines joined with ``"; "``).

    Examples
    --------
    >>> from kronlmm.cli.errors import one_line
    >>> one_line(ValueError("bad input:\\n  column 'x'\\n  row 3"))
    "bad input: column 'x'; row 3"
    """
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    head, rest = lines[0], lines[1:]
    if rest:
        return head.rstrip(":") + ": " + "; ".join(rest)
    return head


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    logger.warning("%s (%s)", message, category.__name__)


def _level(verbose: int, quiet: int) -> int:
    if verbose:
        return logging.DEBUG
    if quiet >= 2:
        return logging.ERROR
    if quiet == 1:
        return logging.WARNING
    return logging.INFO


def run_logged(command: Callable[[], int], verbose: int = 0, quiet: int = 0) -> int:
    """Run a command with kronlmm's messages on stderr and map its errors to exit statuses.

    Parameters
    ----------
    command : callable
        Runs the command, returns its exit status.
    verbose, quiet : int
        ``-v`` / ``-q`` counts.

    Returns
    -------
    int
        The command's status; :data:`EXIT_ERROR` after printing ``kronlmm: error: …`` for
        an exception (with the traceback under ``-v``); :data:`EXIT_INTERRUPTED` on Ctrl-C.

    Examples
    --------
    >>> import contextlib
    >>> import sys
    >>> from kronlmm.cli.errors import run_logged
    >>> def broken() -> int:
    ...     raise ValueError("trait 'x' is constant")
    >>> with contextlib.redirect_stderr(sys.stdout):
    ...     status = run_logged(broken)
    kronlmm: error: trait 'x' is constant
    >>> status
    1
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MessageFormatter())
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(_level(verbose, quiet))
    previous_term = None
    if threading.current_thread() is threading.main_thread():
        previous_term = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _log_warning
            return command()
    except Terminated:
        print("kronlmm: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("kronlmm: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        if not isinstance(err, expected_errors()):  # a bug: still one line
            if verbose:
                traceback.print_exc(file=sys.stderr)
            hint = "" if verbose else "; rerun with -v for the traceback"
            print(
                f"kronlmm: error: internal error ({type(err).__name__}: {one_line(err)}){hint}",
                file=sys.stderr,
            )
            return EXIT_ERROR
        if verbose:
            traceback.print_exc(file=sys.stderr)
        print(f"kronlmm: error: {one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def show_usage_error(err: click.UsageError) -> None:
    """Print a usage error as argparse did: the usage, a hint, then ``PROG: error: …``."""
    ctx: Any = err.ctx
    out = sys.stderr
    if isinstance(err, click.exceptions.NoArgsIsHelpError) and ctx is not None:
        print(ctx.get_help(), file=out)
        commands = ", ".join(sorted(getattr(ctx.command, "commands", {})))
        print(f"{ctx.command_path}: error: a command is required ({commands})", file=out)
        return
    if ctx is not None:
        print(ctx.get_usage(), file=out)
        print(f"Try '{ctx.command_path} --help' for help.", file=out)
        where = ctx.command_path
    else:
        where = "kronlmm"
    print(f"{where}: error: {one_line(ValueError(err.format_message()))}", file=out)
