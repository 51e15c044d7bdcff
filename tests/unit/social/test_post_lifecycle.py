"""The post state machine is one table: every (status, event) pair either leads where the table says or is refused."""

from __future__ import annotations

import pytest
from viral.db.models import POST_STATUSES
from viral.social.lifecycle import TERMINAL, TRANSITIONS, Event, InvalidTransition, next_status

EXPECTED = {
    ("scheduled", "claim"): "publishing",
    ("scheduled", "reschedule"): "scheduled",
    ("scheduled", "cancel"): "canceled",
    ("scheduled", "failed"): "failed",
    ("publishing", "upload_started"): "publishing",
    ("publishing", "restart_upload"): "publishing",
    ("publishing", "retry_later"): "scheduled",
    ("publishing", "resume_later"): "publishing",
    ("publishing", "accepted"): "processing",
    ("publishing", "published"): "published",
    ("publishing", "failed"): "failed",
    ("publishing", "ambiguous"): "unconfirmed",
    ("processing", "still_processing"): "processing",
    ("processing", "publish_sent"): "processing",
    ("processing", "published"): "published",
    ("processing", "failed"): "failed",
    ("processing", "ambiguous"): "unconfirmed",
    ("published", "post_id_known"): "published",
}


@pytest.mark.parametrize("status", POST_STATUSES)
@pytest.mark.parametrize("event", list(Event))
def test_each_status_and_event_leads_where_the_table_says_or_is_refused(status: str, event: Event) -> None:
    expected = EXPECTED.get((status, event.value))
    if expected is None:
        with pytest.raises(InvalidTransition):
            next_status(status, event)
    else:
        assert next_status(status, event) == expected


def test_the_table_is_exactly_the_specified_one() -> None:
    assert {(s, e.value): t for (s, e), t in TRANSITIONS.items()} == EXPECTED


def test_nothing_leaves_a_final_status_except_a_late_post_id() -> None:
    leaving = [(s, e) for (s, e), t in TRANSITIONS.items() if s in TERMINAL and t != s]
    assert leaving == []
    assert [(s, e) for (s, e) in TRANSITIONS if s in ("failed", "unconfirmed", "canceled")] == []


def test_an_unconfirmed_post_is_never_retried_and_publishing_can_never_go_back_to_scheduled_once_accepted() -> None:
    for event in Event:
        with pytest.raises(InvalidTransition):
            next_status("unconfirmed", event)
    assert ("processing", Event.RETRY_LATER) not in TRANSITIONS
    assert ("processing", Event.CANCEL) not in TRANSITIONS and ("publishing", Event.CANCEL) not in TRANSITIONS
