"""The local API Gateway: routes match as API Gateway's do, events have the REST proxy shape, answers map back."""

from __future__ import annotations

import base64
import json
import logging
import textwrap
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from local.apigw import (
    ApiGateway,
    HttpRequest,
    MalformedProxyResponse,
    MethodNotAllowed,
    RouteMatch,
    RouteNotFound,
    RouteTable,
    build_event,
    to_http_response,
)
from local.lambda_runtime import LambdaFunction, LocalContext
from local.template import ApiRoute, FunctionSpec, SamTemplate

REPO_ROOT = Path(__file__).resolve().parents[2]
API_FUNCTION = FunctionSpec(logical_id="ApiFunction", code_uri=Path("functions/api"), handler="app.lambda_handler")
OTHER_FUNCTION = FunctionSpec(logical_id="OtherFunction", code_uri=Path("functions/other"), handler="app.handler")


def route(method: str, path: str, function: FunctionSpec = API_FUNCTION) -> ApiRoute:
    return ApiRoute(method=method, path=path, function=function, event_name=f"{method}{path}", stage="dev")


def request(method: str = "GET", target: str = "/api/health", **kwargs: Any) -> HttpRequest:
    return HttpRequest(method=method, target=target, **kwargs)


def event_for(req: HttpRequest, resource: str = "/api/videos/{videoId}") -> dict[str, Any]:
    match = RouteTable([route(req.method, resource)]).match(req.method, req.path)
    return build_event(req, match, request_id="req-1", now=1_764_000_000.5)


# Route matching


def test_route_table_extracts_decoded_path_parameters() -> None:
    table = RouteTable([route("GET", "/api/tenants/{tenantId}/videos/{videoId}")])
    match = table.match("GET", "/api/tenants/t-1/videos/cat%20video%2B1")
    assert match.path_parameters == {"tenantId": "t-1", "videoId": "cat video+1"}


def test_route_table_greedy_parameter_takes_the_rest_of_the_path() -> None:
    table = RouteTable([route("GET", "/files/{proxy+}")])
    assert table.match("GET", "/files/a/b/c.mp4").path_parameters == {"proxy": "a/b/c.mp4"}
    with pytest.raises(RouteNotFound):
        table.match("GET", "/files")


def test_route_table_prefers_a_literal_resource_over_a_template() -> None:
    export, by_id = route("GET", "/api/videos/export"), route("GET", "/api/videos/{videoId}", OTHER_FUNCTION)
    table = RouteTable([by_id, export])
    assert table.match("GET", "/api/videos/export").route is export
    assert table.match("GET", "/api/videos/v-9").route is by_id


def test_route_table_unknown_paths_are_not_found() -> None:
    table = RouteTable([route("GET", "/api/health"), route("GET", "/api/videos/{videoId}")])
    for path in ("/api/nope", "/api/health/extra", "/api", "/api/videos/", "/api//health", "//api/health"):
        with pytest.raises(RouteNotFound):
            table.match("GET", path)


def test_request_target_splits_into_raw_path_and_query() -> None:
    req = request("GET", "//api/health?next=/a?b#frag")
    assert (req.path, req.query) == ("//api/health", "next=/a?b")


def test_route_table_known_path_with_another_method_is_not_allowed() -> None:
    table = RouteTable([route("GET", "/api/videos"), route("POST", "/api/videos")])
    with pytest.raises(MethodNotAllowed) as raised:
        table.match("DELETE", "/api/videos")
    assert raised.value.allowed == ["GET", "POST"]
    assert table.match("post", "/api/videos").route.method == "POST"


def test_route_table_chooses_the_resource_before_the_method() -> None:
    # As API Gateway: /api/videos/export exists, so POST there does not fall back to /api/videos/{videoId}.
    table = RouteTable([route("GET", "/api/videos/export"), route("POST", "/api/videos/{videoId}")])
    with pytest.raises(MethodNotAllowed):
        table.match("POST", "/api/videos/export")


