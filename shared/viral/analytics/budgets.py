"""Token buckets in PostgreSQL that every analytics call draws from, shared by all Lambdas of all tenants.

Each call draws one token from its app's bucket (the platform's limit for the whole app: YouTube's daily units,
TikTok's requests a minute per endpoint) and one from its account's bucket (the user token's share), both in one
statement that locks the two rows in key order, refills them from the time elapsed, and spends from both or from
neither. No transaction is held across the platform call: the statement commits before the call is made.

A bucket either refills continuously (`refill_per_s`) or is a window quota that is full again at `resets_at`
(YouTube's units reset at midnight Pacific). A platform's 429 or quota error pauses a bucket until the time the
platform states; a paused bucket refuses every draw until then.

The table is app-wide, not tenant data (migration 0014): its keys name an app or an account id, nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from viral.settings import Settings

PACIFIC = ZoneInfo("America/Los_Angeles")  # YouTube's quotas reset at midnight Pacific Time
KEY_LENGTH = 200


@dataclass(frozen=True)
class Bucket:
    key: str
    capacity: float
    refill_per_s: float = 0.0
    resets_at: datetime | None = None  # a window quota: full again at this time (then the next window's end)


@dataclass(frozen=True)
class Refusal:
    """A draw refused: which bucket, until when asking again is pointless, and whether the platform paused it."""

    key: str
    until: datetime
    paused: bool
    reason: str


def next_pacific_midnight(now: datetime) -> datetime:
    local = now.astimezone(PACIFIC)
    midnight = datetime(local.year, local.month, local.day, tzinfo=PACIFIC) + timedelta(days=1)
    return midnight.astimezone(UTC)


def per_minute(key: str, limit: int) -> Bucket:
    return Bucket(key, float(limit), limit / 60.0)


def per_hour(key: str, limit: int) -> Bucket:
    return Bucket(key, float(limit), limit / 3600.0)


def per_pacific_day(key: str, limit: int, now: datetime) -> Bucket:
    return Bucket(key, float(limit), 0.0, next_pacific_midnight(now))


def buckets_for(
    platform: str, call: str, *, app: str, account_id: uuid.UUID, settings: Settings, now: datetime
) -> tuple[Bucket, Bucket]:
    """The (app, account) buckets a call of `call` to `platform` draws from."""
    app = app[:100]
    if platform == "tiktok":  # TikTok limits each endpoint separately, per app, over a one-minute window
        return (
            per_minute(f"tiktok:app:{app}:{call}", settings.analytics_tiktok_app_per_minute),
            per_minute(f"tiktok:account:{account_id}", settings.analytics_tiktok_account_per_minute),
        )
    if platform == "youtube":
        account = per_minute(f"youtube:account:{account_id}", settings.analytics_youtube_account_per_minute)
        if call == "reports":  # the YouTube Analytics API has its own project quota
            return per_pacific_day(f"youtube-analytics:app:{app}", settings.analytics_youtube_reports_per_day, now), (
                account
            )
        return per_pacific_day(f"youtube:app:{app}:units", settings.analytics_youtube_daily_units, now), account
    if platform == "instagram":
        return (
            per_hour(f"instagram:app:{app}", settings.analytics_instagram_app_per_hour),
            per_hour(f"instagram:account:{account_id}", settings.analytics_instagram_account_per_hour),
        )
    return (
        per_minute(f"{platform}:app:{app}", settings.analytics_sandbox_per_minute),
        per_minute(f"{platform}:account:{account_id}", settings.analytics_sandbox_per_minute),
    )


_ENSURE = """
insert into platform_budgets (key, capacity, refill_per_s, tokens, updated_at, resets_at)
select key, capacity, refill_per_s, capacity, cast(:now as timestamptz), next_reset from wanted
on conflict (key) do nothing
"""

# Locks the rows in key order (no deadlock between two draws), refills each from the time elapsed (or to full
# when its window ended), and spends `cost` from every row only when every row has it and none is paused.
_DRAW = """
, current as (
  select b.key, w.cost, w.capacity, w.refill_per_s, b.paused_until,
         case when b.resets_at is null or b.resets_at <= cast(:now as timestamptz) then w.next_reset
              else b.resets_at end as resets_at,
         case when b.resets_at is not null and b.resets_at <= cast(:now as timestamptz) then w.capacity
              else least(w.capacity, b.tokens + w.refill_per_s
                         * greatest(0, extract(epoch from (cast(:now as timestamptz) - b.updated_at))::float8))
         end as available
    from platform_budgets b join wanted w on w.key = b.key
   order by b.key
     for update of b
), verdict as (
  select count(*) = :n
         and coalesce(bool_and(available >= cost
                               and (paused_until is null or paused_until <= cast(:now as timestamptz))), false)
         as granted
    from current
), spent as (
  update platform_budgets b
     set tokens = c.available - c.cost, capacity = c.capacity, refill_per_s = c.refill_per_s,
         resets_at = c.resets_at, updated_at = greatest(b.updated_at, cast(:now as timestamptz))
    from current c, verdict v
   where b.key = c.key and v.granted
  returning b.key
)
select c.key, c.available, c.cost, c.refill_per_s, c.resets_at, c.paused_until, v.granted,
       (select count(*) from spent) as spent
  from current c cross join verdict v
