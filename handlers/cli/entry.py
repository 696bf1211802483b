"""`ownit`'s entry point: read the settings, set up the log, run one sub-command, and turn what
went wrong into one line and an exit status (2: the configuration or the input, 3: the
database is unreachable, 1: anything else), with every secret hidden."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.directory import OrgFileError
from bot.messages import sentence
from bot.runtime.config import ConfigError, Settings, load_settings
from handlers import logs
from handlers.cli import database, event_loop, serving, settings_doc, transfer
from handlers.cli.doctor import doctor
from handlers.cli.parser import parser
from handlers.redaction import Redactor
from storage.db import DatabaseUrlError


def _teams_package(settings: Settings, args: argparse.Namespace) -> None:
    from handlers.teams.package import build, check_domain

    app_id = settings.microsoft_app_id or ""
    domain = check_domain(args.domain) if app_id else args.domain or ""
    print(build(Path(args.output), app_id, domain=domain))


def _run(settings: Settings, args: argparse.Namespace, redact: Redactor) -> int:
    match args.cmd:
        case "console":
            event_loop.run(serving.console(settings, args.actor))
        case "serve":
            event_loop.run(serving.serve(settings))
        case "demo":
            from handlers.console.demo import play

            asyncio.run(play())
        case "doctor":
            return asyncio.run(doctor(settings, print, redact))
        case "settings":
            sys.stdout.write(settings_doc.markdown() if args.markdown else settings_doc.plain())
        case "migrate":
            asyncio.run(database.migrate_command(settings))
        case "clock":
            asyncio.run(database.clock(settings, args))
        case "report":
            asyncio.run(database.report_command(settings, args))
        case "export":
            transfer.export_command(settings, args)
        case "import":
            transfer.import_command(settings, args)
        case "teams-package":
            _teams_package(settings, args)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    redact = Redactor()  # until the settings name the secrets: URL passwords only
    settings: Settings | None = None
    try:
        settings = load_settings()
        redact = Redactor(settings.secrets)
        level = settings.log_level if args.cmd == "serve" else logging.WARNING
        logs.setup(level, settings.log_format, redact)
        if args.cmd == "run":
            args.cmd = "serve" if settings.has_chat else "console"
        return _run(settings, args, redact)
    except (ConfigError, OrgFileError, DatabaseUrlError) as exc:
        print(redact(f"ownit: {exc}"), file=sys.stderr)
        return 2
    except (OSError, DBAPIError) as exc:  # at start: nothing was written, a supervisor retries
        url = settings.database_url if settings else ""
        where = make_url(url).render_as_string(hide_password=True) if url else "?"
        print(
            redact(sentence("cli_database_unreachable", where=where, why=str(exc))), file=sys.stderr
        )
        return 3
    except KeyboardInterrupt:
        return 130
    except Exception:  # what Python would print and exit with, but with the secrets hidden
        sys.stderr.write(redact(traceback.format_exc()))
        return 1