def test_route_table_any_method_matches_every_method() -> None:
    table = RouteTable([route("ANY", "/api/things"), route("GET", "/api/things/special")])
    assert table.match("PATCH", "/api/things").route.method == "ANY"
    with pytest.raises(MethodNotAllowed):
        table.match("PATCH", "/api/things/special")


def test_route_table_refuses_two_routes_for_one_method_and_path() -> None:
    with pytest.raises(ValueError, match="two routes"):
        RouteTable([route("GET", "/api/health"), route("GET", "/api/health", OTHER_FUNCTION)])


# Events


def test_event_has_the_rest_proxy_shape() -> None:
    event = event_for(request("GET", "/api/videos/v%201", source_ip="10.1.2.3"))
    assert event["resource"] == "/api/videos/{videoId}"
    assert event["path"] == "/api/videos/v%201"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"videoId": "v 1"}
    assert event["stageVariables"] is None
    context = event["requestContext"]
    assert context["requestId"] == "req-1"
    assert context["stage"] == "dev"
    assert context["path"] == "/dev/api/videos/v%201"
    assert context["resourcePath"] == "/api/videos/{videoId}"
    assert context["httpMethod"] == "GET"
    assert context["identity"]["sourceIp"] == "10.1.2.3"
    assert context["requestTimeEpoch"] == 1_764_000_000_500
    assert context["requestTime"] == "24/Nov/2025:16:00:00 +0000"
    assert "authorizer" in context
    assert context["authorizer"] is None


def test_event_without_parameters_carries_nulls() -> None:
    event = event_for(request("GET", "/api/health"), resource="/api/health")
    assert event["pathParameters"] is None
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert (event["body"], event["isBase64Encoded"]) == (None, False)


def test_event_query_string_keeps_repeated_keys() -> None:
    event = event_for(request("GET", "/api/videos/v1?tag=cats&tag=dogs&q=viral%20hooks&flag=&tag=fish"))
    assert event["queryStringParameters"] == {"tag": "fish", "q": "viral hooks", "flag": ""}
    assert event["multiValueQueryStringParameters"] == {
        "tag": ["cats", "dogs", "fish"],
        "q": ["viral hooks"],
        "flag": [""],
    }


def test_event_headers_keep_the_clients_case_and_every_value() -> None:
    headers = [("Host", "127.0.0.1:3000"), ("X-Trace", "one"), ("x-trace", "two"), ("Accept", "application/json")]
    event = event_for(request("GET", "/api/videos/v1", headers=headers, source_ip="127.0.0.1"))
    assert event["headers"]["X-Trace"] == "two"
    assert event["multiValueHeaders"]["X-Trace"] == ["one", "two"]
    assert "x-trace" not in event["headers"]
    assert event["headers"]["Accept"] == "application/json"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["requestContext"]["domainName"] == "127.0.0.1:3000"


def test_event_appends_the_client_to_x_forwarded_for() -> None:
    headers = [("X-Forwarded-For", "203.0.113.7")]
    event = event_for(request("GET", "/api/videos/v1", headers=headers, source_ip="127.0.0.1"))
    assert event["multiValueHeaders"]["X-Forwarded-For"] == ["203.0.113.7, 127.0.0.1"]


