"""Powertools Logger, Tracer and Metrics shared by every function (configured by POWERTOOLS_* variables)."""

from __future__ import annotations

import logging
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


def _database_error(error: BaseException | None) -> BaseException | None:
    """The first driver or SQLAlchemy error in an exception's chain (found by module: no import needed)."""
    seen = 0
    while error is not None and seen < 10:
        if type(error).__module__.split(".")[0] in ("sqlalchemy", "pg8000"):
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None


class _WithoutDatabaseDetails(logging.Filter):
    """Database errors are logged by kind and SQLSTATE only: their text can quote SQL parameters or row values
    (PostgreSQL's messages and DETAIL lines do: "Key (prefix)=(...) already exists"), which are tenant content.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        found = _database_error(record.exc_info[1] if record.exc_info else None)
        if found is not None:
            driver = getattr(found, "orig", None) or found
            args = getattr(driver, "args", ())
            code = args[0].get("C") if args and isinstance(args[0], dict) else None
            record.msg = f"{record.getMessage()} [{type(found).__name__}, sqlstate {code or 'unknown'}]"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


logger.addFilter(_WithoutDatabaseDetails())


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
