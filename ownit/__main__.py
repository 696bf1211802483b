import sys

from ownit.bot.cli import main

sys.exit(main())
