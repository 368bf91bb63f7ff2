"""``python -m refacing_lib``: the ``refacing`` command (:mod:`refacing_lib.cli`)."""

import sys

from .cli import main

sys.exit(main())
