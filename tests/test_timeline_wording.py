"""The timeline's lines come from `prompts/timeline.yaml` and read exactly as they always did:
the stored text of old and new events must look alike in `/case status`."""

from __future__ import annotations

import pytest

from bot.messages import sentence


@pytest.mark.parametrize(
    ("key", "fields", "expected"),
    [
        (
            "timeline_opened",
            {"case_key": "C-1", "customer": "Acme", "summary": "invoice {x} wrong"},
            "C-1 opened for Acme: invoice {x} wrong",
        ),
        (
            "timeline_promised",
            {"promise": "Tue 17:00 CET", "what": None, "earlier": None},
            "promised the customer an answer by Tue 17:00 CET",
        ),
        (
            "timeline_promised",
            {
                "promise": "Tue 17:00 CET",
                "what": sentence("timeline_note", note="a refund"),
                "earlier": None,
            },
            "promised the customer an answer by Tue 17:00 CET: a refund",
        ),
        ("timeline_promise_kept", {}, "the customer got the promised answer"),
        (
            "timeline_promise_late",
            {},
            "the customer got the promised answer (after the promised time)",
        ),
        (
            "timeline_transferred",
            {"old": "Alex", "new": "Bo", "reason": "vacation"},
            "owner changed from Alex to Bo: vacation",
        ),
        ("timeline_resolved", {"note": None}, "resolved"),
        ("timeline_resolved", {"note": sentence("timeline_note", note="done")}, "resolved: done"),
        ("timeline_reopened", {}, "reopened"),
        ("timeline_rated", {"score": 4, "comment": None}, "customer rated 4/5"),
        (
            "timeline_rated",
            {"score": 5, "comment": sentence("timeline_note", note="fast")},
            "customer rated 5/5: fast",
        ),
        (
            "timeline_promise_at_risk",
            {"promise": "2026-11-24T16:00:00+00:00"},
            "promise at risk: due 2026-11-24T16:00:00+00:00",
        ),
        (
            "timeline_asked",
            {"request_key": "R-1", "target": "Dana", "question": "refund?"},
            "R-1 asked of Dana: refund?",
        ),
        (
            "timeline_promise_rule",
            {"request_key": "R-1"},
            "R-1 is due after the promise allows",
        ),
        (
            "timeline_acknowledged",
            {"name": "Dana", "request_key": "R-1", "eta": None, "claimed": None},
            "Dana acknowledged R-1",
        ),
        (
            "timeline_acknowledged",
            {
                "name": "Dana",
                "request_key": "R-1",
                "eta": sentence("timeline_eta", eta="Tue 15:00 CET"),
                "claimed": sentence("timeline_claimed"),
            },
            "Dana acknowledged R-1, ETA Tue 15:00 CET (claimed for the team)",
        ),
        (
            "timeline_answered",
            {"name": "Dana", "request_key": "R-1", "answer": "yes"},
            "Dana answered R-1: yes",
        ),
        (
            "timeline_more_time_asked",
            {"name": "Dana", "request_key": "R-1", "new": "Fri 12:00 CET", "reason": "busy"},
            "Dana asked to move R-1 to Fri 12:00 CET: busy",
        ),
        (
            "timeline_more_time_declined",
            {"request_key": "R-1", "note": None},
            "more time on R-1 declined",
        ),
        (
            "timeline_more_time_declined",
            {"request_key": "R-1", "note": sentence("timeline_note", note="sorry")},
            "more time on R-1 declined: sorry",
        ),
        (
            "timeline_deadline_moved",
            {"request_key": "R-1", "why": "more time accepted"},
            "R-1 deadline moved (more time accepted)",
        ),
        (
            "timeline_redirected",
            {
                "name": "Dana",
                "request_key": "R-1",
                "target": "the billing team",
                "reason": "theirs",
                "routed": None,
            },
            "Dana redirected R-1 to the billing team: theirs",
        ),
        (
            "timeline_redirected",
            {
                "name": "Dana",
                "request_key": "R-1",
                "target": "Bo",
                "reason": "theirs",
                "routed": sentence("timeline_routed", note="Cy is away; their backup Bo has it"),
            },
            "Dana redirected R-1 to Bo: theirs (Cy is away; their backup Bo has it)",
        ),
        (
            "timeline_cancelled",
            {"request_key": "R-1"},
            "R-1 cancelled: the case was resolved",
        ),
        (
            "timeline_step_nudge",
            {"request_key": "R-1", "target": "Dana"},
            "nudge: R-1 asked of Dana",
        ),
        (
            "timeline_step_at_risk",
            {"request_key": "R-1", "target": "Dana"},
            "at risk: R-1 asked of Dana",
        ),
        (
            "timeline_step_overdue",
            {"request_key": "R-1", "target": "billing"},
            "overdue: R-1 asked of billing",
        ),
    ],
)
def test_timeline_lines_read_as_before(
    key: str, fields: dict[str, str | int | None], expected: str
) -> None:
    assert sentence(key, **fields) == expected
