"""Powertools Logger, Tracer and Metrics shared by every function (configured by POWERTOOLS_* variables)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics, Tracer

    tracer: Tracer
    metrics: Metrics

SERVICE = "viral-dashboard"
# The only dimensions a business metric may carry: a few values each. Never a tenant, user or object id: every
# distinct dimension value is a separately billed CloudWatch metric, and ids belong in logs and traces.
BUSINESS_DIMENSIONS = frozenset({"provider", "status", "source", "outcome"})

logger = Logger(service=SERVICE)


def __getattr__(name: str) -> Any:
    """`tracer` and `metrics`, made on first use: the Tracer loads the X-Ray SDK (about a fifth of a bare
    handler's cold start), which a function that only logs, like the authorizer, never needs."""
    if name == "tracer":
        from aws_lambda_powertools import Tracer

        value: Any = Tracer(service=SERVICE)
    elif name == "metrics":
        from aws_lambda_powertools import Metrics

        value = Metrics(service=SERVICE, namespace="ViralDashboard")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def business_metric(name: str, value: float = 1, unit: str = "Count", **dimensions: str) -> None:
    """Emit one CloudWatch metric at once (embedded metric format in the log), with its own low-cardinality
    dimensions, so metrics with different dimensions never share one record."""
    unknown = set(dimensions) - BUSINESS_DIMENSIONS
    if unknown:
        raise ValueError(f"not a business metric dimension: {', '.join(sorted(unknown))}")
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=_namespace()) as metric:
        for key, dimension_value in sorted(dimensions.items()):
            metric.add_dimension(name=key, value=dimension_value)


def _namespace() -> str:
    # Inside this module a global name never reaches __getattr__: go through the module attribute.
    namespace = __getattr__("metrics").namespace if "metrics" not in globals() else globals()["metrics"].namespace
    return str(namespace)
