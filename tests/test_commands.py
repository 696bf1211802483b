"""The `/case …` grammar: examples for every command and error, and properties that fuzz it."""

from __future__ import annotations

import re
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.admin.commands import (
    AddPerson,
    AddTeam,
    ChangePolicy,
    ConfigureDigest,
    Link,
    SetAdmin,
    SetBackup,
    SetCalendar,
    SetDefaultDeadline,
    SetManager,
    SetMember,
    SetTarget,
    ShowPolicy,
)
from bot.commands.grammar import (
    MAX_CUSTOMER,
    MAX_TEXT,
    Ack,
    AdminCommand,
    Answer,
    Ask,
    Away,
    Command,
    Deadline,
    Decide,
    Digest,
    Help,
    Mine,
    MoreTime,
    Open,
    OpenForm,
    Promise,
    Rate,
    Redirect,
    Ref,
    Reopen,
    Resolve,
    Status,
    Transfer,
    Update,
    UsageError,
    parse,
    parse_ref,
    usage,
)

# A stand-in for the real deadline parser (ownit/bot/deadlines.py), which tests must not import.
_WHEN = re.compile(
    r"(tomorrow|eod|monday|fri|friday|next business day|\d{1,2}h)"
    r"( \d{1,2}(:\d\d|am|pm))?",
    re.IGNORECASE,
)


def is_when(s: str) -> bool:
    return _WHEN.fullmatch(s.strip()) is not None


def p(text: str, **kw: typing.Any) -> Command:
    return parse(text, is_when=is_when, **kw)


def err(text: str, **kw: typing.Any) -> UsageError:
    with pytest.raises(UsageError) as info:
        parse(text, is_when=is_when, **kw)
    return info.value


DANA = Ref("user", "U123ABC", "dana")
BILLING = Ref("name", "billing")

# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("open ACME: invoice is wrong", Open("ACME", "invoice is wrong", None, None)),
        (
            "open ACME Corp: invoice is wrong promise tomorrow 17:00 p2",
            Open("ACME Corp", "invoice is wrong", "tomorrow 17:00", "P2"),
        ),
        ("open ACME: x P1 promise fri 3pm", Open("ACME", "x", "fri 3pm", "P1")),
        ("open ACME: refund late p4", Open("ACME", "refund late", None, "P4")),
        (
            "open ACME: needs a promise of refund",
            Open("ACME", "needs a promise of refund", None, None),
        ),
        ("open ACME: time: 10:00 is wrong", Open("ACME", "time: 10:00 is wrong", None, None)),
        (
            "open  ACME \n Corp :  line one\n\n  line two  ",
            Open("ACME Corp", "line one\n\n  line two", None, None),
        ),
        ("open ACME: p5 is not a priority", Open("ACME", "p5 is not a priority", None, None)),
        ("open", OpenForm()),
        ("OPEN   ", OpenForm()),
    ],
)
def test_open(text: str, expected: Command) -> None:
    assert p(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("open ACME invoice wrong", "colon"),
        ("open : invoice wrong", "customer"),
        ("open ACME:   ", "issue"),
        ("open ACME: p1", "issue"),
        ("open ACME: promise tomorrow", "issue"),
    ],
)
def test_open_errors(text: str, needle: str) -> None:
    e = err(text)
    assert needle in e.message
    assert "/case open <customer>: <summary>" in e.usage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "ask C-4 <@U123ABC|dana> is the refund out? by eod",
            Ask("C-4", DANA, "is the refund out?", "eod"),
        ),
        (
            "ask c4 billing invoice sent by finance",
            Ask("C-4", BILLING, "invoice sent by finance", None),
        ),
        (
            "ask billing invoice sent by finance",
            Ask(None, BILLING, "invoice sent by finance", None),
        ),
        (
            "ask C-4 @dana done by monday? by tomorrow 17:00",
            Ask("C-4", Ref("name", "dana"), "done by monday?", "tomorrow 17:00"),
        ),
        (
            "ask C-4 @dana done by monday? by someone",
            Ask("C-4", Ref("name", "dana"), "done by monday? by someone", None),
        ),
        (
            "ask C-9 <!subteam^S0123|@billing> line 1\n  line 2\nBY   Tomorrow\n17:00",
            Ask("C-9", Ref("team", "S0123", "billing"), "line 1\n  line 2", "Tomorrow 17:00"),
        ),
        ("ask C-1 <@U1> hi", Ask("C-1", Ref("user", "U1"), "hi", None)),
        ("ask C-1 @dana, can you check?", Ask("C-1", Ref("name", "dana"), "can you check?", None)),
        ("ask C-1 <@U1|dana>: check", Ask("C-1", Ref("user", "U1", "dana"), "check", None)),
        (
            "ask C-1 dana.m_x-1 standby mode",
            Ask("C-1", Ref("name", "dana.m_x-1"), "standby mode", None),
        ),
    ],
)
def test_ask(text: str, expected: Command) -> None:
    assert p(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("ask", "whom to ask"),
        ("ask C-4", "needs a person or team"),
        ("ask C-4 @dana", "What do you want to ask"),
        ("ask C-4 @dana   by eod", "What do you want to ask"),
        ("ask R-7 @dana hi", "needs a case key like C-42, not `R-7`"),
        ("ask C-4 @channel hi", "whole channel"),
        ("ask C-4 <!here> hi", "whole channel"),
        ("ask C-4 what's up", "not `what's`"),
        ("ask C-4 C-5 hi", "not `C-5`"),
    ],
)
def test_ask_errors(text: str, needle: str) -> None:
    e = err(text)
    assert needle in e.message
    assert "/case ask <case> <@person or team> <question> [by <when>]" in e.usage


