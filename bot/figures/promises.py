"""The promise outcomes of the cases resolved in a period, as extra columns of the resolved-cases
query both figure families run (one scope, or everyone at once).

Counted per promise: each case's last one is kept or broken (`Case.promise_kept`); the earlier
ones it replaced were renegotiated (moved before they passed) or broken (moved after). Of the
cases renegotiated at least once, how many then kept their last promise is the measure of an
honest new time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func
from sqlmodel import col

from bot.figures.model import Figures
from bot.figures.query import ones
from storage.tables import Case


def promise_outcomes() -> tuple[Any, ...]:
    """Renegotiations, earlier breaks, cases renegotiated and decided, those of them kept."""
    renegotiated = col(Case.promise_renegotiations) > 0
    return (
        func.coalesce(func.sum(col(Case.promise_renegotiations)), 0),
        func.coalesce(func.sum(col(Case.promise_breaks)), 0),
        ones(and_(renegotiated, col(Case.promise_kept).is_not(None))),
        ones(and_(renegotiated, col(Case.promise_kept).is_(True))),
    )


def take_outcomes(f: Figures, values: Sequence[int]) -> None:
    """Add the columns of `promise_outcomes` to figures that hold the last promises' counts."""
    renegotiated, breaks, cases, kept = values
    f.promises_renegotiated = renegotiated
    f.promises_broken += breaks
    f.renegotiated_cases = cases
    f.renegotiated_kept = kept
