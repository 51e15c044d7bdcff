"""Instagram: Graph API Reels publishing through Facebook Login.

A container is made from the video's public (presigned) URL, its `status_code` is polled until FINISHED, then
`media_publish` is called once. A PUBLISHED container is never published again. Facebook Login issues no refresh
token: a long-lived user token (about 60 days) is kept, and the account asks to be reconnected when it ends.
Docs: developers.facebook.com/docs/instagram-platform/content-publishing/, .../ig-user/content_publishing_limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import httpx

from viral.http.client import make_client
from viral.observability import logger
from viral.social.platforms.base import (
    AccountIdentity,
    CallBudget,
    Check,
    CheckState,
    GrantRevoked,
    PublishRequest,
    RateLimited,
    Rejected,
    TokenGrant,
    TokenRejected,
    Unavailable,
    Unmetered,
    Upload,
    json_of,
    send,
)

SCOPES = "instagram_basic,instagram_content_publish,pages_show_list,pages_read_engagement,instagram_manage_insights"
THROTTLED = {4, 17, 32, 613, 80002}
APP_THROTTLED = 4  # "Application request limit reached": the whole app's; the others are a user's or a page's
INSIGHT_METRICS = (
    "views",
    "reach",
    "likes",
    "comments",
    "shares",
    "saved",
    "total_interactions",
    "ig_reels_avg_watch_time",
    "ig_reels_video_view_total_time",
)
NOT_ENOUGH_VIEWERS = 10  # "(#10) Not enough viewers for the media to show insights": no figures yet
INVALID_PARAMETER = 100
REASONS = {
    2207026: "Instagram does not support the video's format.",
    2207042: "The account reached Instagram's publishing limit for the last 24 hours.",
    2207052: "Instagram could not download the video.",
    2207027: "The video is not ready for publishing yet.",
}


class InstagramAdapter:
    name = "instagram"
    begin_publishes = False  # a container publishes nothing until media_publish
    has_publish_call = True
    supports_pkce = False
    metrics_batch_size = 1  # insights are read one media at a time

    def __init__(self, app_id: str, app_secret: str, *, base_url: str, version: str, authorize_url: str) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.app_key = app_id
        # Metrics the platform told us it no longer supports (learned once per execution environment).
        self.unsupported_metrics: set[str] = set()
        self.graph = f"{base_url.rstrip('/')}/{version}"
        self.authorize_page = authorize_url
        self.http = make_client(connect_s=5.0, read_s=30.0)

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str) -> str:
        query = {
            "client_id": self.app_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "response_type": "code",
            "scope": SCOPES,
        }
        return f"{self.authorize_page}?{urlencode(query)}"

    def _raise(self, response: httpx.Response) -> dict[str, Any]:
        body = json_of(response)
        if response.is_success and "error" not in body:
            return body
        found = body.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        code, subcode = int(error.get("code") or 0), int(error.get("error_subcode") or 0)
        if code == 190 or response.status_code == 401:
            raise TokenRejected("Instagram refused the access token")
        if code in THROTTLED or response.status_code == 429:
            scope = "app" if code == APP_THROTTLED else "account"
            raise RateLimited("Instagram's rate limit", wait_s=_regain_access_s(response), scope=scope)
        if subcode == 2207042 or (code == 9 and subcode == 2207042):
            raise RateLimited(REASONS[2207042], wait_s=3600)
        # Transient errors (is_transient, fetch failures) are retried, not failed (postiz #1562).
        if response.status_code >= 500 or error.get("is_transient") or subcode in (2207052, 2207027):
            raise Unavailable(REASONS.get(subcode, f"Instagram answered {response.status_code}"))
        message = REASONS.get(subcode) or str(error.get("error_user_msg") or "Instagram refused the request.")
        raise Rejected(message, platform_code=str(subcode or code or response.status_code))

    def _get(self, path: str, **params: str) -> dict[str, Any]:
        return self._raise(send(self.http, "GET", f"{self.graph}{path}", platform="Instagram", params=params))

    def _post(self, path: str, token: str, **params: str) -> dict[str, Any]:
        response = send(
            self.http, "POST", f"{self.graph}{path}", platform="Instagram", params={**params, "access_token": token}
        )
        return self._raise(response)

    def _exchange(self, params: dict[str, str]) -> dict[str, Any]:
        response = send(self.http, "GET", f"{self.graph}/oauth/access_token", platform="Facebook", params=params)
        if response.status_code >= 500:
            raise Unavailable(f"Facebook answered {response.status_code}")
        body = json_of(response)
        if not response.is_success or "access_token" not in body:
            raise GrantRevoked("Facebook refused the grant")
        return body

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> TokenGrant:
        base = {"client_id": self.app_id, "client_secret": self.app_secret}
        short = self._exchange({**base, "redirect_uri": redirect_uri, "code": code})
        long = self._exchange({**base, "grant_type": "fb_exchange_token", "fb_exchange_token": short["access_token"]})
        return TokenGrant(access_token=str(long["access_token"]), expires_in_s=long.get("expires_in"))

    def refresh(self, refresh_token: str) -> TokenGrant:
        raise GrantRevoked("Facebook Login tokens cannot be refreshed: reconnect the account")

    def revoke(self, access_token: str) -> None:
        send(
            self.http,
            "DELETE",
            f"{self.graph}/me/permissions",
            platform="Facebook",
            params={"access_token": access_token},
        )

    def identify(self, access_token: str) -> AccountIdentity:
        pages = self._get(
            "/me/accounts", fields="id,name,instagram_business_account{id,username}", access_token=access_token
        )
        for page in pages.get("data") or []:
            business = page.get("instagram_business_account") or {}
            if business.get("id"):
                limit = self.publishing_limit(access_token, str(business["id"]))
                return AccountIdentity(
                    platform_account_id=str(business["id"]),
                    username=str(business.get("username") or business["id"]),
                    display_name=page.get("name"),
                    capabilities={**limit, "pageId": page.get("id")},
                )
        raise Rejected("No Instagram professional account is linked to the Facebook pages you shared.")

    def publishing_limit(self, access_token: str, ig_user_id: str) -> dict[str, Any]:
        """Read live: the cap (`quota_total`, documented as 50 or 100) and what the last 24 h used."""
        body = self._get(
            f"/{ig_user_id}/content_publishing_limit", fields="config,quota_usage", access_token=access_token
        )
        first = (body.get("data") or [{}])[0]
        total = (first.get("config") or {}).get("quota_total")
        return {"dailyCap": int(total) if total else 50, "quotaUsage": int(first.get("quota_usage") or 0)}

    def begin(self, access_token: str, request: PublishRequest) -> Upload:
        if not request.media.url:
            raise Rejected("Instagram needs a public URL of the video")
        params = {
            "media_type": "REELS",
            "video_url": request.media.url,
            "caption": request.text[:2200],
            "share_to_feed": "true",
        }
        if request.disclosure.get("aiGenerated"):
            params["is_ai_generated"] = "true"
        body = self._post(f"/{request.platform_account_id}/media", access_token, **params)
        return Upload(upload_id=str(body["id"]), data={"igUserId": request.platform_account_id})

    def transfer(self, access_token: str, upload: Upload, request: PublishRequest) -> Upload:
        return Upload(upload.upload_id, {**upload.data, "transferred": True})  # Instagram pulls the URL itself

    def check(self, access_token: str, upload: Upload) -> Check:
        body = self._get(f"/{upload.upload_id}", fields="status_code,status", access_token=access_token)
        status = body.get("status_code")
        if status == "FINISHED":
            return Check(CheckState.READY)
        if status == "PUBLISHED":
            media_id = upload.data.get("mediaId")
            return Check(CheckState.PUBLISHED, post_id=media_id, url=upload.data.get("permalink"))
        if status in ("ERROR", "EXPIRED"):
            reason = (
                "the container expired before it was published"
                if status == "EXPIRED"
                else str(body.get("status") or "")
            )
            return Check(
                CheckState.FAILED, reason=f"Instagram could not process the video: {reason}"[:500], platform_code=status
            )
        return Check(CheckState.PROCESSING)

    def publish(self, access_token: str, upload: Upload) -> Check:
        ig_user = upload.data.get("igUserId")
        body = self._post(f"/{ig_user}/media_publish", access_token, creation_id=upload.upload_id)
        media_id = str(body["id"])
        try:
            media = self._get(f"/{media_id}", fields="id,permalink", access_token=access_token)
        except Exception:  # the post is published; its link can be read later
            media = {}
        return Check(CheckState.PUBLISHED, post_id=media_id, url=media.get("permalink"))

    def metrics(self, access_token: str, platform_post_id: str) -> dict[str, Any]:
        return self.metrics_batch(access_token, [platform_post_id]).get(platform_post_id, {})

    def metrics_batch(
        self, access_token: str, platform_post_ids: Sequence[str], *, budget: CallBudget | None = None
    ) -> dict[str, dict[str, Any]]:
        """Media insights, one call per media: `{"data": [...]}` as the platform gave it. Not enough viewers yet
        leaves the media out (no figures yet, never zero).
        Docs: developers.facebook.com/docs/instagram-platform/reference/instagram-media/insights."""
        budget = budget or Unmetered()
        found: dict[str, dict[str, Any]] = {}
        for media_id in platform_post_ids:
            answer = self._insights(access_token, media_id, budget)
            if answer is not None:
                found[media_id] = answer
        return found

    def _insights(self, token: str, media_id: str, budget: CallBudget) -> dict[str, Any] | None:
        # Deprecated metrics (plays, impressions, video_views, clips_replays_count,
        # ig_reels_aggregated_all_plays_count) are never asked for; one the platform retires later is dropped
        # when it says so, and the call is made once more without it.
        for attempt in range(2):
            metrics = [m for m in INSIGHT_METRICS if m not in self.unsupported_metrics]
            budget.spend("insights")
            response = send(
                self.http,
                "GET",
                f"{self.graph}/{media_id}/insights",
                platform="Instagram",
                params={"metric": ",".join(metrics), "access_token": token},
            )
            body = json_of(response)
            found = body.get("error")
            error: dict[str, Any] = found if isinstance(found, dict) else {}
            if response.is_success and not error:
                return body
            code, message = int(error.get("code") or 0), str(error.get("message") or "")
            # Code 10 also means a missing permission; only its "not enough viewers" form means "not yet".
            if code == NOT_ENOUGH_VIEWERS and "viewers" in message.lower():
                return None
            retired = retired_metrics(metrics, message) if code == INVALID_PARAMETER else set()
            if retired and attempt == 0:
                self.unsupported_metrics |= retired
                logger.warning(
                    "Instagram no longer supports an insights metric; asking without it",
                    extra={"metrics": sorted(retired), "platform_message": message[:300]},
                )
                continue
            self._raise(response)
        return None


def retired_metrics(asked: list[str], message: str) -> set[str]:
    """The asked metrics a Graph API (#100) error refuses: those it names before any "use X instead" hint, or,
    when it lists the values it accepts, the asked ones missing from that list."""
    listed = re.search(r"must be one of the following values:\s*(.+)$", message, flags=re.IGNORECASE)
    if listed:
        accepted = {v.strip(" .") for v in listed.group(1).split(",")}
        return {m for m in asked if m not in accepted}
    head = re.split(r"\buse\b", message, maxsplit=1, flags=re.IGNORECASE)[0]
    return {m for m in asked if re.search(rf"(?<!\w){re.escape(m)}(?!\w)", head)}


def _regain_access_s(response: httpx.Response, default: float = 300.0) -> float:
    """Meta's own estimate of when a throttled app or account may call again (X-Business-Use-Case-Usage,
    `estimated_time_to_regain_access`, in minutes), else `default`."""
    try:
        usage = json.loads(response.headers.get("X-Business-Use-Case-Usage") or "{}")
    except ValueError:
        return default
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    waits = [float(m) * 60 for m in minutes if isinstance(m, int | float) and not isinstance(m, bool) and m > 0]
    return max(waits) if waits else default
