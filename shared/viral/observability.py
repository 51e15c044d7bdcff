"""Powertools Logger, Tracer and Metrics shared by every function (configured by POWERTOOLS_* variables)."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "viral-dashboard"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace="ViralDashboard")


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
