"""The one way ownit talks to a language model: `Model.structured`.

Every feature asks for a pydantic-validated answer through the client's structured-output
helper, with the client's own timeout and retries. Whatever goes wrong — no key, the day's budget
spent, a timeout, 429, 500, JSON that is not the schema, a refusal — the answer is None and the
caller uses its template. The reason is logged once and counted in `/metrics`; nobody waits
longer than the configured timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import openai
from pydantic import BaseModel, ValidationError

from bot.assist import budget
from bot.assist.prompts import render
from bot.assist.redaction import Redactor
from storage.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class ModelConfig:
    """What the settings say about the model (`OPENAI_*`, `AZURE_OPENAI_*`, `OWNIT_AI_*`)."""

    api_key: str | None = None
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    azure_endpoint: str | None = None
    azure_api_key: str | None = None
    api_version: str = "2024-10-21"
    timeout: float = 5.0
    daily_tokens: int = 200_000
    redact: bool = True
    max_retries: int = 1

    @property
    def on(self) -> bool:
        if self.azure_endpoint:
            return bool(self.azure_api_key or self.api_key)
        return bool(self.api_key)


class Counters(Protocol):
    """The model's metrics (`bot.runtime.metrics.Metrics` has them)."""

    ai_tokens: Any
    ai_seconds: Any
    ai_calls: Any


def make_client(config: ModelConfig) -> openai.AsyncOpenAI:
    """The OpenAI or Azure OpenAI client, with the configured timeout and retries."""
    if config.azure_endpoint:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=config.azure_endpoint,
            api_key=config.azure_api_key or config.api_key,
            api_version=config.api_version,
            timeout=config.timeout,
            max_retries=config.max_retries,
        )
    return openai.AsyncOpenAI(
        api_key=config.api_key,
        base_url=config.base_url,
        timeout=config.timeout,
        max_retries=config.max_retries,
    )


def why(exc: BaseException) -> str:
    """A failure as the outcome label of `ownit_ai_calls`."""
    match exc:
        case TimeoutError() | openai.APITimeoutError():
            return "timeout"
        case openai.RateLimitError():
            return "rate_limited"
        case openai.APIStatusError() if exc.status_code >= 500:
            return "server_error"
        case openai.APIStatusError():
            return "refused_request"
        case openai.APIConnectionError():
            return "unreachable"
        case openai.LengthFinishReasonError() | openai.ContentFilterFinishReasonError():
            return "cut_short"
        case ValidationError() | ValueError():
            return "malformed"
    return "error"


class Model:
    """The configured model, or none (`on` is False): then every call answers None at once."""

    def __init__(self, config: ModelConfig, *, db: Database, metrics: Counters) -> None:
        self.config = config
        self.db = db
        self.metrics = metrics
        self.client = make_client(config) if config.on else None
        self._told_off: set[str] = set()

    @property
    def on(self) -> bool:
        return self.client is not None

    def first_time_off(self, who: str) -> bool:
        """True once per person (and process) while the assist is off: where a feature would
        have used the model, that person is told once that it is off, then never again."""
        if self.on or who in self._told_off:
            return False
        self._told_off.add(who)
        return True

    async def structured(
        self,
        *,
        feature: str,
        prompt: str,
        variables: Mapping[str, Any],
        schema: type[T],
        now: datetime,
        org: str = budget.ORG,
        private: Iterable[str] = (),
    ) -> T | None:
        """The model's answer to the prompt `prompt` filled with `variables`, as `schema`, or
        None (the caller falls back to its template). `private`: names (customers') that never
        leave in the prompt when redaction is on; they are put back in the answer."""
        if self.client is None:
            self._fallback(feature, "off", None)
            return None
        try:
            spent = await budget.spent(self.db, org=org, now=now)
        except Exception as exc:  # the budget cannot be read: no call, as if it were spent
            self._fallback(feature, "budget", f"the budget could not be read: {exc}")
            return None
        if spent >= self.config.daily_tokens:
            self._fallback(feature, "budget", "the day's token budget is spent")
            return None
        redactor = Redactor(private) if self.config.redact else None
        system, user = render(prompt, dict(variables))
        if redactor is not None:
            system, user = redactor.hide(system), redactor.hide(user)
        started = time.perf_counter()
        try:
            # The whole wait, retries included, stays within the timeout.
            async with asyncio.timeout(self.config.timeout):
                completion = await self.client.chat.completions.parse(
                    model=self.config.model,
                    messages=[
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                    response_format=schema,
                    temperature=0.2,
                )
        except Exception as exc:
            self.metrics.ai_seconds.labels(feature).observe(time.perf_counter() - started)
            self._fallback(feature, why(exc), f"{type(exc).__name__}: {exc}")
            return None
        self.metrics.ai_seconds.labels(feature).observe(time.perf_counter() - started)
        await self._count(feature, org, now, completion.usage)
        choice = completion.choices[0].message if completion.choices else None
        if choice is None or choice.refusal or choice.parsed is None:
            reason = f"refused: {choice.refusal}" if choice and choice.refusal else "no answer"
            self._fallback(feature, "refusal" if choice and choice.refusal else "empty", reason)
            return None
        answer = choice.parsed
        if redactor is not None:
            try:
                answer = schema.model_validate(redactor.restore(answer.model_dump()))
            except ValidationError as exc:
                self._fallback(feature, "malformed", str(exc))
                return None
        self.metrics.ai_calls.labels(feature, "ok").inc()
        return answer

    async def _count(self, feature: str, org: str, now: datetime, usage: Any) -> None:
        if usage is None:
            return
        prompt, completion = int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)
        self.metrics.ai_tokens.labels(feature, "prompt").inc(prompt)
        self.metrics.ai_tokens.labels(feature, "completion").inc(completion)
        try:
            await budget.add(self.db, org=org, now=now, tokens=prompt + completion)
        except Exception as exc:  # the answer is still good; the count is best effort
            log.warning("could not count %s model tokens: %s", prompt + completion, exc)

    def rejected(self, feature: str, outcome: str, reason: str) -> None:
        """A feature threw away an answer its checks refused (the template is used)."""
        self.metrics.ai_calls.labels(feature, outcome).inc()
        log.warning("model answer for %s refused: %s; the template is used", feature, reason)

    def _fallback(self, feature: str, outcome: str, reason: str | None) -> None:
        self.metrics.ai_calls.labels(feature, outcome).inc()
        if reason is not None:
            log.warning("model call for %s: %s; the template is used", feature, reason)
        return None

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
