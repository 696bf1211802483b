"""Block Kit rendering and Slack text, without a server: escaping, mentions, buttons, manifest."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from bot.commands import grammar as c
from bot.messages import Action, Code, Mention, Message, Strong
from handlers.slack import modals
from handlers.slack import render as rs
from handlers.slack.payloads import SHORTCUT, Click, button_command, plain_text, user_refs
from handlers.slack.profiles import MemoryProfileCache, profile_from_user
from tests.fakes.slack_api import readable

ROOT = Path(__file__).resolve().parent.parent

LIVE = re.compile(r"<[!@#]|<https?:|(?<![\w\u200b])[*_~`][^\s\u200b]")


def test_escape_neutralises_markup() -> None:
    out = rs.escape("<!channel> <@U999|x> &amp; *bold* _it_ ~s~ `c` @here @everyone > quote")
    assert "<" not in out and ">" not in out.replace("&gt;", "")
    assert "*bold*" not in out and "_it_" not in out and "`c`" not in out
    assert "@here" not in out and "@everyone" not in out
    assert readable(out) == "<!channel> <@U999|x> &amp; *bold* _it_ ~s~ `c` @here @everyone > quote"


@given(st.text(max_size=200))
@example("\u200b@here *x*")  # a zero-width space of the user's own: invisible either way
def test_any_user_text_comes_out_inert_and_readable(text: str) -> None:
    out = rs.escape(text)
    assert LIVE.search(out) is None
    assert readable(out) == text.replace("\u200b", "")  # what a person sees of what was typed


def test_segments() -> None:
    msg = Message(
        "x",
        (
            "Hi ",
            Mention("dana", "Dana <B>", "UDANA"),
            " and ",
            Mention("river", "River *R*", None),
            ": ",
            Strong(" C-1 · <Acme> "),
            " ",
            Code("a`b<c>"),
        ),
        actions=(Action("ack", "R-1", "Acknowledge"), Action("shorten", "R-1", "Shorten", "2026")),
    )
    blocks = rs.message_blocks(msg, thread_link="https://acme.slack.com/archives/C1/p1")
    text = blocks[0]["text"]["text"]
    assert "<@UDANA>" in text and "River \u200b*\u200bR\u200b*\u200b" in text
    assert "*C-1 · &lt;Acme&gt;*" in text and "`a'b&lt;c&gt;`" in text
    assert blocks[1]["elements"][0]["text"] == (
        "<https://acme.slack.com/archives/C1/p1|Open the thread>"
    )
    ack, shorten = blocks[2]["elements"]
    assert ack["action_id"] == "ownit_ack" and ack["style"] == "primary"
    assert rs.read_button_value(shorten["value"]) == ("R-1", "2026")
    assert rs.mention(Mention("x", "X", "not-an-id")) == "X"


def test_the_shorten_button_carries_its_instant_not_words() -> None:
    at = datetime(2026, 11, 24, 10, tzinfo=UTC)
    button = rs.button(Action("shorten", "R-1", "Shorten to Tue 10:00", at.isoformat()))
    key, value = rs.read_button_value(button["value"])
    assert button_command(Click("shorten", key, value)) == c.Deadline("R-1", at=at)
    assert button_command(Click("shorten", "R-1", "fri 3pm")) is None  # not a time ownit wrote
    assert button_command(Click("shorten", "R-1", "2026-11-24T10:00:00")) is None  # no offset


def test_long_messages_split_safely() -> None:
    msg = Message("x", ("&" * 7000,))
    blocks = rs.message_blocks(msg)
    assert len(blocks) > 1
    for b in blocks:
        piece = b["text"]["text"]
        assert len(piece) <= rs.SECTION_LIMIT
        assert re.fullmatch(r"(&amp;)+", piece)


def test_dates_localise_with_a_safe_fallback() -> None:
    at = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    out = rs.date(at, "Tue 24 Nov 17:00 GMT|<x>")
    assert out.startswith(f"<!date^{int(at.timestamp())}^")
    assert out.count("|") == 1 and out.count("<") == 1


def test_plain_text_from_slack_markup() -> None:
    text = "hi <@U1|dana> in <#C1|support> see <https://x.io/a|docs> &lt;b&gt; &amp; <!here>"
    assert plain_text(text) == "hi @dana in #support see docs (https://x.io/a) <b> & @here"


def test_user_refs() -> None:
    from bot.commands import grammar as c

    cmd = c.Ask("C-1", c.Ref("user", "U1"), "q", None)
    assert user_refs(cmd) == {"U1"}
    assert user_refs(c.Mine()) == set()


async def test_profile_cache_expires() -> None:
    now = [0.0]
    cache = MemoryProfileCache(clock=lambda: now[0])
    await cache.set("k", {"id": "U1"}, ttl=10)
    assert await cache.get("k") == {"id": "U1"}
    now[0] = 11
    assert await cache.get("k") is None
    p = profile_from_user(
        {"id": "U1", "tz": "Asia/Tokyo", "profile": {"real_name": "Kenji", "email": "K@X.COM"}}
    )
    assert (p.name, p.email, p.tz) == ("Kenji", "k@x.com", "Asia/Tokyo")


def test_modal_submissions_become_commands() -> None:
    from bot.commands import grammar as c

    def view(callback: str, meta: dict[str, str], **values: dict[str, object]) -> dict[str, object]:
        import json

        return {
            "callback_id": callback,
            "private_metadata": json.dumps(meta),
            "state": {"values": {k: {"value": v} for k, v in values.items()}},
        }

    text = {"type": "plain_text_input", "value": "because"}
    assert modals.command(
        modals.REDIRECT,
        view(
            modals.REDIRECT,
            {"key": "R-3"},
            person={"type": "users_select", "selected_user": "U9"},
            reason=text,
        ),
    ) == c.Redirect("R-3", c.Ref("user", "U9"), "because")
    try:
        modals.command(modals.REDIRECT, view(modals.REDIRECT, {"key": "R-3"}, reason=text))
    except modals.FormError as exc:
        assert exc.block == "person"
    else:
        raise AssertionError("a redirect needs someone")


def test_manifest_matches_the_app() -> None:
    manifest = yaml.safe_load((ROOT / "deploy/slack/manifest.yaml").read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/case" and command["should_escape"] is True
    assert command["url"].endswith("/slack/events")
    assert manifest["features"]["shortcuts"][0]["callback_id"] == SHORTCUT
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "app_home_opened", "message.im", "message.channels"} <= events
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    needed = {"chat:write", "commands", "files:write", "im:write", "users:read", "users:read.email"}
    assert needed <= scopes
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_a_long_case_card_lists_open_requests_and_the_latest_closed_ones() -> None:
    from types import SimpleNamespace

    from handlers.slack.card_reading import CARD_REQUESTS, on_card

    at = datetime(2026, 11, 23, 9, tzinfo=UTC)

    def asked(statuses: list[str], due: Any = lambda i: at) -> list[Any]:
        return [
            SimpleNamespace(id=i + 1, status=st_, deadline=due(i)) for i, st_ in enumerate(statuses)
        ]

    statuses = ["answered"] * 25 + ["open", "acknowledged"] + ["answered"] * 3
    statuses[2] = "open"  # an old request still waiting must stay in view
    shown = on_card(asked(statuses))
    ids = [r.id for r in shown]
    assert len(shown) == CARD_REQUESTS and ids == sorted(ids)
    assert {3, 26, 27} <= set(ids)  # every open one
    assert ids[-17:] == list(range(14, 31))  # then the latest closed ones
    assert 4 not in ids
    # More open ones than a card holds: those due soonest, still in the order they were asked.
    crowded = on_card(asked(["open"] * 30, due=lambda i: at + timedelta(hours=30 - i)))
    assert [r.id for r in crowded] == list(range(11, 31))

    line = rs.RequestLine(
        key="R-1", target="billing", asked_by=None, question="refund?", status="answered",
        deadline=at, deadline_text="Mon 09:00",
    )  # fmt: skip
    card = rs.CaseCard(
        key="C-1", customer="Acme", summary="invoice", owner=Mention("alex", "Alex"),
        priority="P3", status="open", promise_at=None, promise_text="",
        requests=[line] * CARD_REQUESTS, more=10,
    )  # fmt: skip
    blocks = rs.card_blocks(card)
    shown_text = readable(" ".join(str(b) for b in blocks))
    assert "and 10 earlier closed requests" in shown_text and "/case status C-1" in shown_text
    assert len(blocks) <= 50
    crowded_card = dataclasses.replace(card, more_open=4)
    shown_text = readable(" ".join(str(b) for b in rs.card_blocks(crowded_card)))
    assert "and 10 more requests (4 open)" in shown_text
