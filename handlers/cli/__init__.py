"""`ownit`, the command line: run, console, serve, demo, doctor, migrate, the clocks, report,
export and import, settings and the Teams package. One module per job; `entry.main` picks."""

from handlers.cli.entry import main

__all__ = ["main"]
