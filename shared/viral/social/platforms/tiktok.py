"""TikTok: Content Posting API (direct post, FILE_UPLOAD) with OAuth v2 and PKCE.

creator_info is queried before every post (privacy options, interaction switches, longest video); the media goes
in the documented chunks (5-64 MB, the last absorbing the remainder; files under 5 MB whole); the status is fetched
until PUBLISH_COMPLETE, and the public post id may arrive later (after moderation) or never (SELF_ONLY).
Docs: developers.tiktok.com/doc/content-posting-api-reference-direct-post, .../media-transfer-guide,
.../get-video-status, .../oauth-user-access-token-management (access tokens 2 h, refresh tokens rotate).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from viral.http.client import make_client
from viral.social.platforms.base import (
    AccountIdentity,
    Ambiguous,
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

SCOPES = "user.info.basic,video.publish,video.upload,video.list"
VIDEO_FIELDS = "id,title,create_time,share_url,duration,view_count,like_count,comment_count,share_count"
QUERY_MAX_IDS = 20  # video/query takes at most 20 ids a call
MIN_CHUNK = 5_000_000
CHUNK = 10_000_000
MAX_WHOLE = 64_000_000

# fail_reason and error codes in words a user understands (from the status and init references).
REASONS = {
    "file_format_check_failed": "TikTok could not read the video file's format.",
    "duration_check_failed": "The video is longer or shorter than TikTok allows for this account.",
    "frame_rate_check_failed": "TikTok refused the video's frame rate (23-60 fps).",
    "picture_size_check_failed": "TikTok refused the video's picture size (360-4096 px each side).",
    "internal": "TikTok had an internal error while publishing; post again.",
    "video_pull_failed": "TikTok could not download the video.",
    "publish_cancelled": "The post was canceled on TikTok.",
    "auth_removed": "The account removed this app's access; reconnect it.",
    "spam_risk_too_many_posts": "The account reached TikTok's daily posting limit.",
    "spam_risk_user_banned_from_posting": "TikTok does not allow this account to post right now.",
    "spam_risk_text": "TikTok flagged the caption as spam.",
    "spam_risk": "TikTok flagged the post as spam.",
    "reached_active_user_cap": "This app reached TikTok's daily limit of posting users.",
    "unaudited_client_can_only_post_to_private_accounts": (
        "Until TikTok audits this app, only private accounts can post."
    ),
    "privacy_level_option_mismatch": "The privacy you chose is not one the account offers.",
    "url_ownership_unverified": "TikTok has not verified the domain the video is served from.",
    "invalid_param": "TikTok refused the post's settings.",
    "invalid_params": "TikTok refused the post's settings.",
}


def chunk_plan(size: int, chunk: int = CHUNK) -> tuple[int, int]:
    """(chunk_size, total_chunk_count) as the media transfer guide defines them."""
    if size < MIN_CHUNK or (size <= MAX_WHOLE and size <= chunk):
        return size, 1
    return chunk, size // chunk


class TikTokAdapter:
    name = "tiktok"
    begin_publishes = False  # FILE_UPLOAD: nothing is posted until the last chunk arrives
    has_publish_call = False
    supports_pkce = True
    metrics_batch_size = QUERY_MAX_IDS

    def __init__(self, client_key: str, client_secret: str, *, base_url: str, authorize_url: str) -> None:
        self.client_key = client_key
        self.client_secret = client_secret
        self.app_key = client_key
        self.base_url = base_url.rstrip("/")
        self.authorize_page = authorize_url
        self.http = make_client(connect_s=5.0, read_s=30.0)

    # --- OAuth ---------------------------------------------------------------------------------------------

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str) -> str:
        query = {
            "client_key": self.client_key,
            "scope": SCOPES,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.authorize_page}?{urlencode(query)}"

    def _token(self, form: dict[str, str]) -> TokenGrant:
        form = {"client_key": self.client_key, "client_secret": self.client_secret, **form}
        response = send(self.http, "POST", f"{self.base_url}/v2/oauth/token/", platform="TikTok", data=form)
        body = json_of(response)
        if response.status_code >= 500:
            raise Unavailable(f"TikTok answered {response.status_code}")
        if not response.is_success or body.get("error") or "access_token" not in body:
            if body.get("error") in ("invalid_grant", "invalid_request", "access_denied") or response.status_code in (
                400,
                401,
            ):
                raise GrantRevoked("TikTok no longer accepts this grant")
            raise Unavailable("TikTok's token endpoint answered unexpectedly")
        return TokenGrant(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token"),
            expires_in_s=body.get("expires_in"),
            refresh_expires_in_s=body.get("refresh_expires_in"),
            scope=body.get("scope"),
            account_hint=body.get("open_id"),
        )

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> TokenGrant:
        return self._token(
            {
                "code": code,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )

    def refresh(self, refresh_token: str) -> TokenGrant:
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def revoke(self, access_token: str) -> None:
        form = {"client_key": self.client_key, "client_secret": self.client_secret, "token": access_token}
        send(self.http, "POST", f"{self.base_url}/v2/oauth/revoke/", platform="TikTok", data=form)

    # --- API -----------------------------------------------------------------------------------------------

    def _api(self, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=UTF-8"}
        response = send(self.http, method, f"{self.base_url}{path}", platform="TikTok", headers=headers, **kwargs)
        body = json_of(response)
        found = body.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        code = str(error.get("code") or "")
        if response.is_success and code in ("ok", ""):
            data = body.get("data")
            return data if isinstance(data, dict) else {}
        status = response.status_code
        if status == 401 or code in ("access_token_invalid", "scope_not_authorized", "scope_permission_missed"):
            raise TokenRejected("TikTok refused the access token")
        if status == 429 or code == "rate_limit_exceeded":
            raise RateLimited("TikTok's rate limit", wait_s=retry_after_s(response))
        if code == "spam_risk_too_many_posts":
            raise RateLimited(REASONS[code], wait_s=24 * 3600)
        if status >= 500:
            raise Unavailable(f"TikTok answered {status}")
        raise Rejected(REASONS.get(code, f"TikTok refused the request ({code or status})"), platform_code=code or None)

    def _creator_info(self, token: str) -> dict[str, Any]:
        return self._api("POST", "/v2/post/publish/creator_info/query/", token, json={})

    def identify(self, access_token: str) -> AccountIdentity:
        fields = "open_id,union_id,avatar_url,display_name,username"
        user = self._api("GET", f"/v2/user/info/?fields={fields}", access_token).get("user") or {}
        info = self._creator_info(access_token)
        return AccountIdentity(
            platform_account_id=str(user.get("open_id") or ""),
            username=str(user.get("username") or info.get("creator_username") or user.get("display_name") or "tiktok"),
            display_name=user.get("display_name") or info.get("creator_nickname"),
            capabilities=_capabilities(info),
        )

    def begin(self, access_token: str, request: PublishRequest) -> Upload:
        info = self._creator_info(access_token)  # must precede every direct post
        options = info.get("privacy_level_options") or []
        if request.privacy not in options:
            raise Rejected(REASONS["privacy_level_option_mismatch"], platform_code="privacy_level_option_mismatch")
        longest = info.get("max_video_post_duration_sec")
        if isinstance(longest, int) and request.media.duration_s and request.media.duration_s > longest:
            raise Rejected(REASONS["duration_check_failed"], platform_code="duration_check_failed")
        chunk_size, chunks = chunk_plan(request.media.size)
        disclosure = request.disclosure
        body = {
            "post_info": {
                "title": request.text[:2200],
                "privacy_level": request.privacy,
                # Interactions stay off unless asked, and off when the creator turned them off.
                "disable_duet": not disclosure.get("allowDuet") or bool(info.get("duet_disabled")),
                "disable_comment": not disclosure.get("allowComments") or bool(info.get("comment_disabled")),
                "disable_stitch": not disclosure.get("allowStitch") or bool(info.get("stitch_disabled")),
                "brand_content_toggle": bool(disclosure.get("brandedContent")),
                "brand_organic_toggle": False,
                "is_aigc": bool(disclosure.get("aiGenerated")),
            },
            "source_info": {
                "source": "FILE_UPLOAD",
                "video_size": request.media.size,
                "chunk_size": chunk_size,
                "total_chunk_count": chunks,
            },
        }
        data = self._api("POST", "/v2/post/publish/video/init/", access_token, json=body)
        return Upload(
            upload_id=str(data["publish_id"]),
            data={"uploadUrl": data.get("upload_url"), "chunkSize": chunk_size, "chunks": chunks},
        )

    def _fetch(self, token: str, publish_id: str) -> dict[str, Any]:
        return self._api("POST", "/v2/post/publish/status/fetch/", token, json={"publish_id": publish_id})

    def transfer(self, access_token: str, upload: Upload, request: PublishRequest) -> Upload:
        """PUT the chunks in order, from the bytes TikTok says it has (a retry resumes, never restarts)."""
        url = upload.data.get("uploadUrl")
        if not url:
            raise UploadGone("TikTok gave no upload URL")
        size = request.media.size
        chunk_size, chunks = int(upload.data.get("chunkSize") or size), int(upload.data.get("chunks") or 1)
        status = self._fetch(access_token, upload.upload_id)
        offset = int(status.get("uploaded_bytes") or 0)
        if status.get("status") not in (None, "PROCESSING_UPLOAD") or offset >= size:
            return Upload(upload.upload_id, {**upload.data, "transferred": True})
        while offset < size:
            index = offset // chunk_size
            last = size - 1 if index >= chunks - 1 else offset + chunk_size - 1
            headers = {
                "Content-Type": request.media.content_type,
                "Content-Range": f"bytes {offset}-{last}/{size}",
            }
            body = request.media.read(offset, last - offset + 1)
            response = send(self.http, "PUT", url, platform="TikTok", content=body, headers=headers)
            if response.status_code == 201:
                return Upload(upload.upload_id, {**upload.data, "transferred": True})
            if response.status_code == 206:
                offset = last + 1
                continue
            if response.status_code == 416:
                offset = int(self._fetch(access_token, upload.upload_id).get("uploaded_bytes") or 0)
                continue
            if response.status_code in (403, 404):
                raise UploadGone("TikTok's upload URL expired")
            if response.status_code >= 500:
                raise Ambiguous(f"TikTok answered {response.status_code} to a chunk")
            raise Rejected("TikTok refused the video upload", platform_code=str(response.status_code))
        return Upload(upload.upload_id, {**upload.data, "transferred": True})

    def check(self, access_token: str, upload: Upload) -> Check:
        data = self._fetch(access_token, upload.upload_id)
        status = data.get("status")
        if status == "PUBLISH_COMPLETE":
            ids = data.get("publicaly_available_post_id") or []  # sic: TikTok's spelling
            post_id = str(ids[0]) if ids else None
            url = f"https://www.tiktok.com/video/{post_id}" if post_id else None
            return Check(CheckState.PUBLISHED, post_id=post_id, url=url)
        if status == "FAILED":
            reason = str(data.get("fail_reason") or "")
            return Check(
                CheckState.FAILED,
                reason=REASONS.get(reason, "TikTok could not publish the video."),
                platform_code=reason,
            )
        if status == "PROCESSING_UPLOAD" and not upload.data.get("transferred"):
            return Check(CheckState.UPLOADING)
        return Check(CheckState.PROCESSING)

    def publish(self, access_token: str, upload: Upload) -> Check:
        raise NotImplementedError("TikTok publishes when the last chunk arrives")

    def metrics(self, access_token: str, platform_post_id: str) -> dict[str, Any]:
        return self.metrics_batch(access_token, [platform_post_id]).get(platform_post_id, {})

    def metrics_batch(
        self, access_token: str, platform_post_ids: Sequence[str], *, budget: CallBudget | None = None
    ) -> dict[str, dict[str, Any]]:
        """Display API video/query, 20 ids a call; only the token owner's videos come back (others are left out).
        Docs: developers.tiktok.com/doc/tiktok-api-v2-video-query, .../tiktok-api-v2-rate-limit (600 a minute per
        endpoint for the app, one-minute sliding window)."""
        budget = budget or Unmetered()
        found: dict[str, dict[str, Any]] = {}
        for ids in chunked(platform_post_ids, QUERY_MAX_IDS):
            budget.spend("video.query")
            body = {"filters": {"video_ids": ids}}
            try:
                data = self._api("POST", f"/v2/video/query/?fields={VIDEO_FIELDS}", access_token, json=body)
            except RateLimited as limited:  # TikTok's limits are the app's, per endpoint
                raise RateLimited(limited.message, wait_s=limited.wait_s, scope="app") from limited
            for video in data.get("videos") or []:
                if isinstance(video, dict) and str(video.get("id")) in ids:
                    found[str(video["id"])] = dict(video)
        return found


def _capabilities(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "privacyOptions": list(info.get("privacy_level_options") or []),
        "maxDurationS": info.get("max_video_post_duration_sec"),
        "commentDisabled": bool(info.get("comment_disabled")),
        "duetDisabled": bool(info.get("duet_disabled")),
        "stitchDisabled": bool(info.get("stitch_disabled")),
        "nickname": info.get("creator_nickname"),
    }
