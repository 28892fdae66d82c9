"""``python -m tools.app_contract``: see cli.py."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
