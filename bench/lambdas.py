"""What the Lambda benchmarks share: a caller with an API key, and the events API Gateway would send, built by
the local gateway's own code from template.yaml (so routes, resources and ARNs are the deployed ones)."""

from __future__ import annotations

import copy
import statistics
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL

from bench.common import Figure, owner_connection

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Caller:
    """A tenant with an API key, and the authorizer context API Gateway passes on for it."""

    tenant_id: uuid.UUID
    api_key: str
    context: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def make_caller(url: URL, name: str, *, tier: str | None = None, monthly_quota: int | None = None) -> Caller:
    """A new tenant (optionally on `tier` with `monthly_quota`) and an API key with the default scopes."""
    from viral.identity.auth import authenticate, create_api_key
    from viral.identity.tenants import create_tenant
    from viral.tenancy import tenant_scope

    tenant = create_tenant(name)
    with tenant_scope(tenant.id):
        key = create_api_key(name="bench")
    if tier is not None or monthly_quota is not None:
        owner = owner_connection(url)
        try:
            owner.run(
                "update tenants set subscription_tier = coalesce(:tier, subscription_tier), "
                "monthly_quota = coalesce(:quota, monthly_quota) where id = :t::uuid",
                tier=tier,
                quota=monthly_quota,
                t=str(tenant.id),
            )
        finally:
            owner.close()
    principal = authenticate({"authorization": f"Bearer {key.secret}"})
    context = {**principal.context(), "principalId": str(principal.user_id or principal.api_key_id)}
    return Caller(tenant_id=tenant.id, api_key=key.secret, context=context)


@dataclass(frozen=True)
class Request:
    """One HTTP request as API Gateway hands it on: the proxy event, and the authorizer's REQUEST event."""

    proxy: dict[str, Any]
    authorizer: dict[str, Any]
    method_arn: str

    def proxy_with(self, context: dict[str, Any]) -> dict[str, Any]:
        """A fresh copy of the proxy event carrying this authorizer context."""
        event = copy.deepcopy(self.proxy)
        event["requestContext"]["authorizer"] = dict(context)
        return event


def request(method: str, target: str, *, headers: dict[str, str], body: bytes = b"") -> Request:
    """The events of `method target` (a path and query of a route in template.yaml)."""
    from local.apigw import LOCAL_API_ID, HttpRequest, RouteTable, build_event
    from local.authorizer import method_arn, request_event
    from local.template import SamTemplate

    routes = RouteTable(SamTemplate.load(ROOT / "template.yaml").api_routes())
    http = HttpRequest(method=method, target=target, headers=list(headers.items()), body=body)
    match = routes.match(method, http.path)
    proxy = build_event(http, match, request_id=str(uuid.uuid4()))
    arn = method_arn(LOCAL_API_ID, match.route.stage, method, http.path)
    return Request(proxy=proxy, authorizer=request_event(proxy, arn), method_arn=arn)


def allowed_context(policy: Any, arn: str) -> dict[str, Any]:
    """The context API Gateway passes on from an authorizer's policy (raises if the policy refuses)."""
    from local.authorizer import context_from_policy

    return context_from_policy(policy, arn)


def lambda_context(name: str) -> Any:
    from tests.events import LambdaContext

    return LambdaContext(function_name=name)


def flush_usage_rows() -> None:
    """Write the usage rows the Api middleware buffers per process, while their database is still there (left
    buffered, they would be flushed by a later benchmark into another database, and counted as its statements)."""
    from viral.operations.usage import usage_recorder

    usage_recorder.flush()


def statement_figures(name: str, counts: list[int], bound: int) -> list[Figure]:
    """Statements per request: the typical request, and the worst one (the Api middleware writes its buffered
    usage rows on one request in 25, two statements more), each against `bound`."""
    detail = {
        "mean": round(statistics.fmean(counts), 3),
        "per_request": {str(n): counts.count(n) for n in sorted(set(counts))},
    }
    return [
        Figure(f"{name}.typical", statistics.mode(counts), "", "<=", bound, detail),
        Figure(f"{name}.max", max(counts), "", "<=", bound),
    ]
