"""Every round trip one ask makes, in order: `ownit serve` behind the logging wire proxy.

After a warm-up (cases opened, each colleague asked once), the process is left idle for a moment
and then asked `--asks` more times, one a second; the statements of the round trips made from
the first of those asks on are printed (each with the proxy's connection number). What an idle
process does meanwhile (the scheduler's sweeps, lease renewals) is among them, so read the list
with the idle round trips printed first for comparison.

    .venv/bin/python bench/trace_ask.py --asks 1
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ack_latency import drop_database, fresh_database  # noqa: E402
from bench.e2e import WIRE, Asks, Ownit, SlackProcess, meet_colleagues, wait_dms  # noqa: E402
from bench.load import Load  # noqa: E402
from tests.scale_support import free_port, wait_listening  # noqa: E402


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--asks", type=int, default=1)
    p.add_argument("--idle", type=float, default=2.0)
    args = p.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="ownit-trace-"))
    slack = SlackProcess(logs)
    name, url = await fresh_database()
    trace = logs / "trace.log"
    listen, stats = free_port(), free_port()
    proxy = subprocess.Popen(  # noqa: ASYNC220 (started once, before the load)
        [sys.executable, str(WIRE), str(listen), "5432", str(stats), str(trace)]
    )
    wait_listening(listen, proxy)
    target = Ownit(url, slack, logs)
    try:
        port, _ = target.start(url.replace(":5432/", f":{listen}/"))
        asks = Asks(slack.fake, port)
        load = Load([("127.0.0.1", port)])
        await load.closed(iter(asks.opens()), 4, 60)
        await target.opened(url)
        await meet_colleagues(target, port, slack, asks, 300)  # their requests posted too
        await asyncio.sleep(3.0)
        mark = len(trace.read_text().splitlines())
        await asyncio.sleep(args.idle)
        idle = trace.read_text().splitlines()[mark:]
        print(f"--- idle for {args.idle:.0f} s: {len(idle)} round trips")
        print("\n".join(idle))
        mark = len(trace.read_text().splitlines())
        for _ in range(args.asks):
            tokens, batch = asks.asks(1)
            await load.steady(batch, 1.0, 1)
            await wait_dms(slack, tokens, 30)
            await asyncio.sleep(1.0)
        busy = trace.read_text().splitlines()[mark:]
        print(f"--- {args.asks} ask(s), one a second: {len(busy)} round trips")
        print("\n".join(busy))
    finally:
        target.stop()
        proxy.terminate()
        slack.close()
        await drop_database(name)


if __name__ == "__main__":
    asyncio.run(main())
