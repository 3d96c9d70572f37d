"""python -m tinymtp train | eval | generate | bench (see tinymtp/cli/main.py)."""

import sys

from .cli.main import main

sys.exit(main())
