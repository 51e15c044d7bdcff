"""Read template.yaml into what the local runtime wires up: functions, their events, resources and environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
DEFAULT_TIMEOUT_S = 3  # SAM's default when neither the function nor Globals set one
DEFAULT_MEMORY_MB = 128


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation short tags (!Ref, !Sub, ...) into their long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix in ("Ref", "Condition"):  # the two short tags whose long form has no Fn:: prefix
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


@dataclass(frozen=True)
class FunctionSpec:
    """One `AWS::Serverless::Function`: where its code is and how Lambda would call it."""

    logical_id: str
    code_uri: Path
    handler: str
    timeout_s: int = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Globals' variables merged with the function's own (SAM merges the maps), still unresolved intrinsics.
    environment: dict[str, Any] = field(default_factory=dict)
    event_invoke_config: dict[str, Any] = field(default_factory=dict)

    @property
    def module_path(self) -> Path:
        """The handler's source file: `app.lambda_handler` is `<CodeUri>/app.py`."""
        module = self.handler.rsplit(".", 1)[0]
        return self.code_uri.joinpath(*module.split(".")).with_suffix(".py")

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class ApiRoute:
    """One `Type: Api` event: a method on a resource path of a REST API, served by a function."""

    method: str  # upper case; "ANY" matches every method
    path: str  # the resource path, with `{name}` and `{name+}` templates
    function: FunctionSpec
    event_name: str
    stage: str = "local"
    rest_api_id: str | None = None
    auth: dict[str, Any] | None = None  # the event's Auth block, for the authorizer step


@dataclass(frozen=True)
class FunctionEvent:
    """One entry of a function's Events (an SQS queue, a schedule, an S3 notification...)."""

    function: FunctionSpec
    name: str
    type: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class SamTemplate:
    """A parsed SAM template, with paths resolved against the folder it lives in."""

    document: dict[str, Any]
    root: Path

    @classmethod
    def load(cls, path: Path) -> SamTemplate:
        return cls.parse(path.read_text(encoding="utf-8"), root=path.resolve().parent)

    @classmethod
    def parse(cls, text: str, *, root: Path) -> SamTemplate:
        document = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 (a SafeLoader subclass)
        if not isinstance(document, dict):
            raise ValueError("the template is not a YAML mapping")
        return cls(document=document, root=root)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.document.get("Resources") or {}

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        return self.document.get("Parameters") or {}

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id to the Properties of every resource of `resource_type` (e.g. "AWS::SQS::Queue")."""
        return {
            logical_id: resource.get("Properties") or {}
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == resource_type
        }

    def function_events(self, *event_types: str) -> list[FunctionEvent]:
        """Every function event of one of `event_types` (e.g. "SQS", "ScheduleV2"), in template order."""
        return [
            FunctionEvent(function=function, name=name, type=event["Type"], properties=event.get("Properties") or {})
            for function in self.functions().values()
            for name, event in function.events.items()
            if event.get("Type") in event_types
        ]

    def parameter_default(self, value: Any) -> Any:
        """A plain value, or the Default of the parameter a `Ref` names (else None: unknown locally)."""
        if isinstance(value, dict) and set(value) == {"Ref"}:
            parameter = (self.document.get("Parameters") or {}).get(value["Ref"]) or {}
            return parameter.get("Default")
        return None if isinstance(value, dict) else value

    def functions(self) -> dict[str, FunctionSpec]:
        """Every serverless function, with Globals.Function filling the properties it leaves out."""
        defaults = (self.document.get("Globals") or {}).get("Function") or {}
        specs: dict[str, FunctionSpec] = {}
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != SERVERLESS_FUNCTION:
                continue
            own = resource.get("Properties") or {}
            properties = {**defaults, **own}
            environment = {
                **((defaults.get("Environment") or {}).get("Variables") or {}),
                **((own.get("Environment") or {}).get("Variables") or {}),
            }
            code_uri, handler = properties.get("CodeUri"), properties.get("Handler")
            if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
                raise ValueError(f"{logical_id}: a local CodeUri folder and a module.function Handler are required")
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_uri=(self.root / code_uri).resolve(),
                handler=handler,
                timeout_s=int(self.parameter_default(properties.get("Timeout")) or DEFAULT_TIMEOUT_S),
                memory_mb=int(self.parameter_default(properties.get("MemorySize")) or DEFAULT_MEMORY_MB),
                events=properties.get("Events") or {},
                environment=environment,
                event_invoke_config=properties.get("EventInvokeConfig") or {},
            )
        return specs

    def api_routes(self) -> list[ApiRoute]:
        """The routes of every function's `Type: Api` events."""
        routes: list[ApiRoute] = []
        for function in self.functions().values():
            for event_name, event in function.events.items():
                if event.get("Type") != "Api":
                    continue
                properties = event.get("Properties") or {}
                rest_api = properties.get("RestApiId")
                rest_api_id = rest_api.get("Ref") if isinstance(rest_api, dict) else rest_api
                routes.append(
                    ApiRoute(
                        method=str(properties["Method"]).upper(),
                        path="/" + str(properties["Path"]).strip("/"),
                        function=function,
                        event_name=event_name,
                        stage=self.api_stage(rest_api_id),
                        rest_api_id=rest_api_id,
                        auth=properties.get("Auth"),
                    )
                )
        return routes

    def api_stage(self, rest_api_id: str | None) -> str:
        """The stage name of a REST API (SAM's implicit API uses "Prod"); "local" when it cannot be known here."""
        if rest_api_id is None:
            return "Prod"
        properties = (self.resources.get(rest_api_id) or {}).get("Properties") or {}
        stage = self.parameter_default(properties.get("StageName"))
        return str(stage) if stage else "local"
