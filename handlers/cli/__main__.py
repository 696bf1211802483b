"""`python -m handlers.cli`: the `ownit` command."""

import sys

from handlers.cli.entry import main

sys.exit(main())