"""

_PAUSE = text("""
insert into platform_budgets as b (key, capacity, refill_per_s, tokens, updated_at, resets_at, paused_until,
                                   pause_reason)
values (:key, :capacity, :refill, :capacity, :now, :resets_at, :until, :reason)
on conflict (key) do update
   set paused_until = greatest(coalesce(b.paused_until, excluded.paused_until), excluded.paused_until),
       pause_reason = excluded.pause_reason
""")


def _wanted(buckets: Sequence[Bucket], cost: float) -> tuple[str, dict[str, object]]:
    rows, params = [], {}
    for i, bucket in enumerate(buckets):
        rows.append(
            f"(cast(:k{i} as varchar), cast(:c{i} as float8), cast(:cap{i} as float8), cast(:r{i} as float8), "
            f"cast(:w{i} as timestamptz))"
        )
        params.update(
            {
                f"k{i}": bucket.key[:KEY_LENGTH],
                f"c{i}": float(cost),
                f"cap{i}": bucket.capacity,
                f"r{i}": bucket.refill_per_s,
                f"w{i}": bucket.resets_at,
            }
        )
    return f"with wanted(key, cost, capacity, refill_per_s, next_reset) as (values {', '.join(rows)})", params


class BudgetRepository:
    """The shared buckets (a global table): draw from several at once, or pause one."""

    def __init__(self, session: Session, tenant_id: uuid.UUID | None = None) -> None:
        self.session = session

    def draw(self, buckets: Sequence[Bucket], *, now: datetime, cost: float = 1.0) -> Refusal | None:
        """Spend `cost` from every bucket, or from none; None when granted, else the first refusal."""
        head, params = _wanted(buckets, cost)
        params.update({"now": now, "n": len(buckets)})
        rows = self.session.execute(text(head + _DRAW), params).all()
        if len(rows) < len(buckets):  # a bucket never used before: create it full, then draw
            self.session.execute(text(head + _ENSURE), params)
            rows = self.session.execute(text(head + _DRAW), params).all()
        if rows and rows[0].granted:
            return None
        return _refusal(rows, now)

    def pause(self, bucket: Bucket, *, until: datetime, reason: str, now: datetime) -> None:
        self.session.execute(
            _PAUSE,
            {
                "key": bucket.key[:KEY_LENGTH],
                "capacity": bucket.capacity,
                "refill": bucket.refill_per_s,
                "now": now,
                "resets_at": bucket.resets_at,
                "until": until,
                "reason": reason[:200],
            },
        )

    def tokens(self, key: str) -> tuple[float, datetime | None] | None:
        """(tokens, paused_until) as stored (refilled only when next drawn from)."""
        row = self.session.execute(
            text("select tokens, paused_until from platform_budgets where key = :key"), {"key": key}
        ).first()
        return None if row is None else (float(row[0]), row[1])


def _refusal(rows: Sequence[Any], now: datetime) -> Refusal:
    for row in rows:
        if row.paused_until is not None and row.paused_until > now:
            return Refusal(row.key, row.paused_until, True, "paused by the platform")
    for row in rows:
        available, cost, refill = float(row.available), float(row.cost), float(row.refill_per_s)
        if available >= cost:
            continue
        if refill > 0:
            until = now + timedelta(seconds=(cost - available) / refill)
        else:  # a window quota: full again when its window ends
            until = row.resets_at if row.resets_at is not None and row.resets_at > now else now + timedelta(days=1)
        return Refusal(row.key, until, False, "budget spent")
    return Refusal("", now + timedelta(minutes=1), False, "budget unavailable")
