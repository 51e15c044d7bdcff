"""The tenant's social accounts, posts and OAuth states; the system path that finds every tenant's due posts; the
per-app budgets shared by every tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from viral.db.models import POST_OPEN, Job, OAuthState, SocialAccount, SocialPost, Video
from viral.db.repository import TenantRepositoryBase


@dataclass(frozen=True)
class AccountRecord:
    """An account as services see it; the token columns stay sealed (ciphertext) here."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    platform: str
    username: str
    platform_account_id: str | None
    display_name: str | None
    status: str
    status_reason: str | None
    access_token: str | None
    refresh_token: str | None
    token_key_id: str | None
    expires_at: datetime | None
    refresh_expires_at: datetime | None
    scopes: str | None
    capabilities: dict[str, Any]
    daily_limit: int
    niche: str | None
    is_active: bool
    refresh_lease: uuid.UUID | None
    refresh_lease_until: datetime | None
    disconnected_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PostRecord:
    id: uuid.UUID
    tenant_id: uuid.UUID
    video_id: uuid.UUID
    account_id: uuid.UUID
    platform: str
    status: str
    scheduled_for: datetime
    caption: str
    hashtags: list[Any]
    privacy: str | None
    disclosure: dict[str, Any]
    job_id: uuid.UUID | None
    step: int
    attempts: int
    lease_until: datetime | None
    dispatched_at: datetime | None
    upload_id: str | None
    upload_state: dict[str, Any]
    publishing_started_at: datetime | None
    platform_post_id: str | None
    post_url: str | None
    posted_at: datetime | None
    error_code: str | None
    error_message: str | None
    history: list[Any]
    created_at: datetime
    updated_at: datetime


_ACCOUNT_FIELDS = tuple(f.name for f in fields(AccountRecord))
_POST_FIELDS = tuple(f.name for f in fields(PostRecord))


def _account(row: SocialAccount) -> AccountRecord:
    return AccountRecord(**{name: getattr(row, name) for name in _ACCOUNT_FIELDS})


def _post(row: SocialPost) -> PostRecord:
    return PostRecord(**{name: getattr(row, name) for name in _POST_FIELDS})


@dataclass(frozen=True)
class VideoSource:
    id: uuid.UUID
    status: str
    s3_key: str | None
    size_bytes: int | None
    duration_s: float | None
    provider: str
    concept_title: str | None


class AccountRepository(TenantRepositoryBase[SocialAccount]):
    model = SocialAccount

    def get(self, account_id: uuid.UUID) -> AccountRecord | None:
        row = self.session.scalars(self._select().where(SocialAccount.id == account_id)).one_or_none()
        return None if row is None else _account(row)

    def lock(self, account_id: uuid.UUID) -> AccountRecord | None:
        statement = self._select().where(SocialAccount.id == account_id).with_for_update()
        row = self.session.scalars(statement).one_or_none()
        return None if row is None else _account(row)

    def all(self) -> list[AccountRecord]:
        statement = self._select().order_by(SocialAccount.platform, SocialAccount.created_at.desc())
        return [_account(row) for row in self.session.scalars(statement)]

    def many(self, account_ids: list[uuid.UUID]) -> list[AccountRecord]:
        statement = self._select().where(SocialAccount.id.in_(account_ids)).with_for_update()
        return [_account(row) for row in self.session.scalars(statement.order_by(SocialAccount.id))]

    def count_connected(self) -> int:
        statement = self._select(func.count()).where(SocialAccount.status != "disconnected")
        return int(self.session.execute(statement).scalar_one())

    def find(self, platform: str, platform_account_id: str) -> AccountRecord | None:
        statement = self._select().where(
            SocialAccount.platform == platform, SocialAccount.platform_account_id == platform_account_id
        )
        row = self.session.scalars(statement.with_for_update()).one_or_none()
        return None if row is None else _account(row)

    def create(self, **values: Any) -> AccountRecord:
        return _account(
            self.session.scalars(insert(SocialAccount).values(self._stamp(values)).returning(SocialAccount)).one()
        )

    def update(self, account_id: uuid.UUID, **values: Any) -> None:
        self.session.execute(
            update(SocialAccount)
            .where(SocialAccount.tenant_id == self.tenant_id, SocialAccount.id == account_id)
            .values(**values, updated_at=func.now())
        )

    def take_refresh_lease(self, account_id: uuid.UUID, lease: uuid.UUID, seconds: int) -> AccountRecord | None:
        """The account with our refresh lease on it, or None while another refresher holds one (one statement)."""
        statement = (
            update(SocialAccount)
            .where(
                SocialAccount.tenant_id == self.tenant_id,
                SocialAccount.id == account_id,
                (SocialAccount.refresh_lease_until.is_(None)) | (SocialAccount.refresh_lease_until < func.now()),
            )
            .values(refresh_lease=lease, refresh_lease_until=func.now() + text(f"interval '{int(seconds)} seconds'"))
            .returning(SocialAccount)
        )
        row = self.session.scalars(statement).one_or_none()
        return None if row is None else _account(row)

    def posts_per_account(self) -> dict[uuid.UUID, int]:
        statement = (
            select(SocialPost.account_id, func.count())
            .where(SocialPost.tenant_id == self.tenant_id, SocialPost.status == "published")
            .group_by(SocialPost.account_id)
        )
        return {row[0]: int(row[1]) for row in self.session.execute(statement)}

    def used_in_window(self, start: datetime, end: datetime) -> dict[uuid.UUID, int]:
        """Posts per account scheduled in [start, end) that hold a slot (not canceled or failed)."""
        statement = (
            select(SocialPost.account_id, func.count())
            .where(
                SocialPost.tenant_id == self.tenant_id,
                SocialPost.scheduled_for >= start,
                SocialPost.scheduled_for < end,
                SocialPost.status.not_in(("canceled", "failed")),
            )
            .group_by(SocialPost.account_id)
        )
        return {row[0]: int(row[1]) for row in self.session.execute(statement)}