def test_event_text_body_is_passed_as_text() -> None:
    body = json.dumps({"title": "Cats doing taxes ✓"}).encode()
    headers = [("Content-Type", "application/json; charset=utf-8")]
    event = event_for(request("POST", "/api/videos/v1", headers=headers, body=body))
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"title": "Cats doing taxes ✓"}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("video/mp4", b"\x00\x00\x00\x18ftypmp42"), ("text/plain", b"\xff\xfe not utf-8"), ("image/png", b"PNG")],
)
def test_event_binary_body_is_base64_encoded(content_type: str, body: bytes) -> None:
    event = event_for(request("PUT", "/api/videos/v1", headers=[("Content-Type", content_type)], body=body))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_powertools_resolver_reads_the_event() -> None:
    """The built event goes through a real Powertools REST resolver: path, query, headers and body arrive."""
    app = APIGatewayRestResolver()

    @app.post("/api/videos/<video_id>")
    def echo(video_id: str) -> Response[str]:
        event = app.current_event
        payload = {
            "videoId": video_id,
            "tags": event.multi_value_query_string_parameters["tag"],
            "trace": event.headers["x-trace"],
            "body": event.json_body,
        }
        return Response(
            status_code=HTTPStatus.CREATED,
            content_type="application/json",
            body=json.dumps(payload),
            headers={"X-Multi": ["a", "b"]},
        )

    req = request(
        "POST",
        "/api/videos/v42?tag=a&tag=b",
        headers=[("X-Trace", "t-1"), ("Content-Type", "application/json")],
        body=b'{"hook": "wait for it"}',
    )
    context = cast(LambdaContext, LocalContext("ApiFunction", 512, 15))
    result = app.resolve(event_for(req, resource="/api/videos/{videoId}"), context)
    answer = to_http_response(result)

    assert answer.status == HTTPStatus.CREATED
    assert json.loads(answer.body) == {
        "videoId": "v42",
        "tags": ["a", "b"],
        "trace": "t-1",
        "body": {"hook": "wait for it"},
    }
    assert [value for name, value in answer.headers if name == "X-Multi"] == ["a", "b"]


# Answers


def test_answer_merges_headers_and_multi_value_headers_without_duplicates() -> None:
    answer = to_http_response(
        {
            "statusCode": 200,
            "headers": {"Content-Type": "text/plain", "Set-Cookie": "a=1", "X-Count": 3},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": "ok",
        }
    )
    assert answer.status == 200
    assert sorted(answer.headers) == [
        ("Content-Type", "text/plain"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("X-Count", "3"),
    ]
    assert answer.body == b"ok"


def test_answer_base64_body_is_decoded() -> None:
    video = b"\x00\x01binary\xff"
    answer = to_http_response({"statusCode": 200, "body": base64.b64encode(video).decode(), "isBase64Encoded": True})
    assert answer.body == video


@pytest.mark.parametrize(
    "result",
    [None, "oops", {"body": "no status"}, {"statusCode": True}, {"statusCode": 200, "body": {"not": "a string"}}],
)
def test_answer_that_is_not_a_proxy_response_is_refused(result: Any) -> None:
    with pytest.raises(MalformedProxyResponse):
        to_http_response(result)


# The gateway


class RecordingFunction:
    def __init__(self, result: Any = None, error: Exception | None = None) -> None:
        self.result = result if result is not None else {"statusCode": 204, "body": ""}
        self.error = error
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: Any, *, request_id: str | None = None) -> Any:
        self.events.append(event)
        if self.error is not None:
            raise self.error
        return self.result


def gateway(function: RecordingFunction) -> ApiGateway:
    return ApiGateway(RouteTable([route("GET", "/api/videos/{videoId}")]), {"ApiFunction": function})


def test_gateway_calls_the_function_with_the_event() -> None:
    function = RecordingFunction({"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"})
    answer = gateway(function).handle(request("GET", "/api/videos/v7"))
    assert (answer.status, answer.body) == (HTTPStatus.OK, b"{}")
    assert function.events[0]["pathParameters"] == {"videoId": "v7"}
    assert function.events[0]["requestContext"]["requestId"]


def test_gateway_unknown_path_is_a_json_404() -> None:
    function = RecordingFunction()
    answer = gateway(function).handle(request("GET", "/api/nope"))
    assert answer.status == HTTPStatus.NOT_FOUND
    assert json.loads(answer.body) == {"error": "Not found", "code": "NOT_FOUND"}
    assert function.events == []


def test_gateway_other_method_is_a_json_405_with_allow() -> None:
    answer = gateway(RecordingFunction()).handle(request("POST", "/api/videos/v7"))
    assert answer.status == HTTPStatus.METHOD_NOT_ALLOWED
    assert json.loads(answer.body)["code"] == "METHOD_NOT_ALLOWED"
    assert ("Allow", "GET") in answer.headers


