"""Root pytest configuration: what ``--doctest-modules`` and ``--doctest-glob`` collect.

The docstring examples of every module of ``kronlmm/`` and the ``>>>`` examples of the
narrative pages ``docs/*.rst`` and ``docs/*.md`` run as part of the ordinary suite
(``testpaths`` in setup.cfg).
"""

from __future__ import annotations

import os

# plot examples draw off-screen
os.environ.setdefault("MPLBACKEND", "Agg")

#: Not doctest material: running ``kronlmm/__main__.py`` would run the command line, and
#: ``docs/conf.py`` is Sphinx's configuration; ``docs/_build`` holds Sphinx's output.
collect_ignore = ["kronlmm/__main__.py", "docs/conf.py"]
collect_ignore_glob = ["docs/_build/*"]
