"""TikTok, YouTube and Instagram adapters through the post worker, against fake servers speaking their wire formats:
success, 401 then refresh, 429 with a wait, 5xx after acceptance, a partial upload resumed after 308, a container
that errors, duplicate and concurrent delivery. In every case the platform holds at most one post per post row."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from viral.social import posts
from viral.tenancy import tenant_scope

from local.fakes.http_server import Reply
from tests.events import LambdaContext, load_handler
from tests.fakes.platform_servers import ACCEPT_THEN_500, FakeInstagram, FakeTikTok, FakeYouTube
from tests.fakes.social_platforms import SocialAws, connect_with, social_aws


@pytest.fixture
def tiktok() -> Iterator[FakeTikTok]:
    with FakeTikTok().running() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def youtube() -> Iterator[FakeYouTube]:
    with FakeYouTube().running() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def instagram() -> Iterator[FakeInstagram]:
    with FakeInstagram().running() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def aws(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: object,
    tiktok: FakeTikTok,
    youtube: FakeYouTube,
    instagram: FakeInstagram,
) -> Iterator[SocialAws]:
    env = {
        "TIKTOK_CLIENT_KEY": "tt-key",
        "TIKTOK_CLIENT_SECRET": "tt-secret",
        "TIKTOK_BASE_URL": tiktok.url,
        "GOOGLE_CLIENT_ID": "g-id",
        "GOOGLE_CLIENT_SECRET": "g-secret",
        "GOOGLE_OAUTH_BASE_URL": youtube.url,
        "YOUTUBE_BASE_URL": youtube.url,
        "FACEBOOK_APP_ID": "fb-id",
        "FACEBOOK_APP_SECRET": "fb-secret",
        "GRAPH_BASE_URL": instagram.url,
    }
    with social_aws(monkeypatch, tmp_path, **env) as social:
        yield social


@pytest.fixture
def worker() -> Any:
    return load_handler("post_worker").lambda_handler


@pytest.fixture
def pro(tenant_a: uuid.UUID, owner_engine: Engine) -> uuid.UUID:
    with owner_engine.begin() as connection:
        connection.execute(text("update tenants set subscription_tier = 'PRO' where id = :t"), {"t": tenant_a})
    return tenant_a


def schedule(
    tenant: uuid.UUID, video: uuid.UUID, account: uuid.UUID, privacy: str | None, at: datetime | None = None
) -> uuid.UUID:
    with tenant_scope(tenant):
        [post] = posts.create_posts(
            posts.PostRequest(
                video_id=video,
                account_ids=(account,),
                caption="Hello",
                hashtags=("ai",),
                privacy=privacy,
                scheduled_at=at,
            )
        )
    return post.id


def row(engine: Engine, post_id: uuid.UUID) -> dict[str, Any]:
    with engine.connect() as connection:
        found = connection.execute(text("select * from social_posts where id = :p"), {"p": post_id}).mappings().one()
    return dict(found)


# --- TikTok --------------------------------------------------------------------------------------------------


def test_tiktok_posts_in_chunks_after_creator_info_and_publishes_once(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, tiktok: FakeTikTok
) -> None:
    account = connect_with(pro, "tiktok", tiktok)
    post = schedule(pro, aws.put_video(pro, size=12_000_000), account, "SELF_ONLY")
    aws.run_all(worker)
    stored = row(owner_engine, post)
    [upload] = tiktok.uploads.values()
    assert stored["status"] == "published"
    assert stored["platform_post_id"] == tiktok.published[stored["upload_id"]]
    assert (upload.chunk_size, upload.chunks, upload.received) == (10_000_000, 1, 12_000_000)
    assert (upload.privacy, upload.is_aigc, upload.title) == ("SELF_ONLY", True, "Hello #ai")
    assert tiktok.inits == 1 and len(tiktok.published) == 1


def test_tiktok_without_privacy_is_refused_at_scheduling_with_the_account_options(
    aws: SocialAws, pro: uuid.UUID, tiktok: FakeTikTok
) -> None:
    from viral.errors import InvalidInput

    account = connect_with(pro, "tiktok", tiktok)
    with pytest.raises(InvalidInput) as refused:
        schedule(pro, aws.put_video(pro), account, None)
    assert refused.value.details[0]["options"] == list(tiktok.privacy_options)


def test_tiktok_401_refreshes_once_and_stores_the_rotated_refresh_token(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, tiktok: FakeTikTok
) -> None:
    account = connect_with(pro, "tiktok", tiktok)
    [first_refresh] = tiktok.refresh_tokens
    post = schedule(pro, aws.put_video(pro), account, "SELF_ONLY")
    tiktok.expire_access_tokens()
    aws.run_all(worker)
    assert row(owner_engine, post)["status"] == "published"
    assert first_refresh not in tiktok.refresh_tokens and len(tiktok.refresh_tokens) == 1
    # The next refresh uses the rotated token: it works, so it was stored.
    tiktok.expire_access_tokens()
    second = schedule(pro, aws.put_video(pro), account, "SELF_ONLY")
    aws.run_all(worker)
    assert row(owner_engine, second)["status"] == "published"
    assert len(tiktok.published) == 2


def test_tiktok_429_waits_and_a_5xx_after_the_last_chunk_is_reconciled_not_repeated(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, tiktok: FakeTikTok
) -> None:
    account = connect_with(pro, "tiktok", tiktok)
    limited = schedule(pro, aws.put_video(pro), account, "SELF_ONLY")
    tiktok.fail_next(
        "init",
        Reply(
            429,
            '{"data": {}, "error": {"code": "rate_limit_exceeded", "message": "", "log_id": "x"}}',
            {"Retry-After": "30"},
        ),
    )
    aws.run_all(worker)
    assert row(owner_engine, limited)["status"] == "scheduled"
    assert tiktok.inits == 0

    accepted = schedule(pro, aws.put_video(pro), account, "SELF_ONLY")
    tiktok.fail_next("chunk", ACCEPT_THEN_500)
    aws.run_all(worker)
    stored = row(owner_engine, accepted)
    assert stored["status"] == "published"
    assert tiktok.inits == 1 and len(tiktok.published) == 1


def test_tiktok_public_post_id_arriving_late_is_filled_in(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, tiktok: FakeTikTok
) -> None:
    tiktok.post_id_delay_checks = 1
    account = connect_with(pro, "tiktok", tiktok)
    post = schedule(pro, aws.put_video(pro), account, "PUBLIC_TO_EVERYONE")
    aws.run_all(worker)
    stored = row(owner_engine, post)
    assert stored["status"] == "published"
    assert stored["platform_post_id"] == tiktok.published[stored["upload_id"]]
    assert [h["event"] for h in stored["history"]][-2:] == ["published", "post_id_known"]


def test_duplicate_and_concurrent_deliveries_of_one_job_publish_once(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, tiktok: FakeTikTok
) -> None:
    account = connect_with(pro, "tiktok", tiktok)
    post = schedule(pro, aws.put_video(pro), account, "SELF_ONLY")
    [record] = aws.receive()
    copies = [dict(record, messageId=str(uuid.uuid4())) for _ in range(4)]
    threads = [threading.Thread(target=worker, args=({"Records": [c]}, LambdaContext())) for c in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    aws.run_all(worker)
    for copy in copies:  # SQS delivers each again later
        worker({"Records": [copy]}, LambdaContext())
    assert row(owner_engine, post)["status"] == "published"
    assert tiktok.inits == 1 and len(tiktok.published) == 1


# --- YouTube -------------------------------------------------------------------------------------------------


def test_youtube_resumable_upload_resumes_after_a_partial_put_and_declares_kids_and_synthetic_media(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, youtube: FakeYouTube
) -> None:
    account = connect_with(pro, "youtube", youtube)
    youtube.partial_first_put = True
    post = schedule(pro, aws.put_video(pro, size=3_000_000), account, None)
    aws.run_all(worker)
    stored = row(owner_engine, post)
    [session] = youtube.sessions.values()
    assert stored["status"] == "published"
    assert stored["platform_post_id"] == session.video_id
    assert stored["post_url"] == f"https://www.youtube.com/shorts/{session.video_id}"
    assert session.received == session.size == 3_000_000
    status = session.metadata["status"]
    assert (status["selfDeclaredMadeForKids"], status["containsSyntheticMedia"], status["privacyStatus"]) == (
        False,
        True,
        "private",
    )
    assert len(youtube.published) == 1


def test_youtube_expired_session_restarts_and_quota_exceeded_reschedules(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, youtube: FakeYouTube
) -> None:
    account = connect_with(pro, "youtube", youtube)
    restarted = schedule(pro, aws.put_video(pro), account, None)
    youtube.fail_next("put", Reply(404, b"Not Found"))
    aws.run_all(worker)
    assert row(owner_engine, restarted)["status"] == "published"
    assert len(youtube.sessions) == 2 and len(youtube.published) == 1

    quota = schedule(pro, aws.put_video(pro), account, None)
    youtube.fail_next("start", FakeYouTube._error(403, "quotaExceeded", "quota"))
    aws.run_all(worker)
    waiting = row(owner_engine, quota)
    assert waiting["status"] == "scheduled" and "quota" in waiting["history"][-1]["note"]


def test_youtube_refresh_keeps_the_stored_refresh_token_google_did_not_resend(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, youtube: FakeYouTube
) -> None:
    account = connect_with(pro, "youtube", youtube)
    with owner_engine.connect() as connection:
        before = connection.execute(
            text("select refresh_token from social_accounts where id = :a"), {"a": account}
        ).scalar_one()
    youtube.expire_access_tokens()
    post = schedule(pro, aws.put_video(pro), account, None)
    aws.run_all(worker)
    with owner_engine.connect() as connection:
        after = connection.execute(
            text("select refresh_token, status from social_accounts where id = :a"), {"a": account}
        ).one()
    assert row(owner_engine, post)["status"] == "published"
    assert after.refresh_token == before and after.status == "active"


# --- Instagram -----------------------------------------------------------------------------------------------


def test_instagram_container_is_published_once_after_it_finishes(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, instagram: FakeInstagram
) -> None:
    account = connect_with(pro, "instagram", instagram)
    post = schedule(pro, aws.put_video(pro), account, None)
    aws.run_all(worker)
    stored = row(owner_engine, post)
    [container] = instagram.containers.values()
    assert stored["status"] == "published"
    assert stored["platform_post_id"] == container.media_id
    assert stored["post_url"] == f"https://www.instagram.com/reel/{container.media_id}/"
    assert container.video_url.startswith("https://") and instagram.publish_calls == 1


def test_instagram_5xx_after_publishing_is_reconciled_by_the_container_never_published_twice(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, instagram: FakeInstagram
) -> None:
    account = connect_with(pro, "instagram", instagram)
    post = schedule(pro, aws.put_video(pro), account, None)
    instagram.fail_next("publish", ACCEPT_THEN_500)
    aws.run_all(worker)
    assert row(owner_engine, post)["status"] == "published"
    assert instagram.server.count("POST", f"/v25.0/{instagram.ig_user}/media_publish") == 1
    assert len(instagram.published) == 1


def test_instagram_container_error_fails_the_post_with_the_reason(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, instagram: FakeInstagram
) -> None:
    instagram.container_outcome = "ERROR"
    account = connect_with(pro, "instagram", instagram)
    post = schedule(pro, aws.put_video(pro), account, None)
    aws.run_all(worker)
    stored = row(owner_engine, post)
    assert (stored["status"], stored["error_code"]) == ("failed", "ERROR")
    assert "Instagram could not process the video" in stored["error_message"]
    assert instagram.publish_calls == 0


def test_instagram_ambiguous_publish_with_an_unchanged_container_becomes_unconfirmed(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, instagram: FakeInstagram
) -> None:
    account = connect_with(pro, "instagram", instagram)
    post = schedule(pro, aws.put_video(pro), account, None)
    instagram.fail_next("publish", Reply(502, b""))  # no answer we can trust, and nothing changed
    aws.run_all(worker)
    stored = row(owner_engine, post)
    assert (stored["status"], stored["error_code"]) == ("unconfirmed", "UNCONFIRMED")
    assert instagram.server.count("POST", f"/v25.0/{instagram.ig_user}/media_publish") == 1  # never asked again
    assert instagram.published == {}


def test_youtube_daily_upload_budget_is_shared_by_every_tenant_and_reserved_at_scheduling(
    aws: SocialAws,
    pro: uuid.UUID,
    tenant_b: uuid.UUID,
    youtube: FakeYouTube,
    monkeypatch: pytest.MonkeyPatch,
    owner_engine: Engine,
) -> None:
    from viral.settings import get_settings
    from viral.social.limits import LimitReached, pacific_day_start

    monkeypatch.setenv("YOUTUBE_DAILY_UPLOADS", "1")
    get_settings.cache_clear()
    # A day no other test schedules on (the budget is global: tests running alongside must not take it).
    day = datetime.now(UTC) + timedelta(days=100 + uuid.uuid4().int % 60)
    with owner_engine.begin() as connection:
        connection.execute(text("delete from social_app_usage where window_start = :w"), {"w": pacific_day_start(day)})
    a_post = schedule(pro, aws.put_video(pro), connect_with(pro, "youtube", youtube), None, day)
    b_account = connect_with(tenant_b, "youtube", youtube)
    with pytest.raises(LimitReached) as refused:
        schedule(tenant_b, aws.put_video(tenant_b), b_account, None, day)
    next_free = refused.value.details["nextFreeAt"]
    assert next_free.startswith(pacific_day_start(day + timedelta(days=1)).date().isoformat())
    with tenant_scope(pro):
        posts.cancel_post(a_post)  # the unit goes back to the shared budget
    schedule(tenant_b, aws.put_video(tenant_b), b_account, None, day)


def test_instagram_publishing_limit_is_read_live_before_scheduling(
    aws: SocialAws, pro: uuid.UUID, instagram: FakeInstagram
) -> None:
    from viral.social.limits import LimitReached

    account = connect_with(pro, "instagram", instagram)
    instagram.published.update({f"c{n}": f"m{n}" for n in range(49)})  # 49 of 50 used in the last 24 h
    schedule(pro, aws.put_video(pro), account, None)
    with pytest.raises(LimitReached) as refused:
        schedule(pro, aws.put_video(pro), account, None)
    assert "1 more posts" in refused.value.details["reason"]


def test_a_youtube_reconnect_without_a_refresh_token_keeps_the_stored_one(
    aws: SocialAws, worker: Any, pro: uuid.UUID, owner_engine: Engine, youtube: FakeYouTube
) -> None:
    account = connect_with(pro, "youtube", youtube)
    query = text("select refresh_token, access_token from social_accounts where id = :a")
    with owner_engine.connect() as connection:
        before = connection.execute(query, {"a": account}).one()
    youtube.resend_refresh_token = False
    assert connect_with(pro, "youtube", youtube) == account  # the same channel: the same row
    with owner_engine.connect() as connection:
        after = connection.execute(query, {"a": account}).one()
    assert after.refresh_token == before.refresh_token and after.access_token != before.access_token
    youtube.expire_access_tokens()  # the kept refresh token still works
    post = schedule(pro, aws.put_video(pro), account, None)
    aws.run_all(worker)
    assert row(owner_engine, post)["status"] == "published"