def test_gateway_handler_crash_is_a_502_without_internals(caplog: pytest.LogCaptureFixture) -> None:
    function = RecordingFunction(error=RuntimeError("password=hunter2 in a stack frame"))
    with caplog.at_level(logging.ERROR, logger="local.apigw"):
        answer = gateway(function).handle(request("GET", "/api/videos/v7"))
    assert answer.status == HTTPStatus.BAD_GATEWAY
    assert json.loads(answer.body) == {"error": "Internal server error", "code": "INTERNAL_ERROR"}
    assert b"hunter2" not in answer.body
    assert "hunter2" in caplog.text
    assert "Traceback" in caplog.text


def test_gateway_malformed_answer_is_a_502() -> None:
    answer = gateway(RecordingFunction({"body": "forgot the status"})).handle(request("GET", "/api/videos/v7"))
    assert answer.status == HTTPStatus.BAD_GATEWAY


# The template and the functions


TEMPLATE = textwrap.dedent(
    """
    Parameters:
      Stage: {Type: String, Default: dev}
    Globals:
      Function:
        Handler: app.lambda_handler
        Timeout: 15
    Resources:
      ViralApi:
        Type: AWS::Serverless::Api
        Properties:
          StageName: !Ref Stage
      ApiFunction:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: functions/api/
          MemorySize: 512
          Events:
            Health: {Type: Api, Properties: {RestApiId: !Ref ViralApi, Path: /api/health, Method: get}}
            Proxy: {Type: Api, Properties: {RestApiId: !Ref ViralApi, Path: "/api/{proxy+}", Method: ANY}}
            Nightly: {Type: ScheduleV2, Properties: {ScheduleExpression: "rate(1 day)"}}
      Queue:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: !Sub "${AWS::StackName}-jobs"
    """
)


def test_template_routes_come_from_api_events() -> None:
    template = SamTemplate.parse(TEMPLATE, root=Path("/repo"))
    routes = {(r.method, r.path): r for r in template.api_routes()}
    assert set(routes) == {("GET", "/api/health"), ("ANY", "/api/{proxy+}")}
    health = routes[("GET", "/api/health")]
    assert (health.stage, health.rest_api_id) == ("dev", "ViralApi")
    assert health.function.module_path == Path("/repo/functions/api/app.py")
    assert (health.function.attribute, health.function.timeout_s, health.function.memory_mb) == (
        "lambda_handler",
        15,
        512,
    )


def test_template_reads_short_tags_as_intrinsics() -> None:
    template = SamTemplate.parse(TEMPLATE, root=Path("/repo"))
    assert template.resources["Queue"]["Properties"]["QueueName"] == {"Fn::Sub": "${AWS::StackName}-jobs"}


def test_repository_template_serves_the_health_route() -> None:
    template = SamTemplate.load(REPO_ROOT / "template.yaml")
    table = RouteTable(template.api_routes())
    match: RouteMatch = table.match("GET", "/api/health")
    assert match.route.function.module_path.is_file()


def test_functions_with_the_same_module_name_load_separately_and_once(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(
            "CALLS = []\n"
            f"def handler(event, context):\n"
            f"    CALLS.append(context.aws_request_id)\n"
            f"    return {{'name': {name!r}, 'calls': len(CALLS), 'function': context.function_name,\n"
            f"            'remaining': context.get_remaining_time_in_millis()}}\n"
        )
    one = LambdaFunction(FunctionSpec("One", tmp_path / "one", "app.handler", timeout_s=3))
    two = LambdaFunction(FunctionSpec("Two", tmp_path / "two", "app.handler"))

    assert one.invoke({})["name"] == "one"
    assert two.invoke({})["name"] == "two"
    second = one.invoke({}, request_id="r-2")
    assert (second["calls"], second["function"]) == (2, "One")
    assert 0 < second["remaining"] <= 3000
