"""The video state machine's table, read as a specification: exactly these transitions, nothing else."""

from __future__ import annotations

import itertools

import pytest
from viral.db.models import VIDEO_IN_FLIGHT, VIDEO_STATUSES
from viral.video.state_machine import IN_FLIGHT, TRANSITIONS, Event, IllegalTransition, State, transition

Q, S, R, G, D, V = "queued", "submitting", "reconciling", "rendering", "downloading", "validating"
WORKING = (Q, S, R, G, D, V)

SPEC: dict[tuple[str, str], str] = {
    (Q, "claim"): S,
    (S, "accepted"): G,
    (S, "refused"): Q,
    (S, "unknown"): R,
    (R, "found"): G,
    (R, "recheck"): R,
    (G, "running"): G,
    (G, "succeeded"): D,
    (D, "interrupted"): G,
    (V, "interrupted"): G,
    (D, "downloaded"): V,
    (D, "result-expired"): G,
    (V, "passed"): "ready",
    **{(state, "fall-back"): Q for state in WORKING},
    **{(state, "fail"): "failed" for state in WORKING},
}


@pytest.mark.parametrize(("start", "event", "target"), [(s, e, t) for (s, e), t in SPEC.items()])
def test_each_allowed_transition_leads_where_the_specification_says(start: str, event: str, target: str) -> None:
    assert transition(start, Event(event)) == target


def test_the_table_holds_exactly_the_specified_transitions_each_with_what_it_does() -> None:
    assert {(s.value, e.value): t.target.value for (s, e), t in TRANSITIONS.items()} == SPEC
    assert all(t.does for t in TRANSITIONS.values())


@pytest.mark.parametrize(
    ("start", "event"),
    [(s.value, e) for s, e in itertools.product(State, Event) if (s.value, e.value) not in SPEC],
)
def test_every_other_transition_raises(start: str, event: Event) -> None:
    with pytest.raises(IllegalTransition):
        transition(start, event)


def test_an_unknown_status_raises() -> None:
    with pytest.raises(IllegalTransition):
        transition("generating", Event.CLAIM)


def test_finished_videos_take_no_event() -> None:
    for state, event in itertools.product((State.READY, State.FAILED), Event):
        with pytest.raises(IllegalTransition):
            transition(state, event)


def test_a_vendor_is_asked_again_only_after_a_sure_refusal() -> None:
    """The at-most-once rule: the only way to submit is queued -> submitting, and the only ways back to queued from
    a submission keep its provider only when the vendor surely took nothing (refused); fall-back changes provider."""
    into_submitting = {key for key, t in TRANSITIONS.items() if t.target == State.SUBMITTING}
    assert into_submitting == {(State.QUEUED, Event.CLAIM)}
    back_to_queued = {
        event for (state, event), t in TRANSITIONS.items() if state in (S, R) and t.target == State.QUEUED
    }
    assert back_to_queued == {Event.REFUSED, Event.FALL_BACK}
    assert (State.RECONCILING, Event.REFUSED) not in TRANSITIONS


def test_the_database_statuses_are_the_machines() -> None:
    assert set(VIDEO_STATUSES) == {s.value for s in State}
    assert set(VIDEO_IN_FLIGHT) == {s.value for s in IN_FLIGHT}