def test_promise() -> None:
    assert p("promise C-4 tomorrow 17:00") == Promise("C-4", "tomorrow 17:00", None)
    assert p("promise C-4 fri 3pm a refund and a call") == Promise(
        "C-4", "fri 3pm", "a refund and a call"
    )
    assert p("promise C-4 next business day the new invoice\nand a credit") == Promise(
        "C-4", "next business day", "the new invoice\nand a credit"
    )
    assert p("promise C-4 kept") == Promise("C-4", None, None, kept=True)
    assert p("promise c-4 KEPT") == Promise("C-4", None, None, kept=True)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("promise", "needs a case key"),
        ("promise C-4", "Say when"),
        ("promise C-4 someday soon", "I can't read a time in `someday soon`"),
        ("promise R-4 tomorrow", "needs a case key like C-42, not `R-4`"),
    ],
)
def test_promise_errors(text: str, needle: str) -> None:
    e = err(text)
    assert needle in e.message
    assert "/case promise <case> <when> [what was promised]" in e.usage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status C-42", Status("C-42")),
        ("Status c42", Status("C-42")),
        ("update C-3", Update("C-3")),
        ("reopen C-3", Reopen("C-3")),
        ("mine", Mine()),
        ("MINE", Mine()),
        ("resolve C-3", Resolve("C-3", None)),
        ("resolve C-3  refunded\n  in full ", Resolve("C-3", "refunded\n  in full")),
    ],
)
def test_case_commands(text: str, expected: Command) -> None:
    assert p(text) == expected


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        ("status 42", "`status` needs a case key like C-42, not `42`.", "/case status <case>"),
        ("status", "`status` needs a case key like C-42.", "/case status <case>"),
        ("status C-4 please", "please", "/case status <case>"),
        ("update R-4", "not `R-4`", "/case update <case>"),
        ("reopen C-4 now", "now", "/case reopen <case>"),
        ("mine all", "nothing more", "/case mine"),
        ("resolve", "needs a case key", "/case resolve <case> [note]"),
    ],
)
def test_case_command_errors(text: str, needle: str, line: str) -> None:
    e = err(text)
    assert needle in e.message
    assert line in e.usage


