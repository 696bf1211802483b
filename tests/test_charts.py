"""The weekly chart is a real PNG of the expected size, plotting the expected series."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

from bot import charts
from bot.figures import WeekPoint
from bot.messages import Message

PNG = b"\x89PNG\r\n\x1a\n"


def points() -> list[WeekPoint]:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    raw = [(10, 9, 4, 4), (0, 0, 0, 0), (8, 6, 5, 3), (20, 19, 2, 1)]
    return [
        WeekPoint(start + timedelta(weeks=i), due, ok, decided, kept)
        for i, (due, ok, decided, kept) in enumerate(raw)
    ]


def test_series_are_the_weekly_rates() -> None:
    data = charts.series(points())
    assert data["weeks"] == ["02 Nov", "09 Nov", "16 Nov", "23 Nov"]
    assert data["on_time"] == [90.0, None, 75.0, 95.0]
    assert data["promises_kept"] == [100.0, None, 60.0, 50.0]


def test_figure_plots_the_series_and_the_target() -> None:
    fig = charts.figure(points(), target=0.9, title="t")
    ax = fig.axes[0]
    on_time, kept, target = ax.lines
    assert [round(v, 1) for v in on_time.get_ydata() if v == v] == [90.0, 75.0, 95.0]
    assert [round(v, 1) for v in kept.get_ydata() if v == v] == [100.0, 60.0, 50.0]
    assert list(target.get_ydata()) == [90.0, 90.0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "answered on time",
        "customer promises kept",
        "target 90%",
    ]


def test_png_signature_and_dimensions_and_message_contract() -> None:
    extra = charts.chart_extra(points(), target=0.9, title="Billing", filename="w.png")
    msg = Message.from_dict(Message("digest", ("x",), extra={"chart": extra}).to_dict())
    png = charts.decode_chart(msg.extra)
    assert png is not None and png.startswith(PNG)
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (800, 400)
    assert extra["filename"] == "w.png" and "target 90%" in extra["alt"]
    assert charts.decode_chart({}) is None
