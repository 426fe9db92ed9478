"""``python -m kronlmm.cli``: the ``kronlmm`` command."""

import sys

from .command import main

sys.exit(main())