def test_transfer() -> None:
    assert p("transfer C-4 <@U123ABC|dana> I'm on leave") == Transfer("C-4", DANA, "I'm on leave")
    assert p("transfer C-4 @dana she knows the account") == Transfer(
        "C-4", Ref("name", "dana"), "she knows the account"
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("transfer C-4 @dana", "Say why"),
        ("transfer C-4", "needs a person"),
        ("transfer C-4 <!subteam^S1|@billing> they own it", "not a team"),
        ("transfer R-4 @dana x", "needs a case key"),
    ],
)
def test_transfer_errors(text: str, needle: str) -> None:
    e = err(text)
    assert needle in e.message
    assert "/case transfer <case> <@person> <reason>" in e.usage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ack R-7", Ack("R-7", None)),
        ("ack r7 eta tomorrow 17:00", Ack("R-7", "tomorrow 17:00")),
        ("ack R-7 ETA eod", Ack("R-7", "eod")),
        ("ack R-7 eod", Ack("R-7", "eod")),
        ("answer R-7 yes, sent\n\non Monday  ", Answer("R-7", "yes, sent\n\non Monday")),
        (
            "more-time R-7 tomorrow 17:00 waiting on the vendor",
            MoreTime("R-7", "tomorrow 17:00", "waiting on the vendor"),
        ),
        ("moretime R-7 fri need\nlogs", MoreTime("R-7", "fri", "need\nlogs")),
        ("More Time R-7 eod busy", MoreTime("R-7", "eod", "busy")),
        ("more  time R-7 next business day audit", MoreTime("R-7", "next business day", "audit")),
        ("accept R-7", Decide("R-7", True, None)),
        ("decline R-7", Decide("R-7", False, None)),
        ("decline R-7 the customer can't wait", Decide("R-7", False, "the customer can't wait")),
        ("deadline R-7 fri 3pm", Deadline("R-7", "fri 3pm")),
        ("redirect R-7 billing it's an invoice", Redirect("R-7", BILLING, "it's an invoice")),
        (
            "redirect R-7 <!subteam^S9|@ops> outage",
            Redirect("R-7", Ref("team", "S9", "ops"), "outage"),
        ),
    ],
)
def test_request_commands(text: str, expected: Command) -> None:
    assert p(text) == expected


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        ("ack C-4", "`ack` needs a request key like R-7, not `C-4`.", "/case ack <request>"),
        ("ack", "`ack` needs a request key like R-7.", "/case ack <request>"),
        ("ack R-7 eta", "needs a time", "/case ack <request>"),
        ("ack R-7 eta whenever", "I can't read a time in `whenever`", "/case ack <request>"),
        ("ack R-7 thanks", "eta <when>", "/case ack <request>"),
        ("answer R-7", "Write your answer", "/case answer <request> <text>"),
        ("answer C-7 yes", "request key", "/case answer <request> <text>"),
        ("more-time R-7 tomorrow", "say why you need more time", "/case more-time <request>"),
        ("more-time R-7", "until when", "/case more-time <request>"),
        ("more-time R-7 later please", "I can't read a time in `later please`", "/case more-time"),
        ("accept C-7", "request key", "/case accept <request>"),
        ("decline", "request key", "/case decline <request> [note]"),
        ("deadline R-7", "needs a time", "/case deadline <request> <when>"),
        ("deadline R-7 soonish", "I can't read a time", "/case deadline <request> <when>"),
        ("redirect R-7 billing", "Say why", "/case redirect <request>"),
        ("redirect R-7 @everyone help", "whole channel", "/case redirect <request>"),
    ],
)
def test_request_command_errors(text: str, needle: str, line: str) -> None:
    e = err(text)
    assert needle in e.message
    assert line in e.usage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("away until monday", Away("monday", None)),
        ("away monday", Away("monday", None)),
        ("away until tomorrow 17:00 backup <@U123ABC|dana>", Away("tomorrow 17:00", DANA)),
        ("away until fri backup billing", Away("fri", BILLING)),
        ("away off", Away(None, None)),
        ("AWAY OFF", Away(None, None)),
        ("back", Away(None, None)),
    ],
)
def test_away(text: str, expected: Command) -> None:
    assert p(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("away", "until when"),
        ("away until", "until when"),
        ("away until whenever", "I can't read a time"),
        ("away until monday backup", "`backup` takes one person"),
        ("away until monday backup dana and lee", "`backup` takes one person"),
        ("away backup @dana", "until when"),
        ("back soon", "nothing more"),
    ],
)
def test_away_errors(text: str, needle: str) -> None:
    e = err(text)
    assert needle in e.message
    assert "/case away until <when> [backup <@person>]" in e.usage


def test_digest_rate_admin() -> None:
    assert p("digest") == Digest(None)
    assert p("digest billing") == Digest("billing")
    assert p("digest @billing") == Digest("billing")
    assert p("digest <!subteam^S1|@billing>") == Digest("<!subteam^S1|@billing>")
    assert p("rate C-4 5") == Rate("C-4", 5, None)
    assert p("rate c4 1 slow but\nfriendly") == Rate("C-4", 1, "slow but\nfriendly")
    assert p("ADMIN Team add billing <@U1|dana lee>  <!subteam^S1>") == AddTeam(
        "billing", "<@U1|dana lee> <!subteam^S1>"
    )


