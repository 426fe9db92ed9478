"""The ``kronlmm`` command line (entry point :func:`kronlmm.cli.main.main`).

Run ``kronlmm --help``, ``python -m kronlmm.cli --help`` or ``python -m kronlmm.cli.main``.
The command is not imported with the package, so ``python -m kronlmm.cli.main`` runs cleanly;
``kronlmm.cli.main`` (the function) is still reachable as an attribute.
"""

from __future__ import annotations

from typing import Any

__all__ = ["main"]


def __getattr__(name: str) -> Any:
    if name == "main":
        from .main import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
