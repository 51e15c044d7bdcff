"""API Gateway (REST) on one machine: route matching, Lambda proxy events and answers, the gateway's own errors.

Event and answer shapes follow the REST API's Lambda proxy integration (payload 1.0):
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from local.authorizer import (
    AuthorizerRefused,
    AuthorizerSpec,
    context_from_policy,
    method_arn,
    refusal_for,
    request_event,
)
from local.lambda_runtime import LOCAL_ACCOUNT
from local.template import ApiRoute

log = logging.getLogger("local.apigw")

LOCAL_API_ID = "localapi"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
        "application/graphql",
    }
)


@dataclass(frozen=True)
class HttpRequest:
    """A request as the client sent it: the raw target (path and query, still percent-encoded)."""

    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    source_ip: str = "127.0.0.1"

    @property
    def path(self) -> str:
        return self.target.split("#", 1)[0].partition("?")[0] or "/"

    @property
    def query(self) -> str:
        return self.target.split("#", 1)[0].partition("?")[2]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class RouteNotFound(LookupError):
    """No resource of the API matches the path."""


class MethodNotAllowed(LookupError):
    """A resource matches the path, but has no method for the request."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = sorted(allowed)
        super().__init__(", ".join(self.allowed))


class MalformedProxyResponse(ValueError):
    """The handler's answer is not a Lambda proxy response (API Gateway answers 502 then)."""


@dataclass(frozen=True)
class RouteMatch:
    route: ApiRoute
    path_parameters: dict[str, str]


class _Resource:
    """One resource path (`/api/videos/{id}`, `/files/{proxy+}`) and the routes on its methods."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.segments = _segments(path)
        self.methods: dict[str, ApiRoute] = {}
        # Literal segments beat `{name}`, which beats `{name+}`, from left to right.
        self.specificity = tuple(2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in self.segments)

    def parameters(self, segments: list[str]) -> dict[str, str] | None:
        """The decoded path parameters when `segments` (raw) match this resource, else None."""
        parameters: dict[str, str] = {}
        for index, template in enumerate(self.segments):
            if template.endswith("+}"):
                rest = segments[index:]
                if not rest or rest == [""]:
                    return None
                parameters[template[1:-2]] = unquote("/".join(rest))
                return parameters
            if index >= len(segments):
                return None
            if template.startswith("{"):
                if not segments[index]:
                    return None
                parameters[template[1:-1]] = unquote(segments[index])
            elif unquote(segments[index]) != template:
                return None
        return parameters if len(segments) == len(self.segments) else None


class RouteTable:
    """The API's routes, matched as API Gateway does: the most specific resource first, then its method."""

    def __init__(self, routes: Iterable[ApiRoute]) -> None:
        self._resources: dict[str, _Resource] = {}
        for route in routes:
            resource = self._resources.setdefault(route.path, _Resource(route.path))
            if route.method in resource.methods:
                raise ValueError(f"two routes for {route.method} {route.path}")
            resource.methods[route.method] = route

    def __iter__(self) -> Iterator[ApiRoute]:
        return (route for resource in self._resources.values() for route in resource.methods.values())

    def match(self, method: str, path: str) -> RouteMatch:
        """The route for `method` on the raw `path`; RouteNotFound or MethodNotAllowed otherwise."""
        segments = _segments(path)
        candidates = [
            (resource, parameters)
            for resource in self._resources.values()
            if (parameters := resource.parameters(segments)) is not None
        ]
        if not candidates:
            raise RouteNotFound(path)
        resource, parameters = min(candidates, key=lambda candidate: candidate[0].specificity)
        route = resource.methods.get(method.upper()) or resource.methods.get("ANY")
        if route is None:
            raise MethodNotAllowed(resource.methods)
        return RouteMatch(route=route, path_parameters=parameters)


def _segments(path: str) -> list[str]:
    return path.split("/")[1:] if path.startswith("/") else path.split("/")


def build_event(
    request: HttpRequest,
    match: RouteMatch,
    *,
    request_id: str,
    now: float | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The REST API proxy event API Gateway would send the function for `request`."""
    now = time.time() if now is None else now
    headers = _forwarded(request.headers, request.source_ip)
    single_headers, multi_headers = _single_and_multi(headers, case_insensitive=True)
    single_query, multi_query = _single_and_multi(parse_qsl(request.query, keep_blank_values=True))
    body, is_base64 = encode_body(request.body, _header(headers, "content-type"))
    route = match.route
    return {
        "resource": route.path,
        "path": request.path,
        "httpMethod": request.method.upper(),
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT,
            "apiId": LOCAL_API_ID,
            "authorizer": authorizer,
            "domainName": _header(headers, "host") or "localhost",
            "extendedRequestId": request_id,
            "httpMethod": request.method.upper(),
            "identity": {
                "sourceIp": request.source_ip,
                "userAgent": _header(headers, "user-agent"),
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
            "path": f"/{route.stage}{request.path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": _request_time(now),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, route.path).hex[:6],
            "resourcePath": route.path,
            "stage": route.stage,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def encode_body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """The body as the event carries it: text for textual types, else base64 (and the flag saying so)."""
    if not body:
        return None, False
    if content_type is None or is_text_content_type(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def is_text_content_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in _TEXT_TYPES or media_type.endswith(("+json", "+xml"))


def to_http_response(result: Any) -> HttpResponse:
    """The HTTP answer for a handler's proxy response (headers and multiValueHeaders merged as API Gateway does)."""
    if not isinstance(result, Mapping):
        raise MalformedProxyResponse(f"the handler returned {type(result).__name__}, not a proxy response")
    status = result.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int | str) or not str(status).isdigit():
        raise MalformedProxyResponse("statusCode is missing or not a number")
    if not 100 <= int(status) <= 599:
        raise MalformedProxyResponse(f"statusCode {status} is not an HTTP status")
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedProxyResponse("body must be a string")
    if result.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body or "", validate=True)
        except binascii.Error as error:
            raise MalformedProxyResponse("isBase64Encoded is set but the body is not base64") from error
    else:
        raw = (body or "").encode("utf-8")
    return HttpResponse(status=int(status), headers=_merge_headers(result), body=raw)


