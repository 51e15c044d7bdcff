"""The video state machine: every state, every allowed transition and what the worker does on it, in one table.

`videos.status` changes only through `transition(state, event)`; anything not in the table raises
IllegalTransition, so a bug shows up as an error instead of a video in a state nobody planned for.

The rule the table exists for: a paid vendor is asked at most once per video and provider. `submitting` is
committed (with the provider and the time) before the vendor is called; an answer that leaves the outcome
unknown (a timeout, a dropped connection, a 5xx after the request went out, a delivery that died mid-call)
leads to `reconciling`, never back to `queued`: the job is looked up where the vendor can list its jobs,
otherwise waited for a bounded time, and then the video falls back to the next provider with the possibly
orphaned cost recorded. Only a clear refusal (429, or a connection that never opened) returns to `queued`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    RECONCILING = "reconciling"
    RENDERING = "rendering"
    DOWNLOADING = "downloading"
    VALIDATING = "validating"
    READY = "ready"
    FAILED = "failed"


class Event(StrEnum):
    CLAIM = "claim"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    UNKNOWN = "unknown"
    FOUND = "found"
    RECHECK = "recheck"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    INTERRUPTED = "interrupted"
    DOWNLOADED = "downloaded"
    RESULT_EXPIRED = "result-expired"
    PASSED = "passed"
    FALL_BACK = "fall-back"
    FAIL = "fail"


@dataclass(frozen=True)
class Transition:
    target: State
    does: str


IN_FLIGHT = (
    State.QUEUED,
    State.SUBMITTING,
    State.RECONCILING,
    State.RENDERING,
    State.DOWNLOADING,
    State.VALIDATING,
)
TERMINAL = (State.READY, State.FAILED)

_S, _E, _T = State, Event, Transition
TRANSITIONS: dict[tuple[State, Event], Transition] = {
    (_S.QUEUED, _E.CLAIM): _T(
        _S.SUBMITTING, "record the attempt (provider, time, lease) and commit it; then call the vendor's submit"
    ),
    (_S.SUBMITTING, _E.ACCEPTED): _T(_S.RENDERING, "store the vendor's job id at once; poll it after a delay"),
    (_S.SUBMITTING, _E.REFUSED): _T(_S.QUEUED, "the vendor surely took nothing (429, no connection): retry later"),
    (_S.SUBMITTING, _E.UNKNOWN): _T(
        _S.RECONCILING, "the outcome is unknown (timeout, reset, 5xx, a delivery died mid-call): never resubmit"
    ),
    (_S.RECONCILING, _E.FOUND): _T(_S.RENDERING, "the vendor's job list has our job: adopt its id and poll it"),
    (_S.RECONCILING, _E.RECHECK): _T(_S.RECONCILING, "not found yet and within the window: look again after a delay"),
    (_S.RENDERING, _E.RUNNING): _T(_S.RENDERING, "the job runs: poll again after a delay (until the render timeout)"),
    (_S.RENDERING, _E.SUCCEEDED): _T(_S.DOWNLOADING, "stream the result into a spooled file under a fresh lease"),
    (_S.DOWNLOADING, _E.INTERRUPTED): _T(_S.RENDERING, "a delivery died mid-download: poll for a fresh result URL"),
    (_S.VALIDATING, _E.INTERRUPTED): _T(_S.RENDERING, "a delivery died mid-check: poll for a fresh result URL"),
    (_S.DOWNLOADING, _E.DOWNLOADED): _T(_S.VALIDATING, "check the file (codec, 9:16, size, duration)"),
    (_S.DOWNLOADING, _E.RESULT_EXPIRED): _T(_S.RENDERING, "the result URL expired: poll once more for a fresh one"),
    (_S.VALIDATING, _E.PASSED): _T(_S.READY, "store in S3, record size, cost and report; finish the ledger job"),
    **{
        (state, _E.FALL_BACK): _T(
            _S.QUEUED, "this provider cannot make it: record why (and any orphaned cost), try the next provider"
        )
        for state in IN_FLIGHT
    },
    **{
        (state, _E.FAIL): _T(_S.FAILED, "no provider left (or no concept): record why, refund the quota, fail the job")
        for state in IN_FLIGHT
    },
}


class IllegalTransition(RuntimeError):
    """A status change the table does not allow (a bug, never an input error)."""


def transition(state: str, event: Event) -> State:
    """The state after `event` in `state`; IllegalTransition when the table has no such transition."""
    try:
        found = TRANSITIONS[(State(state), event)]
    except (KeyError, ValueError):
        raise IllegalTransition(f"a video in '{state}' cannot take '{event}'") from None
    return found.target
