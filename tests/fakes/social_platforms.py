"""The social side in process: moto's bucket and post-jobs queue, the sandbox network, and helpers that connect
accounts through the real OAuth flow and store ready videos to post.

Every platform records what it published per post row (`SandboxNetwork.published`, the fakes' `published`), so
tests can assert at most one published post per post row.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.video_vendors import VideoAws

VIDEO_BYTES = 9 * 1024 * 1024 + 123  # three sandbox chunks (4 MiB each), the last one short


@dataclass
class SocialAws(VideoAws):
    sent_posts: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    _seen: int = 0

    def run_all(self, handler: Any, *, rounds: int = 40) -> list[dict[str, Any]]:
        """Deliver until nothing is left, delivering messages sent with a delay at once (time flies in tests)."""
        from tests.events import LambdaContext

        answers = []
        for _ in range(rounds):
            records = self.receive()
            if records:
                answers.append(self.deliver(handler, records))
                continue
            delayed = [body for body, delay in self.sent_posts[self._seen :] if delay > 0]
            self._seen = len(self.sent_posts)
            if not delayed:
                break
            records = [self.synthetic(body) for body in delayed]
            answers.append(handler({"Records": records}, LambdaContext()))
        return answers

    def synthetic(self, body: dict[str, Any]) -> dict[str, Any]:
        message_id = str(uuid.uuid4())
        return self.record({"MessageId": message_id, "ReceiptHandle": message_id, "Body": json.dumps(body)})

    def put_video(self, tenant: uuid.UUID, size: int = VIDEO_BYTES) -> uuid.UUID:
        """A ready video of the tenant, stored in the bucket (registered as the pipeline would)."""
        import boto3
        from viral.db.uow import unit_of_work
        from viral.tenancy import tenant_scope
        from viral.video.repository import VideoRepository

        key = f"videos/{tenant}/{uuid.uuid4()}.mp4"
        boto3.client("s3").put_object(Bucket=self.bucket, Key=key, Body=os.urandom(size), ContentType="video/mp4")
        with tenant_scope(tenant), unit_of_work() as uow:
            video, _ = uow.repository(VideoRepository).register_upload(
                s3_key=key, etag=uuid.uuid4().hex, platform="tiktok", concept_id=None, category=None
            )
            uow.repository(VideoRepository).update(
                video.id, status="ready", size_bytes=size, duration_s=12, provider="storyboard"
            )
        return video.id


@contextmanager
def social_aws(monkeypatch: Any, tmp_path: Path, **environment: str) -> Iterator[SocialAws]:
    """moto in process with the media bucket and post-jobs; a local token key; the sandbox with no processing delay;
    settings, clients, platforms and the sandbox network fresh."""
    import boto3
    from moto import mock_aws
    from viral.aws import reset_clients
    from viral.settings import get_settings
    from viral.social import posts, worker
    from viral.social.platforms.registry import reset_platforms
    from viral.social.platforms.sandbox import reset_sandbox
    from viral.social.tokens import reset_token_box

    def reset() -> None:
        reset_clients()
        reset_platforms()
        reset_sandbox()
        reset_token_box()
        get_settings.cache_clear()

    with mock_aws():
        reset_clients()
        bucket = "viral-test-media"
        boto3.client("s3").create_bucket(Bucket=bucket)
        queue_url = boto3.client("sqs").create_queue(QueueName="post-jobs", Attributes={"VisibilityTimeout": "0"})[
            "QueueUrl"
        ]
        aws = SocialAws(bucket=bucket, queue_url=queue_url)
        env = {
            "MEDIA_BUCKET": bucket,
            "POST_QUEUE_URL": queue_url,
            "TOKEN_KEY_FILE": str(tmp_path / "token-key"),
            "SANDBOX_PROCESSING_S": "0",
            "POST_POLL_INTERVAL_S": "0",
            "SOCIAL_REDIRECT_BASE": "https://api.test",
            "DASHBOARD_URL": "https://dashboard.test",
            **environment,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for module in (posts, worker):
            real_send = module.send

            def recording_send(queue: str | None, message: Any, *, delay_s: int = 0, _real: Any = real_send) -> str:
                aws.sent_posts.append((json.loads(message.model_dump_json(by_alias=True)), delay_s))
                return str(_real(queue, message, delay_s=delay_s))

            monkeypatch.setattr(module, "send", recording_send)
        reset()
        try:
            yield aws
        finally:
            reset()


def browser_cookie(set_cookie: str) -> str:
    """The value of the state-binding cookie from a Set-Cookie header."""
    from viral.social.oauth import COOKIE

    first = set_cookie.split(";", 1)[0]
    name, _, value = first.partition("=")
    assert name.strip() == COOKIE
    return value


def consent(auth_url: str, *, user: str = "sandbox-creator") -> str:
    """What the sandbox's consent page does: a code for the state, sent back to the redirect URI."""
    from viral.social.platforms.sandbox import sandbox_network

    query = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    code = sandbox_network().grant_code(
        redirect_uri=query["redirect_uri"], code_challenge=query["code_challenge"], user=user
    )
    return code


def connect_sandbox(tenant: uuid.UUID, *, user: str = "sandbox-creator") -> uuid.UUID:
    """Connect a sandbox account through the real flow (state, consent, callback); its id."""
    from viral.social import accounts
    from viral.tenancy import tenant_scope

    with tenant_scope(tenant):
        started = accounts.start_connect("sandbox", user_id=None)
    code = consent(started.auth_url, user=user)
    location = accounts.complete_connect(
        "sandbox", code=code, state=started.state, error=None, browser=browser_cookie(started.cookie)
    )
    assert "success=sandbox" in location, location
    with tenant_scope(tenant):
        listed = accounts.list_accounts()["accounts"]["sandbox"]
    return uuid.UUID(next(a["id"] for a in listed if a["username"] == user))


def connect_with(tenant: uuid.UUID, platform: str, fake: Any) -> uuid.UUID:
    """Connect an account of `platform` through the real flow against its fake server; the account's id."""
    from viral.social import accounts
    from viral.tenancy import tenant_scope

    with tenant_scope(tenant):
        started = accounts.start_connect(platform, user_id=None)
    query = {k: v[0] for k, v in parse_qs(urlsplit(started.auth_url).query).items()}
    code = fake.grant_code(redirect_uri=query["redirect_uri"], code_challenge=query.get("code_challenge"))
    location = accounts.complete_connect(
        platform, code=code, state=started.state, error=None, browser=browser_cookie(started.cookie)
    )
    assert f"success={platform}" in location, location
    with tenant_scope(tenant):
        listed = accounts.list_accounts()["accounts"][platform]
    return uuid.UUID(listed[0]["id"])
