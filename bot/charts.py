"""The weekly chart: on-time rate and kept promises by week, against the team's target.

Contract with the platform channels (messages carry no binary): a message with a chart has
`msg.extra["chart"]`, a dict with
- `png_b64`: the PNG image, base64-encoded (about 30-60 kB),
- `filename`: e.g. `ownit-weekly-2026-W48.png`,
- `title`: a short title to show with the upload,
- `alt`: a one-line text description for screen readers and text-only clients.
Slack uploads the PNG into the DM (files.getUploadURLExternal / completeUploadExternal), Teams
attaches it as an inline image (`contentType: image/png`, a data URL), the console prints `alt`.
`decode_chart(msg.extra)` gives the bytes back.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, no display),
so it is safe in a worker thread. matplotlib is imported when a chart is drawn, not with this
module: it costs every `ownit` command a third of a second, and most never draw.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.figures import WeekPoint

if TYPE_CHECKING:  # drawing imports it (see above)
    from matplotlib.figure import Figure

WIDTH, HEIGHT, DPI = 8.0, 4.0, 100  # 800 x 400 pixels


def series(points: Sequence[WeekPoint]) -> dict[str, list[Any]]:
    """The data plotted: week labels, and the two rates in percent (None where nothing counted)."""

    def pct(x: float | None) -> float | None:
        return round(100 * x, 1) if x is not None else None

    return {
        "weeks": [p.start.strftime("%d %b") for p in points],
        "on_time": [pct(p.on_time_rate) for p in points],
        "promises_kept": [pct(p.promise_rate) for p in points],
    }


def figure(points: Sequence[WeekPoint], *, target: float, title: str) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    data = series(points)
    x = list(range(len(points)))
    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    nan = float("nan")
    ax.plot(
        x,
        [v if v is not None else nan for v in data["on_time"]],
        marker="o",
        color="#1f77b4",
        label="answered on time",
    )
    ax.plot(
        x,
        [v if v is not None else nan for v in data["promises_kept"]],
        marker="s",
        color="#2ca02c",
        label="customer promises kept",
    )
    ax.axhline(100 * target, color="#d62728", linestyle="--", label=f"target {target:.0%}")
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_xticks(x, data["weeks"], rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("week starting")
    ax.set_title(title, fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.22)  # no tight_layout: one draw
    return fig


def render_png(points: Sequence[WeekPoint], *, target: float, title: str) -> bytes:
    buf = io.BytesIO()
    figure(points, target=target, title=title).savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def alt_text(points: Sequence[WeekPoint], *, target: float) -> str:
    data = series(points)

    def last(values: list[float | None]) -> str:
        known = [v for v in values if v is not None]
        return f"{known[-1]:.0f} %" if known else "no data"

    return (
        f"On time and promises kept over {len(points)} weeks; last week on time "
        f"{last(data['on_time'])}, promises kept {last(data['promises_kept'])}, "
        f"target {target:.0%}."
    )


def chart_extra(
    points: Sequence[WeekPoint], *, target: float, title: str, filename: str
) -> dict[str, Any]:
    """The `extra["chart"]` entry of a message (see the contract above)."""
    png = render_png(points, target=target, title=title)
    return {
        "png_b64": base64.b64encode(png).decode("ascii"),
        "filename": filename,
        "title": title,
        "alt": alt_text(points, target=target),
    }


def decode_chart(extra: dict[str, Any]) -> bytes | None:
    chart = extra.get("chart")
    if not isinstance(chart, dict) or "png_b64" not in chart:
        return None
    return base64.b64decode(chart["png_b64"])
