"""The `ownit` command's arguments: one sub-command per job."""

from __future__ import annotations

import argparse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ownit", description="One owner per customer issue.")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="the console without chat credentials, else the server")
    run.add_argument("--as", dest="actor", default=None, help="who you are at first (console)")
    con = sub.add_parser("console", help="the local console (reads a script from stdin if piped)")
    con.add_argument("--as", dest="actor", default=None, help="who you are at first")
    sub.add_parser("serve", help="the web server on PORT (Slack, Teams, health)")
    sub.add_parser("demo", help="play the classic story on a simulated clock")
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("doctor", help="check the configuration before going live")
    settings = sub.add_parser("settings", help="every setting with its default and meaning")
    settings.add_argument("--markdown", action="store_true", help="as the README's table")
    clock = sub.add_parser("clock", help="the clocks: real, or simulated (OWNIT_CLOCK=sim)")
    clock_sub = clock.add_subparsers(dest="clock_cmd", required=True)
    clock_sub.add_parser("show")
    adv = clock_sub.add_parser("advance")
    adv.add_argument("duration", help="e.g. 3h, 30m, 1d2h")
    rep = sub.add_parser("report", help="export managers' figures as CSV or JSON")
    rep.add_argument("--since", required=True, help="first day, e.g. 2026-10-01")
    rep.add_argument("--until", default=None, help="day after the last (default: now)")
    rep.add_argument("--format", dest="fmt", choices=("csv", "json"), default="csv")
    rep.add_argument("--period", choices=("all", "week"), default="all")
    rep.add_argument("--output", "-o", default=None, help="a file (default: standard output)")
    exp = sub.add_parser("export", help="all data of DATABASE_URL as JSON lines")
    exp.add_argument("--output", "-o", default=None, help="a file (default: standard output)")
    imp = sub.add_parser("import", help="load an export into DATABASE_URL (empty unless --replace)")
    imp.add_argument("file", help="the export (- for standard input)")
    imp.add_argument("--replace", action="store_true", help="delete what the database holds first")
    tp = sub.add_parser("teams-package", help="build the Teams app package (zip) to upload")
    tp.add_argument("--output", "-o", default="ownit-teams.zip", help="the zip to write")
    tp.add_argument("--domain", default=None, help="the host ownit is served from (HTTPS)")
    return p
