"""YouTube: Data API v3 resumable upload (videos.insert) with Google OAuth 2.0 and PKCE.

The session URI is the upload's id; a retry probes it (`Content-Range: bytes */N`): 308 gives the offset to resume
from, 200/201 the finished video, 404/410 an expired session (a new one is safe: it never completed).
`status.selfDeclaredMadeForKids` is always set and `containsSyntheticMedia` declares AI-generated video.
Docs: developers.google.com/youtube/v3/guides/using_resumable_upload_protocol, .../docs/videos/insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx

from viral.http.client import make_client
from viral.observability import logger
from viral.social.platforms.base import (
    AccountIdentity,
    Ambiguous,
    BudgetSpent,
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
    UploadGone,
    chunked,
    json_of,
    retry_after_s,
    send,
)

SCOPES = (
    "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly "
    "https://www.googleapis.com/auth/yt-analytics.readonly"
)
LIST_MAX_IDS = 50  # videos.list takes at most 50 ids a call (1 unit)
WATCH_METRICS = "estimatedMinutesWatched,averageViewDuration,views"
# Every collected post is at most about 35 days old, so this window holds each one's whole life.
WATCH_WINDOW = timedelta(days=60)
PACIFIC = ZoneInfo("America/Los_Angeles")
REASONS = {
    "uploadLimitExceeded": "The channel reached YouTube's upload limit for now.",
    "quotaExceeded": "This app used its YouTube upload quota for today.",
    "invalidTitle": "YouTube refused the title.",
    "invalidDescription": "YouTube refused the description.",
    "invalidTags": "YouTube refused the tags.",
    "forbiddenPrivacySetting": "YouTube does not allow this privacy on the channel.",
    "youtubeSignupRequired": "The Google account has no YouTube channel.",
    "mediaBodyRequired": "YouTube received no video.",
    "duplicate": "YouTube rejected the video as a duplicate.",
    "length": "YouTube rejected the video's length.",
    "copyright": "YouTube rejected the video for copyright.",
    "inappropriate": "YouTube rejected the video as inappropriate.",
    "termsOfUse": "YouTube rejected the video under its terms of use.",
    "uploadAborted": "The upload was aborted.",
    "codec": "YouTube could not read the video's codec.",
    "conversion": "YouTube could not convert the video.",
}


def _next_pacific_midnight_s() -> float:
    now = datetime.now(PACIFIC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=5, second=0, microsecond=0)
    return (midnight - now).total_seconds()


class YouTubeAdapter:
    name = "youtube"
    begin_publishes = False  # a session holds nothing until its bytes arrive
    has_publish_call = False
    supports_pkce = True
    metrics_batch_size = LIST_MAX_IDS

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        base_url: str,
        oauth_base_url: str,
        authorize_url: str,
        analytics_base_url: str = "https://youtubeanalytics.googleapis.com",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.app_key = client_id
        self.analytics_base_url = analytics_base_url.rstrip("/")
        self.base_url = base_url.rstrip("/")
        self.oauth_base_url = oauth_base_url.rstrip("/")
        self.authorize_page = authorize_url
        self.http = make_client(connect_s=5.0, read_s=60.0)

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str) -> str:
        query = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": SCOPES,
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.authorize_page}?{urlencode(query)}"

    def _token(self, form: dict[str, str]) -> TokenGrant:
        form = {"client_id": self.client_id, "client_secret": self.client_secret, **form}
        response = send(self.http, "POST", f"{self.oauth_base_url}/token", platform="Google", data=form)
        body = json_of(response)
        if response.status_code >= 500:
            raise Unavailable(f"Google answered {response.status_code}")
        if not response.is_success or "access_token" not in body:
            raise GrantRevoked(f"Google refused the grant ({body.get('error') or response.status_code})")
        return TokenGrant(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token"),  # usually absent on refresh: the stored one stays
            expires_in_s=body.get("expires_in"),
            scope=body.get("scope"),
        )

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> TokenGrant:
        form = {"code": code, "grant_type": "authorization_code", "redirect_uri": redirect_uri}
        return self._token({**form, "code_verifier": code_verifier})

    def refresh(self, refresh_token: str) -> TokenGrant:
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def revoke(self, access_token: str) -> None:
        send(self.http, "POST", f"{self.oauth_base_url}/revoke", platform="Google", data={"token": access_token})

    def _raise(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        error = json_of(response).get("error") or {}
        errors = error.get("errors") if isinstance(error, dict) else None
        reason = str((errors or [{}])[0].get("reason") or "") if isinstance(errors, list) else ""
        status = response.status_code
        if status == 401:
            raise TokenRejected("YouTube refused the access token")
        if reason == "quotaExceeded":  # the project's daily units: back at midnight Pacific
            raise RateLimited(REASONS[reason], wait_s=_next_pacific_midnight_s(), scope="app")
        if reason == "uploadLimitExceeded":
            raise RateLimited(REASONS[reason], wait_s=24 * 3600)
        if status == 429 or reason in ("rateLimitExceeded", "userRateLimitExceeded"):
            scope = "account" if reason == "userRateLimitExceeded" or not reason else "app"
            raise RateLimited("YouTube's rate limit", wait_s=retry_after_s(response), scope=scope)
        if status >= 500:
            raise Unavailable(f"YouTube answered {status}")
        raise Rejected(
            REASONS.get(reason, f"YouTube refused the request ({reason or status})"), platform_code=reason or None
        )

    def identify(self, access_token: str) -> AccountIdentity:
        headers = {"Authorization": f"Bearer {access_token}"}
        url = f"{self.base_url}/youtube/v3/channels?part=snippet&mine=true"
        response = send(self.http, "GET", url, platform="YouTube", headers=headers)
        self._raise(response)
        items = json_of(response).get("items") or []
        if not items:
            raise Rejected(REASONS["youtubeSignupRequired"], platform_code="youtubeSignupRequired")
        channel = items[0]
        snippet = channel.get("snippet") or {}
        return AccountIdentity(
            platform_account_id=str(channel["id"]),
            username=str(snippet.get("customUrl") or snippet.get("title") or channel["id"]),
            display_name=snippet.get("title"),
            capabilities={"privacyOptions": ["private", "unlisted", "public"]},
        )

    def begin(self, access_token: str, request: PublishRequest) -> Upload:
        metadata = {
            "snippet": {
                "title": (request.title or request.caption or "Video").replace("<", "").replace(">", "")[:100],
                "description": request.text[:4900],
                "tags": [h.lstrip("#") for h in request.hashtags][:30],
                "categoryId": "22",
            },
            "status": {
                "privacyStatus": request.privacy or "private",
                "selfDeclaredMadeForKids": bool(request.disclosure.get("madeForKids")),
                "containsSyntheticMedia": bool(request.disclosure.get("aiGenerated")),
            },
        }
        headers = {
            "Authorization": f"Bearer {access_token}",
            "X-Upload-Content-Length": str(request.media.size),
            "X-Upload-Content-Type": request.media.content_type,
        }
        url = f"{self.base_url}/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status"
        response = send(self.http, "POST", url, platform="YouTube", json=metadata, headers=headers)
        self._raise(response)
        location = response.headers.get("Location")
        if not location:
            raise Unavailable("YouTube gave no upload session")
        return Upload(upload_id=location, data={})

    def transfer(self, access_token: str, upload: Upload, request: PublishRequest) -> Upload:
        size = request.media.size
        headers = {"Authorization": f"Bearer {access_token}"}
        probe = send(
            self.http,
            "PUT",
            upload.upload_id,
            platform="YouTube",
            headers={**headers, "Content-Length": "0", "Content-Range": f"bytes */{size}"},
        )
        for _ in range(20):
            if probe.status_code in (200, 201):
                return Upload(
                    upload.upload_id, {**upload.data, "videoId": json_of(probe).get("id"), "transferred": True}
                )
            if probe.status_code in (404, 410):
                raise UploadGone("the YouTube upload session expired")
            if probe.status_code != 308:
                if probe.status_code >= 500:
                    raise Ambiguous(f"YouTube answered {probe.status_code} during the upload")
                self._raise(probe)
            offset = _range_end(probe.headers.get("Range"))
            body = request.media.read(offset, size - offset)
            probe = send(
                self.http,
                "PUT",
                upload.upload_id,
                platform="YouTube",
                content=body,
                headers={
                    **headers,
                    "Content-Type": request.media.content_type,
                    "Content-Range": f"bytes {offset}-{size - 1}/{size}",
                },
            )
        raise Ambiguous("the YouTube upload did not complete")

    def check(self, access_token: str, upload: Upload) -> Check:
        video_id = upload.data.get("videoId")
        if not video_id:
            return Check(CheckState.UPLOADING)
        url = f"{self.base_url}/youtube/v3/videos?part=status,processingDetails&id={video_id}"
        response = send(self.http, "GET", url, platform="YouTube", headers={"Authorization": f"Bearer {access_token}"})
        self._raise(response)
        items = json_of(response).get("items") or []
        if not items:
            return Check(CheckState.PROCESSING)
        status = items[0].get("status") or {}
        upload_status = status.get("uploadStatus")
        link = f"https://www.youtube.com/shorts/{video_id}"
        if upload_status == "processed":
            return Check(CheckState.PUBLISHED, post_id=str(video_id), url=link)
        if upload_status in ("failed", "rejected", "deleted"):
            reason = str(status.get("rejectionReason") or status.get("failureReason") or upload_status)
            return Check(
                CheckState.FAILED,
                reason=REASONS.get(reason, f"YouTube {upload_status} the video."),
                platform_code=reason,
            )
        return Check(CheckState.PROCESSING, post_id=str(video_id), url=link)

    def publish(self, access_token: str, upload: Upload) -> Check:
        raise NotImplementedError("YouTube publishes when the upload completes")

    def metrics(self, access_token: str, platform_post_id: str) -> dict[str, Any]:
        return self.metrics_batch(access_token, [platform_post_id]).get(platform_post_id, {})

    def metrics_batch(
        self, access_token: str, platform_post_ids: Sequence[str], *, budget: CallBudget | None = None
    ) -> dict[str, dict[str, Any]]:
        """videos.list statistics (50 ids, 1 unit) and, when the Analytics API has them, watch time: each id's
        `{"statistics": {...}, "analytics": {...}}`. The Analytics API lags 48-72 h, so `analytics` is optional: a
        refusal, a missing row or an error there leaves the statistics standing.
        Docs: developers.google.com/youtube/v3/docs/videos/list,
        developers.google.com/youtube/analytics/reference/reports/query."""
        budget = budget or Unmetered()
        headers = {"Authorization": f"Bearer {access_token}"}
        found: dict[str, dict[str, Any]] = {}
        for ids in chunked(platform_post_ids, LIST_MAX_IDS):
            budget.spend("videos.list")
            params = {"part": "statistics", "id": ",".join(ids)}
            url = f"{self.base_url}/youtube/v3/videos"
            response = send(self.http, "GET", url, platform="YouTube", headers=headers, params=params)
            self._raise(response)
            listed = {
                str(item["id"]): {"statistics": dict(item.get("statistics") or {})}
                for item in json_of(response).get("items") or []
                if isinstance(item, dict) and str(item.get("id")) in ids
            }
            if listed:
                for video_id, figures in self._watch_time(headers, sorted(listed), budget).items():
                    listed[video_id]["analytics"] = figures
            found.update(listed)
        return found

    def _watch_time(self, headers: dict[str, str], ids: list[str], budget: CallBudget) -> dict[str, dict[str, Any]]:
        """Lifetime watch time per video from the YouTube Analytics API (ids it has no data for are left out)."""
        today = datetime.now(PACIFIC).date()
        params = {
            "ids": "channel==MINE",
            "startDate": (today - WATCH_WINDOW).isoformat(),
            "endDate": today.isoformat(),
            "metrics": WATCH_METRICS,
            "dimensions": "video",
            "filters": "video==" + ",".join(ids),
            "sort": "-views",  # a report by video is a top-videos report: it needs a sort and maxResults
            "maxResults": str(len(ids)),
        }
        try:
            budget.spend("reports")
            url = f"{self.analytics_base_url}/v2/reports"
            response = send(self.http, "GET", url, platform="YouTube Analytics", headers=headers, params=params)
            self._raise(response)
        except BudgetSpent:
            return {}
        except RateLimited as limited:
            budget.limited("reports", limited)
            return {}
        except (Rejected, Unavailable, Ambiguous, TokenRejected) as failed:  # e.g. the scope was not granted
            logger.info("YouTube Analytics gave no watch time", extra={"reason": failed.message})
            return {}
        body = json_of(response)
        names = [str(h.get("name")) for h in body.get("columnHeaders") or [] if isinstance(h, dict)]
        result: dict[str, dict[str, Any]] = {}
        for row in body.get("rows") or []:  # no rows at all: no data yet
            if isinstance(row, list) and len(row) == len(names):
                record = dict(zip(names, row, strict=True))
                video_id = str(record.pop("video", ""))
                if video_id in ids:
                    result[video_id] = record
        return result


def _range_end(value: str | None) -> int:
    if not value or "-" not in value:
        return 0
    return int(value.rsplit("-", 1)[-1]) + 1
