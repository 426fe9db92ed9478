"""The ``kronlmm`` command line: ``kronlmm scan``, ``kronlmm fit-null``, ``kronlmm example``.

Run ``kronlmm --help`` or ``python -m kronlmm.cli --help``. :func:`main` is the entry
point; :func:`build_parser` returns its argument parser.
"""

from __future__ import annotations

from .command import build_parser, main

__all__ = ["build_parser", "main"]
