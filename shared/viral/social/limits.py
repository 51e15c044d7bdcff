"""Limits known before scheduling: per account (daily caps, TikTok's post inits per minute, privacy options and
maximum duration) and per app, shared by every tenant (YouTube's videos.insert calls a day per project).

A scheduled post is its own reservation of its account's slot (the account row is locked while slots are
counted); app budgets are reserved in `social_app_usage` in the same transaction. A post that would break a limit
is refused with the reason and the next free time.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from viral.db.uow import UnitOfWork
from viral.errors import Conflict, InvalidInput
from viral.settings import Settings
from viral.social.repository import AccountRecord, AppUsageRepository

DAY = timedelta(hours=24)
PACIFIC = ZoneInfo("America/Los_Angeles")  # YouTube's quotas reset at midnight Pacific Time
PER_MINUTE = {"tiktok": 6}  # TikTok: 6 direct-post inits a minute per user token
YOUTUBE_UPLOADS = "youtube:videos.insert"


class LimitReached(Conflict):
    """The post would break a platform limit: the reason and the next free time are in `details`."""

    code = "LIMIT_REACHED"

    def __init__(self, reason: str, *, account_id: uuid.UUID, next_free_at: datetime) -> None:
        super().__init__(
            reason, details={"reason": reason, "accountId": str(account_id), "nextFreeAt": next_free_at.isoformat()}
        )
        self.next_free_at = next_free_at


def daily_cap(account: AccountRecord, settings: Settings) -> int:
    """Posts the account may publish per 24 h: what the platform told us, else the platform's known cap."""
    told = account.capabilities.get("dailyCap")
    if isinstance(told, int) and told > 0:
        return told
    return {
        "tiktok": settings.tiktok_daily_posts,
        "youtube": settings.youtube_channel_daily_posts,
        "instagram": 50,
    }.get(account.platform, 25)


def check_content(account: AccountRecord, *, privacy: str | None, duration_s: float | None) -> str | None:
    """The privacy the post will use, refusing what the account does not offer; never a default for TikTok."""
    options = [str(o) for o in account.capabilities.get("privacyOptions") or []]
    if account.platform in ("tiktok", "sandbox"):
        if privacy is None:
            raise InvalidInput(
                f"choose a privacy for {account.username}: the account offers {', '.join(options) or 'none'}",
                details=[{"field": "privacy", "message": "required", "options": options}],
            )
        if options and privacy not in options:
            raise InvalidInput(
                f"{account.username} does not offer the privacy {privacy}",
                details=[{"field": "privacy", "message": "not offered by the account", "options": options}],
            )
    if account.platform == "youtube":
        privacy = privacy or "private"
        if privacy not in ("private", "unlisted", "public"):
            raise InvalidInput(
                "YouTube privacy must be private, unlisted or public",
                details=[{"field": "privacy", "message": "private, unlisted or public"}],
            )
    if account.platform == "instagram":
        privacy = None  # Reels have no per-post privacy
    longest = account.capabilities.get("maxDurationS")
    if isinstance(longest, int | float) and duration_s is not None and duration_s > longest:
        raise InvalidInput(
            f"the video lasts {duration_s:.0f} s; {account.username} may post at most {longest:.0f} s",
            details=[{"field": "videoId", "message": "too long for the account"}],
        )
    return privacy


def check_slot(
    account: AccountRecord, at: datetime, used_by_window: dict[str, list[datetime]], settings: Settings
) -> None:
    """Refuse a post at `at` when the account's rolling 24 h or per-minute allowance is taken.

    `used_by_window["times"]` holds the account's slot-holding posts scheduled within 24 h either side of `at`.
    """
    times = sorted(used_by_window.get("times", []))
    cap = daily_cap(account, settings)
    before = [t for t in times if at - DAY < t <= at]
    after = [t for t in times if at <= t < at + DAY]
    if len(before) >= cap or len(after) >= cap:
        raise LimitReached(
            f"{account.username} may publish {cap} posts in 24 hours on {account.platform}",
            account_id=account.id,
            next_free_at=(max(times) if times else at) + DAY,
        )
    per_minute = PER_MINUTE.get(account.platform)
    if per_minute is not None:
        minute = at.replace(second=0, microsecond=0)
        if sum(1 for t in times if minute <= t < minute + timedelta(minutes=1)) >= per_minute:
            raise LimitReached(
                f"{account.platform} accepts {per_minute} post starts a minute per account",
                account_id=account.id,
                next_free_at=minute + timedelta(minutes=1),
            )


def pacific_day_start(at: datetime) -> datetime:
    local = at.astimezone(PACIFIC)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def reserve_app_budget(uow: UnitOfWork, account: AccountRecord, at: datetime, settings: Settings) -> dict[str, Any]:
    """Reserve the per-app unit a post will spend (YouTube's videos.insert); what was reserved, for a release."""
    if account.platform != "youtube":
        return {}
    window = pacific_day_start(at)
    if not uow.repository(AppUsageRepository).reserve(YOUTUBE_UPLOADS, window, settings.youtube_daily_uploads):
        raise LimitReached(
            f"this app may upload {settings.youtube_daily_uploads} YouTube videos a day (shared by every customer)",
            account_id=account.id,
            next_free_at=window + DAY,
        )
    return {"budget": YOUTUBE_UPLOADS, "window": window.isoformat()}


def release_app_budget(uow: UnitOfWork, reserved: dict[str, Any]) -> None:
    if reserved.get("budget") and reserved.get("window"):
        uow.repository(AppUsageRepository).release(reserved["budget"], datetime.fromisoformat(reserved["window"]))
