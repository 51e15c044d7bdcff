"""API Gateway in process: the template's routes, the real authorizer and the real Api function.

Built from the local runtime's own pieces (local/), so tests exercise the same wiring `make run` serves.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from local.apigw import ApiGateway, HttpRequest, RouteTable
from local.authorizer import authorizer_for
from local.lambda_runtime import LambdaFunction
from local.template import SamTemplate
from tests.events import ROOT

AUTHORIZER = "AuthorizerFunction"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Gateway:
    def __init__(self) -> None:
        self.template = SamTemplate.load(ROOT / "template.yaml")
        self.routes = RouteTable(self.template.api_routes())
        self.functions = {name: LambdaFunction(spec) for name, spec in self.template.functions().items()}
        self.gateway = ApiGateway(
            self.routes, self.functions, authorizer_of=lambda route: authorizer_for(self.template, route)
        )
        self._saved_env: dict[str, str | None] = {}

    def request(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
        body: bytes | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if json is not None:
            body = _json_bytes(json)
            sent.setdefault("Content-Type", "application/json")
        response = self.gateway.handle(
            HttpRequest(method=method, target=target, headers=list(sent.items()), body=body or b"")
        )
        merged: dict[str, str] = {}
        for name, value in response.headers:
            merged[name] = f"{merged[name]}, {value}" if name in merged else value
        return Answer(status=response.status, headers=merged, body=response.body)

    def protected_routes(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.routes if authorizer_for(self.template, r) is not None]

    def resource_of(self, method: str, target: str) -> str:
        return self.routes.match(method, target.split("?", 1)[0]).route.path

    def configure(self, **environment: str) -> None:
        """Set environment variables for the functions (undone by close())."""
        from viral.settings import get_settings

        for name, value in environment.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        get_settings.cache_clear()
        self.forget_cached_principals()

    def forget_cached_principals(self) -> None:
        """A fresh authorizer execution environment (its principal memo starts empty)."""
        self.functions[AUTHORIZER]._load()
        sys.modules[f"local_function_{AUTHORIZER}"].principals._entries.clear()

    def close(self) -> None:
        from viral.settings import get_settings

        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        self.forget_cached_principals()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()
