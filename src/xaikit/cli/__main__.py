"""``python -m xaikit.cli``: the same as the ``xaikit`` command."""

import sys

from xaikit.cli import main

sys.exit(main())
