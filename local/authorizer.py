"""The Lambda REQUEST authorizer step of API Gateway, as the local runtime and in-process tests run it."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from local.lambda_runtime import LOCAL_ACCOUNT, LOCAL_REGION
from local.template import ApiRoute, SamTemplate


class AuthorizerRefused(Exception):
    """The gateway answers without calling the route's function (401, 403 or 500, as API Gateway does)."""

    def __init__(self, status: HTTPStatus, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass(frozen=True)
class AuthorizerSpec:
    name: str
    function: str  # logical id of the authorizer function


def authorizer_for(template: SamTemplate, route: ApiRoute) -> AuthorizerSpec | None:
    """The authorizer a route runs behind: its own Auth.Authorizer, else the API's DefaultAuthorizer; NONE opts out."""
    api = (template.resources.get(route.rest_api_id or "") or {}).get("Properties") or {}
    api_auth = api.get("Auth") or {}
    name = (route.auth or {}).get("Authorizer") or api_auth.get("DefaultAuthorizer")
    if not name or name == "NONE":
        return None
    definition = (api_auth.get("Authorizers") or {}).get(name) or {}
    arn = definition.get("FunctionArn") or {}
    target = arn.get("Fn::GetAtt") if isinstance(arn, dict) else None
    alias = arn.get("Ref") if isinstance(arn, dict) else None
    if isinstance(alias, str) and alias.endswith(".Alias"):  # SAM's published alias (AutoPublishAlias)
        return AuthorizerSpec(name=name, function=alias.removesuffix(".Alias"))
    if not target:
        raise ValueError(f"authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn or !Ref <Function>.Alias")
    return AuthorizerSpec(name=name, function=target[0])


def method_arn(api_id: str, stage: str, method: str, path: str) -> str:
    return f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{api_id}/{stage}/{method.upper()}{path}"


def request_event(proxy_event: dict[str, Any], arn: str) -> dict[str, Any]:
    """The REQUEST authorizer event: the proxy event's request parts, plus `type` and `methodArn`."""
    keep = (
        "resource",
        "path",
        "httpMethod",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "requestContext",
    )
    return {"type": "REQUEST", "methodArn": arn, **{k: proxy_event.get(k) for k in keep}}


def context_from_policy(result: Any, arn: str) -> dict[str, Any]:
    """The `requestContext.authorizer` API Gateway passes on, if the policy allows `arn`; else a refusal."""
    if not isinstance(result, dict) or "principalId" not in result:
        raise AuthorizerRefused(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error", "INTERNAL_ERROR")
    statements = (result.get("policyDocument") or {}).get("Statement") or []
    effects = [
        s.get("Effect")
        for s in statements
        if "execute-api:Invoke" in _as_list(s.get("Action"))
        and any(fnmatch.fnmatchcase(arn, pattern) for pattern in _as_list(s.get("Resource")))
    ]
    if "Deny" in effects or "Allow" not in effects:
        raise AuthorizerRefused(HTTPStatus.FORBIDDEN, "Forbidden", "FORBIDDEN")
    context = {k: v for k, v in (result.get("context") or {}).items() if isinstance(v, str | int | float | bool)}
    return {**context, "principalId": str(result["principalId"])}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def refusal_for(error: Exception) -> AuthorizerRefused:
    """API Gateway's contract: an authorizer that fails with exactly "Unauthorized" means 401; else 500."""
    if str(error) == "Unauthorized":
        return AuthorizerRefused(HTTPStatus.UNAUTHORIZED, "Unauthorized", "UNAUTHORIZED")
    return AuthorizerRefused(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error", "INTERNAL_ERROR")
