"""``python -m memcg_emu``: the memcg-emu command line."""
import sys

from .cli import main

sys.exit(main())
