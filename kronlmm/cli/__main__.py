"""``python -m kronlmm.cli``: the ``kronlmm`` command."""

import sys

from .main import main

sys.exit(main())
