"""``python -m invtransfer ...``: the same commands as the ``invtransfer`` console script."""

import sys

from invtransfer.cli import main

sys.exit(main())