def test_admin_commands_are_typed() -> None:
    dana = Ref("user", "U1", "dana lee")
    assert p("admin person add kenji Kenji Sato KENJI@x.example") == AddPerson(
        "kenji", "Kenji Sato", "kenji@x.example"
    )
    assert p("admin person add kenji Kenji Sato") == AddPerson("kenji", "Kenji Sato", None)
    assert p("admin member add billing <@U1|dana lee>") == SetMember("billing", dana, member=True)
    assert p("admin member remove billing @dana") == SetMember(
        "billing", Ref("name", "dana"), member=False
    )
    assert p("admin manager billing @morgan") == SetManager(BILLING, Ref("name", "morgan"))
    assert p("admin backup @dana @lee") == SetBackup(Ref("name", "dana"), Ref("name", "lee"))
    assert p("admin calendar @dana Asia/Tokyo 10:00-18:00 mon-fri jp") == SetCalendar(
        Ref("name", "dana"),
        (
            ("tz", "Asia/Tokyo"),
            ("hours", "10:00-18:00"),
            ("workdays", "mon-fri"),
            ("country", "JP"),
        ),
    )
    assert p("admin link @kenji teams 29:1abc") == Link(Ref("name", "kenji"), "teams", "29:1abc")
    assert p("admin admin add @lee") == SetAdmin(Ref("name", "lee"), admin=True)
    assert p("admin target billing on_time 95%") == SetTarget("billing", on_time=0.95)
    assert p("admin target billing on_time 0.9") == SetTarget("billing", on_time=0.9)
    assert p("admin target billing first_response 30") == SetTarget("billing", first_response=30)
    assert p("admin digest at 08:30") == ConfigureDigest(None, ("at", "08:30"))
    assert p("admin digest @morgan off") == ConfigureDigest(Ref("name", "morgan"), ("off",))
    assert p("admin policy") == ShowPolicy()
    assert p("admin policy buffer 2h") == ChangePolicy("buffer", "2h")
    assert p("admin policy deadline p1 4h") == SetDefaultDeadline("P1", "4h")
    assert all(isinstance(p(t), AdminCommand) for t in ("admin policy", "admin digest"))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("admin teams", "I don't know `admin teams` used that way."),
        ("admin person add kenji", "I don't know `admin person` used that way."),
        ("admin member join billing @dana", "used that way"),
        ("admin link @kenji discord 1", "used that way"),
        ("admin manager @@ @morgan", "`@@` is not a person or team."),
        ("admin target billing on_time", "I can't read that target."),
        ("admin target billing first_response soon", "`soon` is not a number."),
        ("admin target billing speed 3", "Targets are on_time or first_response."),
        ("admin policy nudge", "I can't read that policy change."),
    ],
)
def test_admin_errors_quote_the_admin_usage(text: str, needle: str) -> None:
    e = err(text)
    assert needle in e.message
    assert "/case admin calendar <@person or team> <timezone>" in e.usage


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        ("digest billing ops", "at most one team", "/case digest [team]"),
        ("digest <@U1>", "takes a team", "/case digest [team]"),
        ("rate C-4", "score from 1 to 5", "/case rate <case> <1-5> [comment]"),
        ("rate C-4 0", "not `0`", "/case rate <case> <1-5> [comment]"),
        ("rate C-4 6 great", "not `6`", "/case rate <case> <1-5> [comment]"),
        ("rate C-4 great", "not `great`", "/case rate <case> <1-5> [comment]"),
        ("rate C-4 99999999999999999999", "from 1 to 5", "/case rate"),
        ("rate R-4 5", "case key", "/case rate"),
        ("admin", "needs a verb", "/case admin"),
    ],
)
def test_digest_rate_admin_errors(text: str, needle: str, line: str) -> None:
    e = err(text)
    assert needle in e.message
    assert line in e.usage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help(None)),
        ("   \n ", Help(None)),
        ("?", Help(None)),
        ("help", Help(None)),
        ("HELP", Help(None)),
        ("help ask", Help("ask")),
        ("help more time", Help("more-time")),
        ("help moretime", Help("more-time")),
        ("help /case Open", Help("open")),
        ("help back", Help("away")),
        ("/case", Help(None)),
        ("case help", Help(None)),
    ],
)
def test_help(text: str, expected: Command) -> None:
    assert p(text) == expected


