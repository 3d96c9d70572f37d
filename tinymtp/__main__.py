"""python -m tinymtp train | eval | generate | bench (see tinymtp/cli.py)."""

import sys

from .cli import main

sys.exit(main())
