"""Custom resource answers: CloudFormation gets exactly one answer at the ResponseURL, whatever happens."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from viral.aws import custom_resource

from local.fakes.http_server import FakeServer, Reply
from tests.events import load_event

RESPONSE_PATH = "/cfn-response"


class Context:
    def __init__(self, remaining_s: float = 300.0) -> None:
        self.deadline = time.monotonic() + remaining_s

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


@pytest.fixture
def cloudformation() -> Iterator[FakeServer]:
    """A local server playing the pre-signed S3 ResponseURL."""
    server = FakeServer()
    server.route("PUT", RESPONSE_PATH, lambda _request: Reply(200))
    with server.running():
        yield server


def _event(server: FakeServer, request_type: str, **extra: Any) -> dict[str, Any]:
    event = load_event("cfn_db_migrate_create")
    event.update(RequestType=request_type, ResponseURL=server.url + RESPONSE_PATH, **extra)
    return event


def _answers(server: FakeServer) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in server.requests if r.method == "PUT" and r.path == RESPONSE_PATH]


def _fail(error: Exception) -> str:
    return f"failed: {type(error).__name__}"


def test_create_runs_the_work_and_answers_success_with_its_attributes(cloudformation: FakeServer) -> None:
    event = _event(cloudformation, "Create")
    status = custom_resource.handle(
        event, Context(), lambda: {"Revision": "0042"}, physical_id="schema", on_error=_fail
    )

    assert status == "SUCCESS"
    (answer,) = _answers(cloudformation)
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"] == {"Revision": "0042"}
    assert answer["PhysicalResourceId"] == "schema"
    assert (answer["StackId"], answer["RequestId"], answer["LogicalResourceId"]) == (
        event["StackId"],
        event["RequestId"],
        "DatabaseMigration",
    )
    # The URL is signed without a content type: sending one would make S3 refuse the answer.
    assert cloudformation.requests[0].headers.get("content-type") == ""


def test_update_keeps_the_physical_id_so_cloudformation_never_replaces_the_resource(
    cloudformation: FakeServer,
) -> None:
    event = _event(cloudformation, "Update", PhysicalResourceId="viral-database-schema")
    custom_resource.handle(event, Context(), lambda: {}, physical_id="other", on_error=_fail)
    assert _answers(cloudformation)[0]["PhysicalResourceId"] == "viral-database-schema"


def test_delete_does_nothing_and_succeeds(cloudformation: FakeServer) -> None:
    ran: list[bool] = []
    event = _event(cloudformation, "Delete", PhysicalResourceId="viral-database-schema")

    status = custom_resource.handle(event, Context(), lambda: ran.append(True) or {}, physical_id="x", on_error=_fail)

    assert (status, ran) == ("SUCCESS", [])
    assert [a["Status"] for a in _answers(cloudformation)] == ["SUCCESS"]


def test_a_failing_run_answers_failed_with_the_reason_given(cloudformation: FakeServer) -> None:
    def broken() -> dict[str, str]:
        raise ConnectionRefusedError("db.internal:5432 password=hunter2")

    status = custom_resource.handle(
        _event(cloudformation, "Update"), Context(), broken, physical_id="x", on_error=_fail
    )

    assert status == "FAILED"
    (answer,) = _answers(cloudformation)
    assert (answer["Status"], answer["Reason"]) == ("FAILED", "failed: ConnectionRefusedError")


def test_a_run_about_to_time_out_answers_failed_once_before_the_function_dies(cloudformation: FakeServer) -> None:
    context = Context(remaining_s=custom_resource.TIMEOUT_MARGIN_S + 0.2)

    def slow() -> dict[str, str]:
        time.sleep(1.0)
        return {"Revision": "late"}

    status = custom_resource.handle(_event(cloudformation, "Create"), context, slow, physical_id="x", on_error=_fail)

    assert status == "FAILED"
    assert [a["Status"] for a in _answers(cloudformation)] == ["FAILED"]
    assert "timed out" in _answers(cloudformation)[0]["Reason"]


def test_only_cloudformation_requests_are_custom_resource_requests() -> None:
    assert custom_resource.is_custom_resource_request(load_event("cfn_db_migrate_create"))
    assert not custom_resource.is_custom_resource_request(load_event("lambda_db_migrate"))