def test_unknown_command_and_topic() -> None:
    e = err("frobnicate C-4")
    assert e.message == "I don't know `frobnicate`. Try `/case help`."
    assert e.usage == usage()
    assert str(e) == e.message
    assert isinstance(e, ValueError)
    e = err("help frobnicate")
    assert "frobnicate" in e.message
    assert e.usage == usage()


@pytest.mark.parametrize(
    "prefix",
    ["/case ", "case ", "<@U0BOT> ", "@ownit ", "<at>ownit</at> ", "<@U0BOT> /case ", "\n  CASE\t"],
)
def test_prefixes_are_stripped(prefix: str) -> None:
    assert p(prefix + "status C-4") == Status("C-4")
    assert p(prefix + "ask @dana hi") == Ask(None, Ref("name", "dana"), "hi", None)


def test_flexible_whitespace() -> None:
    assert p("\n ask\n\tC-4\n  @dana   is it\n  done?  \n") == Ask(
        "C-4", Ref("name", "dana"), "is it\n  done?", None
    )
    assert p("status\u00a0C-4") == Status("C-4")


def test_control_characters_are_removed() -> None:
    assert p("answer R-7 a\x00b\x07c\td\r\ne\u202ef") == Answer("R-7", "abc\td\nef")
    assert p("open AC\x1bME: x\x7fy") == Open("ACME", "xy", None, None)


def test_length_limits() -> None:
    assert p("answer R-7 " + "a" * MAX_TEXT) == Answer("R-7", "a" * MAX_TEXT)
    e = err("answer R-7 " + "a" * (MAX_TEXT + 1))
    assert e.message == f"The answer is too long ({MAX_TEXT + 1} characters; the limit is 3000)."
    e = err("ask C-4 @dana " + "q" * 3500 + " by eod")
    assert "question is too long (3500 characters" in e.message
    e = err("more-time R-7 eod " + "r" * 3001)
    assert "reason is too long (3001" in e.message
    assert p("open " + "c" * MAX_CUSTOMER + ": x").customer == "c" * MAX_CUSTOMER  # type: ignore[union-attr]
    e = err("open " + "c" * (MAX_CUSTOMER + 1) + ": x")
    assert e.message == "The customer name is too long (201 characters; the limit is 200)."
    e = err("answer R-7 " + "a" * 50_000)
    assert "too long" in e.message


def test_slack_entities() -> None:
    text = "ask C-4 <@U1|dana> is &lt;b&gt; AT&amp;T &amp;lt; ok? by eod"
    assert p(text, slack_entities=True) == Ask(
        "C-4", Ref("user", "U1", "dana"), "is <b> AT&T &lt; ok?", "eod"
    )
    assert p(text) == Ask(
        "C-4", Ref("user", "U1", "dana"), "is &lt;b&gt; AT&amp;T &amp;lt; ok?", "eod"
    )
    assert p("open AT&amp;T: x", slack_entities=True) == Open("AT&T", "x", None, None)


def test_is_when_receives_collapsed_phrases() -> None:
    seen: list[str] = []

    def spy(s: str) -> bool:
        seen.append(s)
        return False

    parse("ask C-4 @dana x by  next\n business   day", is_when=spy)
    assert seen == ["next business day"]
    seen.clear()
    with pytest.raises(UsageError):
        parse("more-time R-1 a b c d e reason", is_when=spy)
    assert seen == ["a b c d", "a b c", "a b", "a"]


def test_parse_ref() -> None:
    assert parse_ref("<@U123ABC|dana>") == DANA
    assert parse_ref("<@U123ABC>") == Ref("user", "U123ABC")
    assert parse_ref("<!subteam^S123|@billing>") == Ref("team", "S123", "billing")
    assert parse_ref("<!subteam^S123>") == Ref("team", "S123")
    assert parse_ref("@dana") == Ref("name", "dana")
    assert parse_ref("billing") == BILLING
    for bad in ("@here", "<!channel>", "a b", "what's", "@", "...", "<#C1|general>"):
        assert parse_ref(bad) is None