def error_response(
    status: HTTPStatus, message: str, code: str, *, headers: Iterable[tuple[str, str]] = ()
) -> HttpResponse:
    """One of the gateway's own JSON errors (no internals, ever)."""
    body = json.dumps({"error": message, "code": code}).encode("utf-8")
    return HttpResponse(status=int(status), headers=[("Content-Type", "application/json"), *headers], body=body)


class RequestHandler(Protocol):
    """Anything that answers an HTTP request (the gateway, or a wrapper in front of it)."""

    def handle(self, request: HttpRequest) -> HttpResponse: ...


class Invocable(Protocol):
    def invoke(self, event: Any, *, request_id: str | None = None) -> Any: ...


class ApiGateway:
    """Routes a request, builds its proxy event, calls the function and turns its answer into HTTP."""

    def __init__(
        self,
        routes: RouteTable,
        functions: Mapping[str, Invocable],
        authorizer_of: Callable[[ApiRoute], AuthorizerSpec | None] = lambda route: None,
    ) -> None:
        self.routes = routes
        self.functions = functions
        self.authorizer_of = authorizer_of

    def handle(self, request: HttpRequest) -> HttpResponse:
        try:
            match = self.routes.match(request.method, request.path)
        except RouteNotFound:
            return error_response(HTTPStatus.NOT_FOUND, "Not found", "NOT_FOUND")
        except MethodNotAllowed as error:
            return error_response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "Method not allowed",
                "METHOD_NOT_ALLOWED",
                headers=[("Allow", ", ".join(error.allowed))],
            )
        request_id = str(uuid.uuid4())
        event = build_event(request, match, request_id=request_id)
        try:
            event["requestContext"]["authorizer"] = self._authorize(request, match, event, request_id)
        except AuthorizerRefused as refused:
            return error_response(refused.status, refused.message, refused.code)
        function_name = match.route.function.logical_id
        try:
            return to_http_response(self.functions[function_name].invoke(event, request_id=request_id))
        except Exception:
            log.exception("%s failed on %s %s (request %s)", function_name, request.method, request.path, request_id)
            return error_response(HTTPStatus.BAD_GATEWAY, "Internal server error", "INTERNAL_ERROR")

    def _authorize(
        self, request: HttpRequest, match: RouteMatch, event: dict[str, Any], request_id: str
    ) -> dict[str, Any] | None:
        """Run the route's Lambda REQUEST authorizer, as API Gateway does before calling the function."""
        spec = self.authorizer_of(match.route)
        if spec is None:
            return None
        arn = method_arn(LOCAL_API_ID, match.route.stage, request.method, request.path)
        try:
            result = self.functions[spec.function].invoke(request_event(event, arn), request_id=request_id)
        except Exception as error:
            refusal = refusal_for(error)
            if refusal.status != HTTPStatus.UNAUTHORIZED:
                log.exception("authorizer %s failed (request %s)", spec.function, request_id)
            raise refusal from None
        return context_from_policy(result, arn)


def _forwarded(headers: list[tuple[str, str]], source_ip: str) -> list[tuple[str, str]]:
    """The headers API Gateway adds: the client's address appended to X-Forwarded-For, and the scheme."""
    added = []
    forwarded_for = _header(headers, "x-forwarded-for")
    added.append(("X-Forwarded-For", f"{forwarded_for}, {source_ip}" if forwarded_for else source_ip))
    if _header(headers, "x-forwarded-proto") is None:
        added.append(("X-Forwarded-Proto", "http"))
    return [(name, value) for name, value in headers if name.lower() != "x-forwarded-for"] + added


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    found = None
    for key, value in headers:
        if key.lower() == name:
            found = value
    return found


def _single_and_multi(
    pairs: Iterable[tuple[str, str]], *, case_insensitive: bool = False
) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """The single-value map (the last value of each key) and the multi-value map, or None twice when empty.

    Header names keep the case the client first sent them in; repeated names in other cases join them.
    """
    names: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        name = names.setdefault(key.lower() if case_insensitive else key, key)
        multi.setdefault(name, []).append(value)
    if not multi:
        return None, None
    return {name: values[-1] for name, values in multi.items()}, multi


def _merge_headers(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """multiValueHeaders, plus each `headers` value not already among that name's values."""
    merged: list[tuple[str, str]] = []
    for name, values in (result.get("multiValueHeaders") or {}).items():
        merged.extend((str(name), str(value)) for value in (values or []) if value is not None)
    present = {(name.lower(), value) for name, value in merged}
    for name, value in (result.get("headers") or {}).items():
        if value is not None and (str(name).lower(), str(value)) not in present:
            merged.append((str(name), str(value)))
    return merged


def _request_time(now: float) -> str:
    moment = time.gmtime(now)
    month = _MONTHS[moment.tm_mon - 1]
    return time.strftime(f"%d/{month}/%Y:%H:%M:%S +0000", moment)
