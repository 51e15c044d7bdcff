"""The operator CLI: one JSON style, `--json` anywhere, keys, plans and quotas, one-line errors with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, Engine, text
from viral.cli import main
from viral.db.migrate import head_revision

from tests import dexie_files as dx

HEAD = head_revision()
VIRAL = Path(sys.executable).with_name("viral")


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """A user's mistake: exit 2 and one line on stderr (argparse's own errors included)."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def cli_process(argv: list[str], cwd: Path, database_url: URL) -> subprocess.CompletedProcess[str]:
    """The installed `viral` in its own process (stdout as a script sees it)."""
    env = {**os.environ, "DATABASE_URL": database_url.render_as_string(hide_password=False)}
    return subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [str(VIRAL), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_tenant_create_prints_the_id_and_list_shows_it(database_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tenant", "create", "--name", "Acme Studio"]) == 0
    tenant_id = uuid.UUID(capsys.readouterr().out.strip())
    tenants = run_json(capsys, ["--json", "tenant", "list"])
    listed = next(t for t in tenants if t["id"] == str(tenant_id))
    assert {k: listed[k] for k in ("name", "tier", "usedQuota", "monthlyQuota")} == {
        "name": "Acme Studio",
        "tier": "FREE",
        "usedQuota": 0,
        "monthlyQuota": 10,
    }


def test_json_before_or_after_the_subcommand_in_one_style(
    database_url: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    after = run_json(capsys, ["tenant", "create", "--name", "Json Co", "--json"])
    before = run_json(capsys, ["--json", "tenant", "create", "--name", "Json Two"])
    assert (
        set(after)
        == set(before)
        == {
            "id",
            "name",
            "tier",
            "status",
            "usedQuota",
            "monthlyQuota",
            "quotaResetAt",
            "createdAt",
        }
    )
    assert (after["name"], after["tier"]) == ("Json Co", "FREE")
    for stamp in (after["createdAt"], after["quotaResetAt"]):
        assert "T" in stamp and datetime.fromisoformat(stamp).tzinfo is not None  # ISO 8601, not str(datetime)
    listed = next(t for t in run_json(capsys, ["tenant", "list", "--json"]) if t["id"] == after["id"])
    assert listed == after  # the same shape and the same values from create and list
    assert main(["tenant", "create", "--name", "   "]) == 2
    assert "tenant name" in capsys.readouterr().err


def test_api_key_list_and_revoke_needs_a_target(
    tenant_a: uuid.UUID, tenant_b: uuid.UUID, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_json(capsys, ["api-key", "create", "--tenant", str(tenant_a), "--name", "one", "--json"])
    second = run_json(capsys, ["api-key", "create", "--tenant", str(tenant_a), "--name", "two", "--json"])
    other = run_json(capsys, ["api-key", "create", "--tenant", str(tenant_b), "--json"])
    listed = run_json(capsys, ["api-key", "list", "--tenant", str(tenant_a), "--json"])
    assert {k["id"] for k in listed} == {first["id"], second["id"]}
    assert all("key" not in k and k["revokedAt"] is None for k in listed)  # never a secret
    assert {k["prefix"] for k in listed} == {first["prefix"], second["prefix"]}

    assert "--id --prefix --all" in refused(capsys, ["api-key", "revoke", "--tenant", str(tenant_a)])
    assert len(run_json(capsys, ["api-key", "list", "--tenant", str(tenant_a), "--json"])) == 2  # nothing revoked

    gone = run_json(capsys, ["api-key", "revoke", "--tenant", str(tenant_a), "--id", first["id"], "--json"])
    assert [k["id"] for k in gone] == [first["id"]]
    assert gone[0]["revokedAt"] is not None
    # Tenant B cannot reach tenant A's key by id or prefix, and its own key survives A's --all.
    assert "not found" in refused(capsys, ["api-key", "revoke", "--tenant", str(tenant_b), "--id", second["id"]])
    assert "not found" in refused(
        capsys, ["api-key", "revoke", "--tenant", str(tenant_b), "--prefix", second["prefix"]]
    )
    everything = run_json(capsys, ["api-key", "revoke", "--tenant", str(tenant_a), "--all", "--json"])
    assert [k["id"] for k in everything] == [second["id"]]
    assert run_json(capsys, ["api-key", "list", "--tenant", str(tenant_a), "--json"]) == []
    assert [k["id"] for k in run_json(capsys, ["api-key", "list", "--tenant", str(tenant_b), "--json"])] == [
        other["id"]
    ]


def test_set_plan_and_reset_quota(
    tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with owner_engine.begin() as connection:
        connection.execute(
            text("update tenants set used_quota = 10 where id in (:a, :b)"), {"a": tenant_a, "b": tenant_b}
        )
    plan = run_json(capsys, ["tenant", "set-plan", "--tenant", str(tenant_a), "--plan", "PRO", "--json"])
    assert (plan["tier"], plan["monthlyQuota"], plan["usedQuota"]) == ("PRO", 50, 10)
    reset = run_json(capsys, ["--json", "tenant", "reset-quota", "--tenant", str(tenant_a)])
    assert (reset["tier"], reset["usedQuota"]) == ("PRO", 0)
    assert main(["tenant", "set-plan", "--tenant", str(tenant_a), "--plan", "starter"]) == 0  # any letter case
    assert "tier: STARTER" in capsys.readouterr().out
    with owner_engine.connect() as connection:
        rows = dict(
            connection.execute(
                text(
                    "select id, (subscription_tier, monthly_quota, used_quota)::text from tenants where id in (:a, :b)"
                ),
                {"a": tenant_a, "b": tenant_b},
            ).all()
        )
    assert rows == {tenant_a: "(STARTER,25,0)", tenant_b: "(FREE,10,10)"}  # tenant B untouched
    assert "invalid choice: 'GOLD'" in refused(
        capsys, ["tenant", "set-plan", "--tenant", str(tenant_a), "--plan", "gold"]
    )


def test_user_mistakes_are_one_line_and_exit_2(database_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(uuid.uuid4())
    for argv in (
        ["api-key", "create", "--tenant", missing],
        ["api-key", "list", "--tenant", missing],
        ["api-key", "revoke", "--tenant", missing, "--all"],
        ["tenant", "set-plan", "--tenant", missing, "--plan", "PRO"],
        ["tenant", "reset-quota", "--tenant", missing],
    ):
        assert refused(capsys, argv) == f"error: tenant {missing} not found"
    assert "not a tenant id" in refused(capsys, ["api-key", "list", "--tenant", "acme"])
    assert "not an API key id" in refused(capsys, ["api-key", "revoke", "--tenant", missing, "--id", "x"])
    assert "invalid choice" in refused(capsys, ["tenant", "frobnicate"])
    assert "cannot write" in refused(capsys, ["openapi", "--output", "/nonexistent-folder/openapi.json"])


def test_migrate_reports_the_revision(database_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, ["--json", "migrate"]) == {"revision": HEAD}


def test_openapi_prints_the_document_from_any_folder(database_url: URL, tmp_path: Path) -> None:
    printed = cli_process(["openapi"], tmp_path, database_url)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["openapi"].startswith("3.")
    assert list(tmp_path.iterdir()) == []  # nothing written without --output
    written = cli_process(["openapi", "--output", "api.json"], tmp_path, database_url)
    assert written.returncode == 0, written.stderr
    assert json.loads((tmp_path / "api.json").read_text()) == json.loads(printed.stdout)


def test_import_dexie_json_is_the_only_thing_on_stdout(database_url: URL, tenant_a: uuid.UUID, tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    dx.write_export(path, dx.tables(dx.dashboard_data(generations=2)), dx.ExportOptions())
    done = cli_process(["import-dexie", str(path), "--tenant", str(tenant_a), "--json"], tmp_path, database_url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # the whole of stdout is the report: no log line before it
    assert (report["status"], report["written"]) == ("imported", True)
