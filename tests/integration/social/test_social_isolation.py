"""Tenant B cannot see or change tenant A's social rows, through the repositories or by hand-written SQL (RLS)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from viral.db.uow import unit_of_work
from viral.social import accounts, posts
from viral.social.repository import AccountRepository, OAuthStateRepository, PostRepository
from viral.tenancy import tenant_scope

from tests.fakes.social_platforms import SocialAws, connect_sandbox, social_aws


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: object) -> Iterator[SocialAws]:
    with social_aws(monkeypatch, tmp_path) as social:
        yield social


def test_repositories_of_tenant_b_neither_see_nor_change_tenant_a_rows(
    aws: SocialAws, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    account = connect_sandbox(tenant_a)
    with tenant_scope(tenant_a):
        started = accounts.start_connect("sandbox", user_id=None)
        [post] = posts.create_posts(
            posts.PostRequest(
                video_id=aws.put_video(tenant_a),
                account_ids=(account,),
                privacy="PUBLIC",
                scheduled_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )
    nonce = started.state.split(".")[0]
    with unit_of_work(tenant_b) as uow:
        assert uow.repository(AccountRepository).get(account) is None
        assert uow.repository(AccountRepository).all() == []
        uow.repository(AccountRepository).update(account, status="disconnected", access_token=None)
        assert uow.repository(PostRepository).lock(post.id) is None
        assert uow.repository(PostRepository).newest(limit=10) == []
        uow.repository(PostRepository).update(post.id, status="canceled")
        with owner_engine.connect() as connection:
            nonces = connection.execute(text("select nonce from oauth_states where tenant_id = :t"), {"t": tenant_a})
            for (found,) in nonces:
                assert uow.repository(OAuthStateRepository).spend(found, "sandbox") is False
    assert nonce  # the state exists (A's); B could not spend any of A's nonces
    with owner_engine.connect() as connection:
        assert connection.execute(text("select status from social_posts where id = :p"), {"p": post.id}).scalar() == (
            "scheduled"
        )
        assert (
            connection.execute(text("select status from social_accounts where id = :a"), {"a": account}).scalar()
            == "active"
        )


def test_row_level_security_hides_tenant_a_social_rows_from_tenant_b_sql(
    aws: SocialAws, tenant_a: uuid.UUID, tenant_b: uuid.UUID, runtime_engine: Engine
) -> None:
    connect_sandbox(tenant_a)
    with runtime_engine.connect() as connection, connection.begin():
        connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant_b)})
        for table in ("social_accounts", "social_posts", "oauth_states"):
            assert connection.execute(text(f"select count(*) from {table}")).scalar_one() == 0, table
        changed = connection.execute(text("update social_accounts set status = 'disconnected'")).rowcount
    assert changed == 0