def test_usage_text() -> None:
    text = usage()
    for line in (
        "/case open <customer>: <summary> [promise <when>] [p1-p4]",
        "/case ask <case> <@person or team> <question> [by <when>]",
        "/case promise <case> <when> [what was promised]",
        "/case status <case>",
        "/case mine",
        "/case update <case>",
        "/case resolve <case> [note]",
        "/case reopen <case>",
        "/case transfer <case> <@person> <reason>",
        "/case ack <request> [eta <when>]",
        "/case answer <request> <text>",
        "/case more-time <request> <when> <reason>",
        "/case accept <request>",
        "/case decline <request> [note]",
        "/case deadline <request> <when>",
        "/case redirect <request> <@person or team> <reason>",
        "/case away until <when> [backup <@person>]",
        "/case away off",
        "/case digest [team]",
        "/case rate <case> <1-5> [comment]",
        "/case admin",
        "/case help [command]",
    ):
        assert line in text
    assert all(line.startswith("/case ") for line in text.splitlines())
    assert usage("ask").startswith("/case ask ")
    assert len(usage("promise").splitlines()) == 2
    assert usage("more time") == usage("more-time") == usage("moretime")
    assert usage("back") == usage("away")
    assert usage("nonsense") == text


# --------------------------------------------------------------------------- properties

_COMMAND_TYPES = typing.get_args(Command)
_FRAGMENTS = [
    "open", "ask", "promise", "status", "mine", "update", "resolve", "reopen", "transfer",
    "ack", "answer", "more-time", "more", "time", "accept", "decline", "deadline", "redirect",
    "away", "until", "backup", "off", "back", "digest", "rate", "admin", "help", "by", "eta",
    "kept", "C-4", "c9", "R-7", "r-0", "p1", "P4", "3", "9", ":", "ACME:", "<@U1|dana>", "<@U1>",
    "<!subteam^S1|@b>", "<!here>", "@channel", "@dana", "tomorrow", "17:00", "eod", "fri", "3pm",
    "<", ">", "<@", "|", "&amp;", "`", "\n", "\t", "\x00", "\u202e", "\u00a0", "/case", "?",
]  # fmt: skip
_WHENS = [is_when, lambda s: True, lambda s: False, lambda s: len(s) % 2 == 0]


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=6)), max_size=14).map(
            " ".join
        ),
        st.lists(st.sampled_from(_FRAGMENTS), max_size=14).map("".join),
    ),
    when=st.sampled_from(_WHENS),
    entities=st.booleans(),
)
def test_parse_returns_a_command_or_usage_error(
    text: str, when: typing.Callable[[str], bool], entities: bool
) -> None:
    try:
        result = parse(text, is_when=when, slack_entities=entities)
    except UsageError as e:
        assert e.message
        assert e.usage.startswith("/case ")
        assert "\n" not in e.message
    else:
        assert isinstance(result, _COMMAND_TYPES)


def _alphabet(exclude: str = "") -> st.SearchStrategy[str]:
    return st.characters(
        exclude_categories=("Cc", "Cs", "Cf"),
        include_characters="\n\t",
        exclude_characters=exclude,
    )


def _no_word(word: str) -> typing.Callable[[str], bool]:
    pattern = re.compile(rf"(?<!\S){word}(?!\S)", re.IGNORECASE)
    return lambda s: pattern.search(s) is None


_keys = st.integers(min_value=0, max_value=10**9 - 1)
_handles = st.from_regex(r"[a-z][a-z0-9._-]{0,15}", fullmatch=True).filter(
    lambda h: re.fullmatch(r"[cr]-?[0-9]+", h) is None
)
_user_ids = st.from_regex(r"[UW][A-Z0-9]{2,10}", fullmatch=True)


@st.composite
def _targets(draw: st.DrawFn) -> tuple[str, Ref]:
    kind = draw(st.sampled_from(["user", "team", "name", "at-name"]))
    label = draw(st.none() | _handles)
    if kind == "user":
        uid = draw(_user_ids)
        return (f"<@{uid}|{label}>" if label else f"<@{uid}>"), Ref("user", uid, label)
    if kind == "team":
        sid = draw(st.from_regex(r"S[A-Z0-9]{2,10}", fullmatch=True))
        return (f"<!subteam^{sid}|@{label}>" if label else f"<!subteam^{sid}>"), Ref(
            "team", sid, label
        )
    handle = draw(_handles)
    return (f"@{handle}" if kind == "at-name" else handle), Ref("name", handle)


def _free(exclude: str = "") -> st.SearchStrategy[str]:
    return (
        st.text(_alphabet(exclude), min_size=1, max_size=80)
        .filter(lambda s: s.strip() != "")
        .filter(_no_word("by"))
        .filter(_no_word("promise"))
    )


