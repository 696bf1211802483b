"""What the AI assist costs a person: `/case update` through Slack's endpoint, with the model fast,
hung (beyond the timeout), failing, or not configured.

One ownit (SQLite, the simulated clock, a fake Slack Web API) and the fake OpenAI-compatible
server, in this process. For each mode, N signed `/case update C-1` commands one after the
other; for each, the acknowledgement's time (Slack's 3 s limit) and the time until the draft is
shown (posted to the command's `response_url`). The fake model answers in `--think` seconds
when fast; "hung" never answers, so the draft is the template after `OWNIT_AI_TIMEOUT`.

    .venv/bin/python bench/assist.py                 # 20 commands a mode, timeout 2 s
    .venv/bin/python bench/assist.py -n 50 --timeout 3 --think 0.4
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.openai import FakeOpenAI  # noqa: E402
from tests.fakes.slack_api import FakeSlack, start_ownit  # noqa: E402

TIME = "Tue 24 Nov 17:00 GMT"
ANSWER = {"message": f"Hello [CUSTOMER_1], billing is on it. You will hear from me by {TIME}."}


def ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"p50 {statistics.median(values) * 1000:7.0f} ms  p95 {p95 * 1000:7.0f} ms"


async def mode(name: str, n: int, ai_timeout: float, think: float) -> None:
    model = await FakeOpenAI().start()
    slack = await FakeSlack().start()
    env = {"OWNIT_AI_TIMEOUT": str(ai_timeout)}
    env.update(model.env() if name != "no key" else {"OPENAI_API_KEY": ""})
    with tempfile.TemporaryDirectory() as tmp:
        ws = await start_ownit(f"sqlite:///{tmp}/bench.db", slack, **env)
        try:
            await ws.drive.command("alex", "open Acme Corp: charged twice promise tomorrow 17:00")
            acks, shown, from_model = [], [], 0
            for _ in range(n):
                if name == "fast":
                    model.answer(ANSWER, after=think)
                elif name == "hung":
                    model.slow(3600)
                elif name == "500":
                    model.fail(500, times=5)
                started = time.monotonic()
                r = await ws.drive.command("alex", "update C-1")
                shown.append(time.monotonic() - started)
                acks.append(r.seconds)
                from_model += "Drafted with AI" in r.text()
            print(
                f"{name:8}  ack {ms(acks)}   draft shown {ms(shown)}   "
                f"worded by the model {from_model}/{n}"
            )
        finally:
            await ws.stop()
            await model.close()
            await slack.close()


async def main() -> None:
    logging.disable(logging.WARNING)  # each fallback logs its reason; the figures are the point
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="commands per mode")
    parser.add_argument("--timeout", type=float, default=2.0, help="OWNIT_AI_TIMEOUT")
    parser.add_argument("--think", type=float, default=0.3, help="the fast model's seconds")
    args = parser.parse_args()
    print(f"/case update ×{args.n} a mode; OWNIT_AI_TIMEOUT={args.timeout}s")
    for name in ("no key", "fast", "500", "hung"):
        await mode(name, args.n, args.timeout, args.think)


if __name__ == "__main__":
    asyncio.run(main())
