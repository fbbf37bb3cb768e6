"""``python -m offerflow``: the same as the ``offerflow`` command."""

import sys

from offerflow.cli import main

sys.exit(main())