class PostRepository(TenantRepositoryBase[SocialPost]):
    model = SocialPost

    def get(self, post_id: uuid.UUID) -> PostRecord | None:
        row = self.session.scalars(self._select().where(SocialPost.id == post_id)).one_or_none()
        return None if row is None else _post(row)

    def lock(self, post_id: uuid.UUID) -> PostRecord | None:
        """The post, locked until the transaction ends (a concurrent delivery waits, then sees the new state)."""
        row = self.session.scalars(self._select().where(SocialPost.id == post_id).with_for_update()).one_or_none()
        return None if row is None else _post(row)

    def create(self, **values: Any) -> PostRecord:
        return _post(self.session.scalars(insert(SocialPost).values(self._stamp(values)).returning(SocialPost)).one())

    def update(self, post_id: uuid.UUID, **values: Any) -> None:
        self.session.execute(
            update(SocialPost)
            .where(SocialPost.tenant_id == self.tenant_id, SocialPost.id == post_id)
            .values(**values, updated_at=func.now())
        )

    def newest(
        self, *, limit: int, offset: int = 0, status: str | None = None, video_id: uuid.UUID | None = None
    ) -> list[PostRecord]:
        statement = self._select()
        if status is not None:
            statement = statement.where(SocialPost.status == status)
        if video_id is not None:
            statement = statement.where(SocialPost.video_id == video_id)
        statement = statement.order_by(SocialPost.created_at.desc(), SocialPost.id).limit(limit).offset(offset)
        return [_post(row) for row in self.session.scalars(statement)]

    def count_since(self, since: datetime) -> int:
        """Posts created since `since` that count against the plan (canceled ones give their allowance back)."""
        statement = self._select(func.count()).where(SocialPost.created_at >= since, SocialPost.status != "canceled")
        return int(self.session.execute(statement).scalar_one())

    def slot_times(
        self, account_id: uuid.UUID, start: datetime, end: datetime, *, exclude: uuid.UUID | None = None
    ) -> list[datetime]:
        """When the account's slot-holding posts (not canceled or failed) are scheduled within (start, end)."""
        statement = select(SocialPost.scheduled_for).where(
            SocialPost.tenant_id == self.tenant_id,
            SocialPost.account_id == account_id,
            SocialPost.scheduled_for > start,
            SocialPost.scheduled_for < end,
            SocialPost.status.not_in(("canceled", "failed")),
        )
        if exclude is not None:
            statement = statement.where(SocialPost.id != exclude)
        return list(self.session.scalars(statement))

    def count_open_until(self, account_id: uuid.UUID, until: datetime) -> int:
        """The account's posts not yet published (scheduled, publishing, processing) due before `until`."""
        statement = self._select(func.count()).where(
            SocialPost.account_id == account_id, SocialPost.status.in_(POST_OPEN), SocialPost.scheduled_for < until
        )
        return int(self.session.execute(statement).scalar_one())

    def open_for_account(self, account_id: uuid.UUID) -> list[PostRecord]:
        statement = self._select().where(SocialPost.account_id == account_id, SocialPost.status.in_(POST_OPEN))
        return [_post(row) for row in self.session.scalars(statement)]

    def video(self, video_id: uuid.UUID) -> VideoSource | None:
        from viral.db.models import Concept

        statement = (
            select(
                Video.id, Video.status, Video.s3_key, Video.size_bytes, Video.duration_s, Video.provider, Concept.title
            )
            .outerjoin(Concept, (Concept.tenant_id == Video.tenant_id) & (Concept.id == Video.concept_id))
            .where(Video.tenant_id == self.tenant_id, Video.id == video_id)
        )
        row = self.session.execute(statement).one_or_none()
        if row is None:
            return None
        video_id, status, s3_key, size, duration, provider, title = row
        return VideoSource(
            id=video_id,
            status=status,
            s3_key=s3_key,
            size_bytes=size,
            duration_s=float(duration) if duration is not None else None,
            provider=provider,
            concept_title=title,
        )

    def lock_tenant_plan(self) -> str:
        """The tenant's tier, with its row locked: allowance checks of concurrent requests run one after another."""
        statement = text("select subscription_tier from tenants where id = :t for update")
        return str(self.session.execute(statement, {"t": self.tenant_id}).scalar_one())

    def sync_job(self, job_id: uuid.UUID, *, status: str, error: str | None, scheduled_for: datetime) -> None:
        """The ledger row follows the post (the job ledger's repository has no such step)."""
        values: dict[str, Any] = {"status": status, "error_message": error, "scheduled_for": scheduled_for}
        if status == "running":
            values["started_at"] = func.coalesce(Job.started_at, func.now())
            values["attempts"] = Job.attempts + 1
        if status in ("completed", "failed"):
            values["completed_at"] = func.now()
        self.session.execute(update(Job).where(Job.tenant_id == self.tenant_id, Job.id == job_id).values(**values))


