"""``python -m refacing_lib``: the ``refacing`` command (:mod:`refacing_lib.course.cli`)."""

import sys

from refacing_lib.course.cli import main

sys.exit(main())
