"""Test-wide settings: tests never read a developer's AWS credentials or real services."""

from __future__ import annotations

import base64
import os

# Set before any test module imports the package: Powertools reads these when its objects are built.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ViralDashboardTest")
os.environ.setdefault("POWERTOOLS_DEV", "0")
os.environ.setdefault("STAGE", "test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ[_name] = "testing"
# Webhook signing secrets are sealed with a key made for this run (deployed stacks use KMS).
os.environ.setdefault("WEBHOOK_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
