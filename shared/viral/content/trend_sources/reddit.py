"""Reddit: application-only OAuth (client credentials), then the hot posts of a few subreddits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from viral.content.schemas import TrendData
from viral.content.trend_sources import build_trend, category_from_text, engagement_bonus, recency_of
from viral.errors import Permanent, Retryable
from viral.http.client import get_json, raise_for_vendor

SUBREDDITS = ("videos", "Unexpected", "BeAmazed", "Damnthatsinteresting", "oddlysatisfying", "Futurology")


class RedditTrends:
    name = "reddit"
    share = 6

    def __init__(
        self,
        client_id: str | None,
        client_secret: str | None,
        *,
        auth_url: str = "https://www.reddit.com",
        api_url: str = "https://oauth.reddit.com",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.auth_url = auth_url.rstrip("/")
        self.api_url = api_url.rstrip("/")

    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def _token(self, client: httpx.Client) -> str:
        try:
            response = client.post(
                f"{self.auth_url}/api/v1/access_token",
                data={"grant_type": "client_credentials"},
                auth=(self.client_id or "", self.client_secret or ""),
            )
        except httpx.TimeoutException as exc:
            raise Retryable("Reddit timed out") from exc
        except httpx.TransportError as exc:
            raise Retryable("Reddit is unreachable") from exc
        raise_for_vendor(response, "Reddit")
        try:
            token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise Permanent("Reddit answered without an access token") from exc
        return str(token)

    def fetch(self, client: httpx.Client, *, now: datetime) -> list[TrendData]:
        headers = {"Authorization": f"Bearer {self._token(client)}"}
        trends: list[TrendData] = []
        failures: list[Retryable | Permanent] = []
        for subreddit in SUBREDDITS:
            try:
                body = get_json(
                    client, f"{self.api_url}/r/{subreddit}/hot", "Reddit", params={"limit": 5}, headers=headers
                )
            except (Retryable, Permanent) as failure:
                failures.append(failure)  # a failing subreddit is skipped, as the original did
                continue
            children = ((body or {}).get("data") or {}).get("children") if isinstance(body, dict) else None
            for child in children if isinstance(children, list) else []:
                if (trend := self._trend(child, now)) is not None:
                    trends.append(trend)
        if len(failures) == len(SUBREDDITS):
            raise failures[0]
        return trends

    def _trend(self, child: Any, now: datetime) -> TrendData | None:
        try:
            post = child["data"]
            title = str(post["title"]).strip()
            created = datetime.fromtimestamp(float(post["created_utc"]), tz=UTC)
            ups, comments = float(post.get("ups", 0)), float(post.get("num_comments", 0))
        except (KeyError, TypeError, ValueError):
            return None
        if not title or post.get("over_18"):
            return None
        bonus = engagement_bonus(ups + comments, scale=100_000)
        return build_trend(
            source=f"Reddit r/{post.get('subreddit', '?')}",
            source_api="reddit",
            key=str(post.get("id", title)),
            topic=title,
            category=category_from_text(title, default="absurd"),
            recency=recency_of(created, now=now),
            visual=62 + bonus,
            emotion=62 + bonus * 0.8,
            share=65 + bonus,
            now=now,
            sourceUrl=f"https://www.reddit.com{post.get('permalink', '')}",
            engagementCount=ups + comments,
            platform="reddit",
        )