class OAuthStateRepository(TenantRepositoryBase[OAuthState]):
    model = OAuthState

    def add(self, *, nonce: str, platform: str, user_id: uuid.UUID | None, expires_at: datetime) -> None:
        values = self._stamp({"nonce": nonce, "platform": platform, "user_id": user_id, "expires_at": expires_at})
        self.session.execute(insert(OAuthState).values(values))
        # Spent and expired states of this tenant go as new ones come (the table stays small).
        self.session.execute(
            delete(OAuthState).where(
                OAuthState.tenant_id == self.tenant_id, OAuthState.expires_at < func.now() - text("interval '1 day'")
            )
        )

    def spend(self, nonce: str, platform: str) -> bool:
        """Mark the state used, once, if it exists, is unexpired and is for this platform (one statement)."""
        statement = (
            update(OAuthState)
            .where(
                OAuthState.tenant_id == self.tenant_id,
                OAuthState.nonce == nonce,
                OAuthState.platform == platform,
                OAuthState.used_at.is_(None),
                OAuthState.expires_at > func.now(),
            )
            .values(used_at=func.now())
            .returning(OAuthState.nonce)
        )
        return self.session.execute(statement).one_or_none() is not None


@dataclass(frozen=True)
class DuePost:
    tenant_id: uuid.UUID
    post_id: uuid.UUID
    step: int


# Every tenant's due posts, oldest first, stamped dispatched in the same statement (SKIP LOCKED: a post a worker
# holds is left for the next run). A stamp older than the redispatch interval is stale: the send after the commit
# failed, or the message was lost, so the post is found again.
_DUE = text("""
update social_posts set dispatched_at = now()
 where id in (
   select id from social_posts
    where status = 'scheduled' and scheduled_for <= :until
      and (dispatched_at is null or dispatched_at < now() - make_interval(secs => :redispatch))
    order by scheduled_for
    limit :limit
    for update skip locked)
returning tenant_id, id, step
""")


class DuePostSystemRepository:
    """The system path of the DuePosts schedule: reads and stamps only what finding due posts needs."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def claim_due(self, *, until: datetime, limit: int, redispatch_s: int) -> list[DuePost]:
        rows = self.session.execute(_DUE, {"until": until, "limit": limit, "redispatch": redispatch_s}).all()
        return [DuePost(tenant_id=tenant, post_id=post, step=step) for tenant, post, step in rows]


_RESERVE = text("""
insert into social_app_usage (budget, window_start, used) values (:budget, :window, 1)
on conflict (budget, window_start) do update set used = social_app_usage.used + 1
 where social_app_usage.used < :cap
returning used
""")
_RELEASE = text("""
update social_app_usage set used = greatest(used - 1, 0) where budget = :budget and window_start = :window
""")


class AppUsageRepository:
    """Budgets of one platform app shared by every tenant (global table): reserve a unit in a window, or not."""

    def __init__(self, session: Session, tenant_id: uuid.UUID | None = None) -> None:
        self.session = session

    def reserve(self, budget: str, window_start: datetime, cap: int) -> bool:
        if cap <= 0:
            return False
        row = self.session.execute(_RESERVE, {"budget": budget, "window": window_start, "cap": cap}).one_or_none()
        return row is not None

    def release(self, budget: str, window_start: datetime) -> None:
        self.session.execute(_RELEASE, {"budget": budget, "window": window_start})
