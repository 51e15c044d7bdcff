"""Deleted Clerk users, organisations and memberships, remembered so that a late or replayed event about one of
them (Svix retries for days, and deliveries arrive out of order) cannot bring it back. System role only.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from viral.db.models import ClerkTombstone

Key = tuple[str, str]  # (kind, Clerk id): ("user", "user_..."), ("organization", "org_..."), ("membership", ...)


class ClerkTombstoneSystemRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def buried(self, keys: Iterable[Key]) -> bool:
        """Whether any of these was deleted."""
        wanted = list(keys)
        if not wanted:
            return False
        statement = select(ClerkTombstone.kind).where(tuple_(ClerkTombstone.kind, ClerkTombstone.clerk_id).in_(wanted))
        return self.session.execute(statement.limit(1)).first() is not None

    def bury(self, keys: Iterable[Key]) -> None:
        rows = [{"kind": kind, "clerk_id": clerk_id} for kind, clerk_id in keys]
        if rows:
            self.session.execute(insert(ClerkTombstone).values(rows).on_conflict_do_nothing())
