"""The ``kronlmm`` command line: ``kronlmm scan``, ``kronlmm fit-null``, ``kronlmm example``.

Run ``kronlmm --help`` or ``python -m kronlmm.cli --help``. Built on Click: :data:`cli` is
the command group (test it in-process with :class:`click.testing.CliRunner`), :func:`main`
the entry point that returns the exit status.

=====================  ================================================================
module                 concept
=====================  ================================================================
``parser``             the Click group, its subcommands and options; :func:`main`
``commands``           what each subcommand does with its parsed options
``outputs``            output naming (``--out PREFIX`` → files) and writing
``errors``             messages, logging, error → exit status mapping
=====================  ================================================================
"""

from __future__ import annotations

from .outputs import DEFAULT_PREFIX, OUTPUT_SUFFIXES, output_paths
from .parser import cli, main

__all__ = ["DEFAULT_PREFIX", "OUTPUT_SUFFIXES", "cli", "main", "output_paths"]
