"""Powertools Logger, Tracer and Metrics shared by every function (configured by POWERTOOLS_* variables)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "viral-dashboard"
# The only dimensions a business metric may carry: a few values each. Never a tenant, user or object id: every
# distinct dimension value is a separately billed CloudWatch metric, and ids belong in logs and traces.
BUSINESS_DIMENSIONS = frozenset({"provider", "status", "source", "outcome"})

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace="ViralDashboard")


def business_metric(name: str, value: float = 1, unit: str = "Count", **dimensions: str) -> None:
    """Emit one CloudWatch metric at once (embedded metric format in the log), with its own low-cardinality
    dimensions, so metrics with different dimensions never share one record."""
    unknown = set(dimensions) - BUSINESS_DIMENSIONS
    if unknown:
        raise ValueError(f"not a business metric dimension: {', '.join(sorted(unknown))}")
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=metrics.namespace) as metric:
        for key, dimension_value in sorted(dimensions.items()):
            metric.add_dimension(name=key, value=dimension_value)
