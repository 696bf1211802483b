"""Dates and times named in a text, so a drafted update that names any time but the one computed
in code is caught. A careful net rather than a parser: it would rather throw away a good draft
(the template is used) than let a wrong time reach a customer.
"""

from __future__ import annotations

import re

_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend|weekday"
_DAY_ABBR = r"mon|tues?|wed|thu(?:rs?)?|fri|sat|sun"
# "may" and "march" are words too: they count only next to a number (`_MONTH_ABBR`).
_MONTHS = "january|february|april|june|july|august|september|october|november|december"
_MONTH_ABBR = r"jan|feb|mar|march|apr|may|jun|jul|aug|sept?|oct|nov|dec"
_FEW = r"an?|one|two|three|four|five|six|a few|\d+"
_UNITS = r"minutes?|mins?|hours?|hrs?|days?|business days?|working days?|weeks?|months?"

PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"\b(?:{_DAYS})s?\b",
        rf"\b(?:{_MONTHS})\b",
        rf"\b(?:{_DAY_ABBR})\.?,?\s+\d",
        rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTH_ABBR})\b",
        rf"\b(?:{_MONTH_ABBR})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b",
        r"\b\d{1,2}(?:st|nd|rd|th)\b",
        r"\b\d{1,2}[:.h]\d{2}\b",
        r"\b\d{1,2}\s*(?:am|pm|a\.m\.|p\.m\.)",
        r"\b\d{1,4}[/-]\d{1,2}(?:[/-]\d{1,4})?\b",
        r"\b(?:19|20)\d{2}\b",
        r"\b(?:today|tonight|tomorrow|yesterday|overnight|noon|midday|midnight|o'clock)\b",
        r"\b(?:this|next|last|coming)\s+(?:morning|afternoon|evening|week|month|year)\b",
        r"\bend\s+of\s+(?:the\s+)?(?:day|week|month|business)\b",
        r"\b(?:eod|eow|cob|asap)\b",
        rf"\b(?:in|within|after|under)\s+(?:{_FEW})\s+(?:{_UNITS})\b",
        rf"\b\d+\s+(?:{_UNITS})\b",
        r"\b(?:an?|one|two|three|four|five|six|few|24|48)[- ]hours?\b",
    )
)


def times_named(text: str, *, allowed: str | None = None) -> list[str]:
    """Every date or time `text` names, leaving out each exact `allowed` (the computed time)."""
    if allowed:
        text = text.replace(allowed, " ")
    found: list[str] = []
    for pattern in PATTERNS:
        found.extend(m.group().strip() for m in pattern.finditer(text))
    return found
