"""The benchmarks' baseline: a bare Powertools REST handler (Logger, Tracer, Metrics, resolver), one trivial route."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

logger, tracer = Logger(service="baseline"), Tracer(service="baseline")
metrics = Metrics(service="baseline", namespace="Baseline")
app = APIGatewayRestResolver()


@app.get("/api/user/usage")
def usage() -> dict[str, bool]:
    return {"ok": True}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
