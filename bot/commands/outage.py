"""Telling a database that cannot be reached from any other failure of a command.

An unreachable database gets the person a clear "try again" (nothing was written: the
transaction never committed); any other error is a bug and is raised.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.messages import sentence


def database_down() -> str:
    return sentence("cmd_database_down")


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database could not be reached."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, IntegrityError):
            return False
        if isinstance(seen, OperationalError | InterfaceError | PoolTimeout):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(
            seen,
            asyncpg.ConnectionDoesNotExistError
            | asyncpg.PostgresConnectionError
            | asyncpg.InterfaceError
            | asyncpg.CannotConnectNowError
            | OSError
            | TimeoutError,
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
