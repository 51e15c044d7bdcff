"""The operator CLI: migrate, create and list tenants, human and --json output."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import URL
from viral.cli import main
from viral.db.migrate import head_revision

HEAD = head_revision()


def test_tenant_create_prints_the_id_and_list_shows_it(database_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tenant", "create", "--name", "Acme Studio"]) == 0
    tenant_id = uuid.UUID(capsys.readouterr().out.strip())
    assert main(["--json", "tenant", "list"]) == 0
    tenants = json.loads(capsys.readouterr().out)
    assert {"id": str(tenant_id), "name": "Acme Studio", "tier": "FREE", "usedQuota": 0, "monthlyQuota": 10} in tenants


def test_tenant_create_json_and_bad_name(database_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "tenant", "create", "--name", "Json Co"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["name"] == "Json Co"
    assert created["subscription_tier"] == "FREE"
    assert main(["tenant", "create", "--name", "   "]) == 2
    assert "tenant name" in capsys.readouterr().err


def test_migrate_reports_the_revision(database_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "migrate"]) == 0
    assert json.loads(capsys.readouterr().out) == {"revision": HEAD}
