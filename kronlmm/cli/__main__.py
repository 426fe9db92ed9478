"""``python -m kronlmm.cli``: the ``kronlmm`` command."""

import sys

from .parser import main

sys.exit(main())
