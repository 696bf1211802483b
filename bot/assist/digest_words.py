"""Three sentences on a digest's period, above its figures. The figures stay code's: the model
reads the digest as data and writes words only — a sentence with a number, a date or a time in
it is refused, and the digest goes out as it was."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, Field

from bot.assist.model import Model
from bot.assist.times import times_named
from bot.messages import Message, Segment, sentence

FEATURE = "digest_period"
_DIGIT = re.compile(r"\d")


class PeriodWords(BaseModel):
    first: str = Field(description="what went well")
    second: str = Field(description="what slipped")
    third: str = Field(description="what to look at next")


def acceptable(words: PeriodWords) -> str | None:
    said = [words.first, words.second, words.third]
    if any(not s.strip() or len(s) > 300 for s in said):
        return "a sentence empty or too long"
    if any(_DIGIT.search(s) or times_named(s) for s in said):
        return "a sentence with a figure, a date or a time"
    return None


async def period_words(model: Model, digest: Message, *, now: datetime) -> str | None:
    """The three sentences, checked, or None (the digest goes out without them)."""
    head, _, figures = digest.plain().partition("\n")
    answer = await model.structured(
        feature=FEATURE,
        prompt="digest_period",
        variables={"period": head, "figures": figures},
        schema=PeriodWords,
        now=now,
    )
    if answer is None:
        return None
    why = acceptable(answer)
    if why is not None:
        model.rejected(FEATURE, "unusable", why)
        return None
    return " ".join(" ".join(s.split()) for s in (answer.first, answer.second, answer.third))


def with_words(digest: Message, words: str) -> Message:
    """The digest with the sentences under its title line, above its figures."""
    segments: list[Segment] = list(digest.segments)
    for i, seg in enumerate(segments):
        if isinstance(seg, str) and "\n" in seg:
            before, _, after = seg.partition("\n")
            said = sentence("digest_period_words", words=words)
            segments[i : i + 1] = [before + "\n" + said + "\n" + after]
            break
    else:
        segments.append("\n" + sentence("digest_period_words", words=words))
    return Message(
        digest.kind,
        tuple(segments),
        case=digest.case,
        request=digest.request,
        actions=digest.actions,
        private=digest.private,
        extra=digest.extra,
    )


async def worded(model: Model | None, digest: Message, *, now: datetime) -> Message:
    """The digest with its three sentences when the model gives good ones, else as it was."""
    if model is None or not model.on:
        return digest
    words = await period_words(model, digest, now=now)
    return digest if words is None else with_words(digest, words)
