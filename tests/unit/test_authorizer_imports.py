"""A cold authorizer that sees API keys loads no SQLAlchemy (nor the models, repositories or schemas)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.events import ROOT

# The X-Ray SDK too: the authorizer only logs, and Lambda records its trace segment without the SDK.
HEAVY = (
    "sqlalchemy",
    "viral.db.models",
    "viral.db.repositories",
    "viral.db.uow",
    "viral.schemas",
    "jwt",
    "aws_xray_sdk",
)

# Loads the handler as Lambda does (by path), refuses one request without credentials (no database needed),
# and prints which of the heavy modules got imported.
_CHILD = """
import importlib.util, json, sys
from tests.events import LambdaContext
target = sys.argv[1]
if target == "authorizer":
    spec = importlib.util.spec_from_file_location("authorizer_app", "functions/authorizer/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    event = {"type": "REQUEST", "headers": {"Authorization": "Bearer vd_short"},
             "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/GET/api/user/usage"}
    try:
        module.lambda_handler(event, LambdaContext())
    except Exception as refused:
        assert str(refused) == "Unauthorized", refused
elif target.endswith(".py"):
    spec = importlib.util.spec_from_file_location("probed_app", target)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
else:
    importlib.import_module(target)
heavy = json.loads(sys.argv[2])
print(json.dumps(sorted(name for name in heavy if name in sys.modules)))
"""


def _heavy_modules_after(target: str) -> list[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "shared"), str(ROOT)]),
        "POWERTOOLS_TRACE_DISABLED": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", _CHILD, target, json.dumps(HEAVY)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_authorizer_cold_start_imports_no_sqlalchemy() -> None:
    assert _heavy_modules_after("authorizer") == []


def test_the_check_sees_sqlalchemy_where_it_is_imported() -> None:
    # The same probe on the full auth service (the Clerk path) must find SQLAlchemy, or the test above proves nothing.
    assert "sqlalchemy" in _heavy_modules_after("viral.identity.auth")


def test_the_check_sees_the_xray_sdk_where_a_tracer_is_used() -> None:
    assert "aws_xray_sdk" in _heavy_modules_after("functions/video_worker/app.py")