@settings(max_examples=150, deadline=None)
@given(
    customer=st.text(_alphabet(":"), min_size=1, max_size=60).filter(lambda s: s.strip()),
    summary=_free("0123456789"),
    promise=st.none() | st.sampled_from(["tomorrow 17:00", "eod", "fri 3pm", "next business day"]),
    priority=st.none() | st.sampled_from(["p1", "P2", "p3", "P4"]),
    priority_first=st.booleans(),
)
def test_open_round_trip(
    customer: str, summary: str, promise: str | None, priority: str | None, priority_first: bool
) -> None:
    clauses = [f"promise {promise}" if promise else "", priority or ""]
    if priority_first:
        clauses.reverse()
    text = f"open {customer}: {summary} {' '.join(clauses)}"
    expected = Open(
        " ".join(customer.split()), summary.strip(), promise, priority.upper() if priority else None
    )
    assert p(text) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.none() | _keys,
    target=_targets(),
    question=_free(),
    by=st.none() | st.sampled_from(["tomorrow 17:00", "eod", "FRI 3pm", "next business day"]),
)
def test_ask_round_trip(
    case: int | None, target: tuple[str, Ref], question: str, by: str | None
) -> None:
    raw, ref = target
    text = f"ask {f'C-{case} ' if case is not None else ''}{raw} {question}"
    if by:
        text += f" by {by}"
    expected = Ask(f"C-{case}" if case is not None else None, ref, question.strip(), by)
    assert p(text) == expected


@settings(max_examples=100, deadline=None)
@given(
    key=_keys,
    target=_targets(),
    text=_free(),
    when=st.sampled_from(["tomorrow 17:00", "eod", "fri 3pm", "next business day", "4h"]),
    reason=_free("0123456789"),
)
def test_request_round_trips(
    key: int, target: tuple[str, Ref], text: str, when: str, reason: str
) -> None:
    raw, ref = target
    r = f"R-{key}"
    assert p(f"answer {r} {text}") == Answer(r, text.strip())
    assert p(f"more-time {r} {when} {reason}") == MoreTime(r, when, reason.strip())
    assert p(f"ack {r} eta {when}") == Ack(r, when)
    assert p(f"deadline {r} {when}") == Deadline(r, when)
    assert p(f"decline {r} {text}") == Decide(r, False, text.strip())
    assert p(f"redirect {r} {raw} {text}") == Redirect(r, ref, text.strip())


@settings(max_examples=100, deadline=None)
@given(
    key=_keys,
    target=_targets(),
    text=_free(),
    when=st.sampled_from(["tomorrow 17:00", "eod", "fri 3pm", "next business day"]),
    what=_free("0123456789"),
    score=st.integers(1, 5),
)
def test_case_round_trips(
    key: int, target: tuple[str, Ref], text: str, when: str, what: str, score: int
) -> None:
    raw, ref = target
    c = f"C-{key}"
    assert p(f"promise {c} {when} {what}") == Promise(c, when, what.strip())
    assert p(f"resolve {c} {text}") == Resolve(c, text.strip())
    assert p(f"rate {c} {score} {text}") == Rate(c, score, text.strip())
    if ref.kind != "team":
        assert p(f"transfer {c} {raw} {text}") == Transfer(c, ref, text.strip())
    assert p(f"away until {when} backup {raw}") == Away(when, ref)


@given(n=_keys, zeros=st.integers(0, 3), data=st.data())
def test_key_normalisation(n: int, zeros: int, data: st.DataObject) -> None:
    digits = "0" * zeros + str(n)
    case_raw = data.draw(
        st.sampled_from([f"C-{digits}", f"c-{digits}", f"C{digits}", f"c{digits}"])
    )
    req_raw = data.draw(st.sampled_from([f"R-{digits}", f"r-{digits}", f"R{digits}", f"r{digits}"]))
    assert p(f"status {case_raw}") == Status(f"C-{n}")
    assert p(f"reopen {case_raw}") == Reopen(f"C-{n}")
    assert p(f"accept {req_raw}") == Decide(f"R-{n}", True, None)
    with pytest.raises(UsageError, match="request key like R-7"):
        p(f"ack {case_raw}")
    with pytest.raises(UsageError, match="case key like C-42"):
        p(f"status {req_raw}")
    with pytest.raises(UsageError, match="case key like C-42"):
        p(f"status {digits}")
