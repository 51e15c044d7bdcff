"""Fake TikTok, YouTube and Instagram servers on 127.0.0.1, speaking each platform's documented wire format.

Each fake runs its platform's OAuth (codes bound to the PKCE challenge, refresh tokens that rotate where the
platform rotates them), its upload flow and its status reads, checks the bearer token on every call, and can be
told to answer the next calls of a route with failures (`fail_next`). ACCEPT_THEN_500 makes the fake do the work
and then answer 500: the "5xx after the upload was accepted" case. Every fake records what it published
(`published`: upload handle -> platform post id) so tests can assert one published post per post row.

Each fake also serves its platform's analytics read in the documented format: TikTok's Display API video/query (at
most 20 ids), YouTube's videos.list statistics (at most 50 ids, counts as strings) and the YouTube Analytics
reports query (a result table, rows omitted when there is no data), and Instagram's media insights (values in
`values[0].value` or `total_value.value`, deprecated metrics refused with a (#100) error, "(#10) Not enough
viewers"). Tests set the figures (`video_stats`, `statistics`, `watch`, `insights`) and read the calls made.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from local.fakes.http_server import FakeServer, Reply, Request

ACCEPT_THEN_500 = Reply(status=599)
# Instagram insights metrics retired for every API version since 2025-04-21 (views replaced them).
DEPRECATED_INSIGHTS = frozenset(
    {"plays", "impressions", "video_views", "clips_replays_count", "ig_reels_aggregated_all_plays_count"}
)


def _json(status: int, body: Any, **headers: str) -> Reply:
    return Reply(status=status, body=json.dumps(body), headers=dict(headers))


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _form(request: Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.body.decode()).items()}


@dataclass
class PlatformFake:
    server: FakeServer = field(default_factory=FakeServer)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    failures: dict[str, list[Reply]] = field(default_factory=dict)
    published: dict[str, str] = field(default_factory=dict)  # upload handle -> post id
    publish_calls: int = 0
    processing_checks: int = 1  # status reads that still say "processing"
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(7_248_342_634_382_371_112))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.server.url

    @contextmanager
    def running(self) -> Iterator[PlatformFake]:
        self.install()
        with self.server.running():
            yield self

    def install(self) -> None:
        raise NotImplementedError

    def grant_code(self, *, redirect_uri: str, code_challenge: str | None) -> str:
        code = "code-" + secrets.token_hex(6)
        self.codes[code] = {"redirect_uri": redirect_uri, "challenge": code_challenge or ""}
        return code

    def fail_next(self, route: str, *replies: Reply) -> None:
        self.failures.setdefault(route, []).extend(replies)

    def _failure(self, route: str) -> Reply | None:
        queued = self.failures.get(route)
        return queued.pop(0) if queued else None

    def _issue(self, *, rotate: bool = True) -> tuple[str, str]:
        access, refresh = "act." + secrets.token_hex(8), "rft." + secrets.token_hex(8)
        self.access_tokens.add(access)
        if rotate:
            self.refresh_tokens.add(refresh)
        return access, refresh

    def _bearer(self, request: Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return token in self.access_tokens or request.query.get("access_token", [""])[0] in self.access_tokens

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    def _spend_code(self, form: dict[str, str], *, pkce: bool = True) -> bool:
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return False
        return not pkce or grant["challenge"] == _challenge(form.get("code_verifier", ""))

    def _next_id(self) -> str:
        return str(next(self._ids))


# --- TikTok ------------------------------------------------------------------------------------------------


@dataclass
class _TikTokUpload:
    publish_id: str
    size: int
    chunk_size: int
    chunks: int
    title: str
    privacy: str
    is_aigc: bool
    received: int = 0
    checks: int = 0
    post_id_after: int = 0


class FakeTikTok(PlatformFake):
    """Content Posting API: creator_info, video/init (FILE_UPLOAD), chunk PUTs, status/fetch; OAuth v2 tokens."""

    privacy_options: tuple[str, ...] = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY")
    post_id_delay_checks: int = 0  # status reads after PUBLISH_COMPLETE without a public id (moderation)

    def install(self) -> None:
        self.uploads: dict[str, _TikTokUpload] = {}
        self.inits = 0
        self.server.route("POST", "/v2/oauth/token/", self._token)
        self.server.route("POST", "/v2/oauth/revoke/", lambda r: _json(200, {}))
        self.server.route("GET", "/v2/user/info/", self._user)
        self.server.route("POST", "/v2/post/publish/creator_info/query/", self._creator)
        self.server.route("POST", "/v2/post/publish/video/init/", self._init)
        self.server.route("POST", "/v2/post/publish/status/fetch/", self._status)
        self.video_stats: dict[str, dict[str, Any]] = {}  # video id -> its counts (only these ids come back)
        self.query_calls: list[list[str]] = []
        self.server.route("POST", "/v2/video/query/", self._query)

    def rate_limited(self, retry_after_s: int) -> Reply:
        return Reply(
            429,
            json.dumps({"data": {}, "error": {"code": "rate_limit_exceeded", "message": "slow down", "log_id": "x"}}),
            {"Retry-After": str(retry_after_s)},
        )

    def _query(self, request: Request) -> Reply:
        if (refused := self._guard(request, "query")) is not None:
            return refused
        fields = set(request.query.get("fields", [""])[0].split(","))
        ids = [str(i) for i in (json.loads(request.body or b"{}").get("filters") or {}).get("video_ids") or []]
        if not ids or len(ids) > 20 or "id" not in fields:
            return self._envelope(400, code="invalid_params", message="video_ids takes 1 to 20 ids")
        self.query_calls.append(ids)
        videos = [
            {k: v for k, v in {"id": video_id, **self.video_stats[video_id]}.items() if k in fields}
            for video_id in ids
            if video_id in self.video_stats
        ]
        return self._envelope(200, {"videos": videos, "cursor": 0, "has_more": False})

    @staticmethod
    def _envelope(status: int, data: Any = None, code: str = "ok", message: str = "") -> Reply:
        return _json(status, {"data": data or {}, "error": {"code": code, "message": message, "log_id": "fake"}})

    def _token(self, request: Request) -> Reply:
        form = _form(request)
        if form.get("grant_type") == "authorization_code":
            if not self._spend_code(form):
                return _json(400, {"error": "invalid_grant", "error_description": "Code is invalid", "log_id": "x"})
        elif form.get("grant_type") == "refresh_token":
            if (failure := self._failure("refresh")) is not None:
                return failure
            if form.get("refresh_token") not in self.refresh_tokens:
                return _json(400, {"error": "invalid_grant", "error_description": "Refresh token is invalid"})
            self.refresh_tokens.discard(form["refresh_token"])  # rotated: the old one stops working
        access, refresh = self._issue()
        return _json(
            200,
            {
                "access_token": access,
                "expires_in": 7200,
                "open_id": "open-id-1",
                "refresh_expires_in": 15_552_000,
                "refresh_token": refresh,
                "scope": "user.info.basic,video.publish",
                "token_type": "Bearer",
            },
        )

    def _guard(self, request: Request, route: str) -> Reply | None:
        if (failure := self._failure(route)) is not None and failure.status != 599:
            return failure
        if not self._bearer(request):
            return self._envelope(401, code="access_token_invalid", message="The access token is invalid")
        return None

    def _user(self, request: Request) -> Reply:
        if (refused := self._guard(request, "user")) is not None:
            return refused
        user = {"open_id": "open-id-1", "display_name": "Creator One", "username": "creator.one"}
        return self._envelope(200, {"user": user})

    def _creator(self, request: Request) -> Reply:
        if (refused := self._guard(request, "creator_info")) is not None:
            return refused
        return self._envelope(
            200,
            {
                "creator_username": "creator.one",
                "creator_nickname": "Creator One",
                "privacy_level_options": list(self.privacy_options),
                "comment_disabled": False,
                "duet_disabled": False,
                "stitch_disabled": True,
                "max_video_post_duration_sec": 300,
            },
        )

    def _init(self, request: Request) -> Reply:
        if (refused := self._guard(request, "init")) is not None:
            return refused
        body = json.loads(request.body)
        info, source = body["post_info"], body["source_info"]
        if info.get("privacy_level") not in self.privacy_options:
            return self._envelope(400, code="privacy_level_option_mismatch", message="privacy mismatch")
        if source.get("source") != "FILE_UPLOAD" or "is_aigc" not in info:
            return self._envelope(400, code="invalid_param", message="bad source")
        self.inits += 1
        publish_id = f"v_pub_file~v2-1.{self._next_id()}"
        upload = _TikTokUpload(
            publish_id=publish_id,
            size=int(source["video_size"]),
            chunk_size=int(source["chunk_size"]),
            chunks=int(source["total_chunk_count"]),
            title=str(info.get("title") or ""),
            privacy=str(info["privacy_level"]),
            is_aigc=bool(info["is_aigc"]),
        )
        self.uploads[publish_id] = upload
        path = f"/upload/{len(self.uploads)}"
        self.server.route("PUT", path, lambda r, u=upload: self._chunk(r, u))
        return self._envelope(200, {"publish_id": publish_id, "upload_url": f"{self.url}{path}?upload_token=x"})

    def _chunk(self, request: Request, upload: _TikTokUpload) -> Reply:
        failure = self._failure("chunk")
        if failure is not None and failure.status != 599:
            return failure
        first, _, rest = request.headers.get("content-range", "").removeprefix("bytes ").partition("-")
        last, _, total = rest.partition("/")
        if (
            int(first) != upload.received
            or int(total) != upload.size
            or int(last) - int(first) + 1 != len(request.body)
        ):
            return Reply(416, b"", {"Content-Range": f"bytes 0-{upload.received - 1}/{upload.size}"})
        upload.received = int(last) + 1
        if failure is not None:  # the bytes arrived, the answer did not
            return Reply(500, b"")
        if upload.received < upload.size:
            return Reply(206, b"", {"Content-Range": f"bytes 0-{upload.received - 1}/{upload.size}"})
        return Reply(201, b"", {"Content-Range": f"bytes 0-{upload.size - 1}/{upload.size}"})

    def _status(self, request: Request) -> Reply:
        if (refused := self._guard(request, "status")) is not None:
            return refused
        upload = self.uploads.get(json.loads(request.body).get("publish_id", ""))
        if upload is None:
            return self._envelope(400, code="invalid_publish_id", message="unknown publish id")
        data: dict[str, Any] = {"uploaded_bytes": upload.received, "downloaded_bytes": 0}
        if upload.received < upload.size:
            return self._envelope(200, {**data, "status": "PROCESSING_UPLOAD", "fail_reason": ""})
        upload.checks += 1
        if upload.checks <= self.processing_checks:
            return self._envelope(200, {**data, "status": "PROCESSING_UPLOAD", "fail_reason": ""})
        with self._lock:
            if upload.publish_id not in self.published:
                self.published[upload.publish_id] = self._next_id()
        public = upload.checks > self.processing_checks + self.post_id_delay_checks
        ids = [int(self.published[upload.publish_id])] if public else []
        return self._envelope(200, {**data, "status": "PUBLISH_COMPLETE", "publicaly_available_post_id": ids})


# --- YouTube -----------------------------------------------------------------------------------------------


@dataclass
class _Session:
    id: str
    size: int
    metadata: dict[str, Any]
    received: int = 0
    video_id: str | None = None
    gone: bool = False


class FakeYouTube(PlatformFake):
    """Google OAuth (no new refresh token on refresh), channels.list, resumable videos.insert, videos.list."""

    partial_first_put: bool = False  # the first data PUT keeps half the bytes, then the connection drops (503)
    resend_refresh_token: bool = True  # Google often omits it when the user consented before

    def install(self) -> None:
        self.sessions: dict[str, _Session] = {}
        self.videos: dict[str, _Session] = {}
        self.server.route("POST", "/token", self._token)
        self.server.route("POST", "/revoke", lambda r: Reply(200, b"{}"))
        self.server.route("GET", "/youtube/v3/channels", self._channels)
        self.server.route("POST", "/upload/youtube/v3/videos", self._start)
        self.server.route("GET", "/youtube/v3/videos", self._videos)
        self.statistics: dict[str, dict[str, str]] = {}  # video id -> statistics (uint64 strings)
        self.watch: dict[str, dict[str, float]] = {}  # video id -> Analytics API metrics (absent: no data yet)
        self.statistics_calls: list[list[str]] = []
        self.report_calls: list[dict[str, str]] = []
        self.server.route("GET", "/v2/reports", self._reports)

    def quota_exceeded(self) -> Reply:
        return self._error(
            403, "quotaExceeded", "The request cannot be completed because you have exceeded your quota."
        )

    def _statistics(self, request: Request) -> Reply:
        ids = [i for i in request.query.get("id", [""])[0].split(",") if i]
        if not ids or len(ids) > 50:
            return self._error(400, "badRequest", "id takes 1 to 50 ids")
        self.statistics_calls.append(ids)
        items = [
            {"kind": "youtube#video", "etag": "e", "id": i, "statistics": self.statistics[i]}
            for i in ids
            if i in self.statistics
        ]
        page = {"totalResults": len(items), "resultsPerPage": len(items)}
        return _json(200, {"kind": "youtube#videoListResponse", "etag": "e", "items": items, "pageInfo": page})

    def _reports(self, request: Request) -> Reply:
        if (refused := self._guard(request, "reports")) is not None:
            return refused
        query = {k: v[0] for k, v in request.query.items()}
        required = ("ids", "startDate", "endDate", "metrics", "dimensions", "filters", "sort", "maxResults")
        if (
            any(name not in query for name in required)
            or query["ids"] != "channel==MINE"
            or query["dimensions"] != "video"
            or not query["filters"].startswith("video==")
        ):
            return self._error(400, "badRequest", "Invalid query")
        self.report_calls.append(query)
        ids = query["filters"].removeprefix("video==").split(",")
        metrics = query["metrics"].split(",")
        headers = [{"name": "video", "columnType": "DIMENSION", "dataType": "STRING"}] + [
            {"name": m, "columnType": "METRIC", "dataType": "FLOAT" if m == "estimatedMinutesWatched" else "INTEGER"}
            for m in metrics
        ]
        body: dict[str, Any] = {"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers}
        rows = [[i, *(self.watch[i].get(m, 0) for m in metrics)] for i in ids if i in self.watch]
        if rows:  # "If no data is available for the given query, the rows element will be omitted"
            body["rows"] = rows
        return _json(200, body)

    @staticmethod
    def _error(status: int, reason: str, message: str = "error") -> Reply:
        return _json(status, {"error": {"code": status, "message": message, "errors": [{"reason": reason}]}})

    def _token(self, request: Request) -> Reply:
        form = _form(request)
        if form.get("grant_type") == "authorization_code":
            if not self._spend_code(form):
                return _json(400, {"error": "invalid_grant", "error_description": "Bad Request"})
            access, refresh = self._issue(rotate=self.resend_refresh_token)
            answer = {"access_token": access, "expires_in": 3599, "token_type": "Bearer"}
            if self.resend_refresh_token:
                answer["refresh_token"] = refresh
            return _json(200, answer)
        if form.get("refresh_token") not in self.refresh_tokens:
            return _json(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        access, _ = self._issue(rotate=False)
        return _json(200, {"access_token": access, "expires_in": 3599, "token_type": "Bearer"})

    def _guard(self, request: Request, route: str) -> Reply | None:
        if (failure := self._failure(route)) is not None:
            return failure
        if not self._bearer(request):
            return self._error(401, "authError", "Invalid Credentials")
        return None

    def _channels(self, request: Request) -> Reply:
        if (refused := self._guard(request, "channels")) is not None:
            return refused
        channel = {"id": "UC_fake_channel", "snippet": {"title": "Fake Channel", "customUrl": "@fakechannel"}}
        return _json(200, {"kind": "youtube#channelListResponse", "items": [channel]})

    def _start(self, request: Request) -> Reply:
        if (refused := self._guard(request, "start")) is not None:
            return refused
        metadata = json.loads(request.body)
        status = metadata.get("status") or {}
        if "selfDeclaredMadeForKids" not in status:
            return self._error(400, "invalidVideoMetadata", "made for kids must be declared")
        session = _Session(
            id=secrets.token_hex(6), size=int(request.headers["x-upload-content-length"]), metadata=metadata
        )
        self.sessions[session.id] = session
        path = f"/upload/session/{session.id}"
        self.server.route("PUT", path, lambda r, s=session: self._put(r, s))
        return Reply(200, b"", {"Location": f"{self.url}{path}?uploadType=resumable&upload_id={session.id}"})

    def _finished(self, session: _Session) -> Reply:
        return _json(201, {"kind": "youtube#video", "id": session.video_id, "status": {"uploadStatus": "uploaded"}})

    def _put(self, request: Request, session: _Session) -> Reply:
        if (failure := self._failure("put")) is not None:
            return failure
        if session.gone:
            return Reply(404, b"Not Found")
        if session.video_id is not None:
            return self._finished(session)  # "the original final response is repeated"
        span = request.headers.get("content-range", "")
        if span.startswith("bytes */"):
            if session.received == 0:
                return Reply(308, b"")
            return Reply(308, b"", {"Range": f"bytes=0-{session.received - 1}"})
        first = int(span.removeprefix("bytes ").split("-")[0])
        if first != session.received:
            return Reply(308, b"", {"Range": f"bytes=0-{session.received - 1}"} if session.received else {})
        body = request.body
        if self.partial_first_put and session.received == 0:
            session.received = len(body) // 2
            self.partial_first_put = False
            return Reply(503, b"")
        session.received += len(body)
        if session.received < session.size:
            return Reply(308, b"", {"Range": f"bytes=0-{session.received - 1}"})
        with self._lock:
            session.video_id = f"vid{secrets.token_hex(4)}"
            self.videos[session.video_id] = session
            self.published[session.id] = session.video_id
        return self._finished(session)

    def _videos(self, request: Request) -> Reply:
        if (refused := self._guard(request, "videos")) is not None:
            return refused
        if request.query.get("part", [""])[0] == "statistics":
            return self._statistics(request)
        video_id = request.query.get("id", [""])[0]
        session = self.videos.get(video_id)
        if session is None:
            return _json(200, {"items": []})
        self.processing_checks -= 1
        upload_status = "uploaded" if self.processing_checks >= 0 else "processed"
        return _json(200, {"items": [{"id": video_id, "status": {"uploadStatus": upload_status}}]})


# --- Instagram ---------------------------------------------------------------------------------------------


@dataclass
class _Container:
    id: str
    ig_user: str
    video_url: str
    caption: str
    status: str = "IN_PROGRESS"
    checks: int = 0
    media_id: str | None = None


class FakeInstagram(PlatformFake):
    """Graph API (Facebook Login): code and long-lived token exchange, pages, publishing limit, Reels containers,
    media_publish (a PUBLISHED container is refused)."""

    version = "v25.0"
    ig_user = "17841400000000001"
    container_outcome = "FINISHED"  # or "ERROR"

    def install(self) -> None:
        self.containers: dict[str, _Container] = {}
        v = f"/{self.version}"
        self.server.route("GET", f"{v}/oauth/access_token", self._token)
        self.server.route("GET", f"{v}/me/accounts", self._pages)
        self.server.route("GET", f"{v}/{self.ig_user}/content_publishing_limit", self._limit)
        self.server.route("POST", f"{v}/{self.ig_user}/media", self._create)
        self.server.route("POST", f"{v}/{self.ig_user}/media_publish", self._publish)
        self.server.route("DELETE", f"{v}/me/permissions", lambda r: _json(200, {"success": True}))
        self.insights: dict[str, dict[str, float]] = {}  # media id -> metric values
        self.total_value_metrics: set[str] = set()  # answered as total_value.value instead of values[0].value
        self.retired_metrics: set[str] = set()  # refused like the deprecated ones (a future retirement)
        self.not_enough_viewers: set[str] = set()
        self.insight_calls: list[tuple[str, list[str]]] = []

    def add_media(self, media_id: str, **values: float) -> None:
        """A published media with these insights (none: an empty data set, "not yet")."""
        self.insights[media_id] = dict(values)
        self.server.route("GET", f"/{self.version}/{media_id}/insights", lambda r, m=media_id: self._insights(r, m))

    def throttled(self, code: int, regain_minutes: int | None = None) -> Reply:
        headers = {}
        if regain_minutes is not None:
            usage = {
                self.ig_user: [
                    {"type": "instagram", "call_count": 100, "estimated_time_to_regain_access": regain_minutes}
                ]
            }
            headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
        error = {"message": f"(#{code}) Application request limit reached", "type": "OAuthException", "code": code}
        return Reply(400, json.dumps({"error": {**error, "fbtrace_id": "fake"}}), headers)

    def _insights(self, request: Request, media_id: str) -> Reply:
        if (refused := self._guard(request, "insights")) is not None:
            return refused
        asked = [m for m in request.query.get("metric", [""])[0].split(",") if m]
        self.insight_calls.append((media_id, asked))
        for metric in asked:
            if metric in DEPRECATED_INSIGHTS or metric in self.retired_metrics:
                return self._error(
                    400,
                    100,
                    f"(#100) Starting from version v22.0 and above, the {metric} metric is no longer supported. "
                    "Please use views instead.",
                )
        if media_id in self.not_enough_viewers:
            return self._error(400, 10, "(#10) Not enough viewers for the media to show insights")
        data = []
        for name in asked:
            if name not in self.insights[media_id]:
                continue
            value = self.insights[media_id][name]
            entry: dict[str, Any] = {
                "name": name,
                "period": "lifetime",
                "title": name,
                "description": "",
                "id": f"{media_id}/insights/{name}/lifetime",
            }
            if name in self.total_value_metrics:
                entry["total_value"] = {"value": value}
            else:
                entry["values"] = [{"value": value}]
            data.append(entry)
        return _json(200, {"data": data})

    @staticmethod
    def _error(status: int, code: int, message: str, subcode: int | None = None, **extra: Any) -> Reply:
        error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "fake", **extra}
        if subcode:
            error["error_subcode"] = subcode
        return _json(status, {"error": error})

    def _guard(self, request: Request, route: str) -> Reply | None:
        if (failure := self._failure(route)) is not None and failure.status != 599:
            return failure
        if not self._bearer(request):
            return self._error(400, 190, "Error validating access token", 463)
        return None

    def _token(self, request: Request) -> Reply:
        query = {k: v[0] for k, v in request.query.items()}
        if query.get("grant_type") == "fb_exchange_token":
            if query.get("fb_exchange_token") not in self.access_tokens:
                return self._error(400, 190, "Invalid OAuth access token")
            access, _ = self._issue(rotate=False)
            return _json(200, {"access_token": access, "token_type": "bearer", "expires_in": 5_183_944})
        if not self._spend_code(query, pkce=False):
            return self._error(400, 100, "Invalid verification code format.")
        access, _ = self._issue(rotate=False)
        return _json(200, {"access_token": access, "token_type": "bearer", "expires_in": 3600})

    def _pages(self, request: Request) -> Reply:
        if (refused := self._guard(request, "pages")) is not None:
            return refused
        page = {
            "id": "page-1",
            "name": "Fake Page",
            "instagram_business_account": {"id": self.ig_user, "username": "fake.reels"},
        }
        return _json(200, {"data": [page]})

    def _limit(self, request: Request) -> Reply:
        if (refused := self._guard(request, "limit")) is not None:
            return refused
        return _json(
            200,
            {"data": [{"config": {"quota_total": 50, "quota_duration": 86400}, "quota_usage": len(self.published)}]},
        )

    def _create(self, request: Request) -> Reply:
        if (refused := self._guard(request, "create")) is not None:
            return refused
        query = {k: v[0] for k, v in request.query.items()}
        if query.get("media_type") != "REELS" or not query.get("video_url", "").startswith("http"):
            return self._error(400, 100, "Invalid parameter")
        container = _Container(
            id=self._next_id(), ig_user=self.ig_user, video_url=query["video_url"], caption=query.get("caption", "")
        )
        self.containers[container.id] = container
        self.server.route("GET", f"/{self.version}/{container.id}", lambda r, c=container: self._container(r, c))
        return _json(200, {"id": container.id})

    def _container(self, request: Request, container: _Container) -> Reply:
        if (refused := self._guard(request, "container")) is not None:
            return refused
        container.checks += 1
        if container.status == "IN_PROGRESS" and container.checks > self.processing_checks:
            container.status = self.container_outcome
        body: dict[str, Any] = {"id": container.id, "status_code": container.status}
        if container.status == "ERROR":
            body["status"] = "Error: The video could not be processed (2207026)"
        return _json(200, body)

    def _publish(self, request: Request) -> Reply:
        failure = self._failure("publish")
        if failure is not None and failure.status != 599:
            return failure
        if not self._bearer(request):
            return self._error(400, 190, "Error validating access token", 463)
        self.publish_calls += 1
        container = self.containers.get(request.query.get("creation_id", [""])[0])
        if container is None or container.status != "FINISHED":
            return self._error(400, 9007, "Media ID is not available", 2207027)
        with self._lock:
            container.status = "PUBLISHED"
            container.media_id = self._next_id()
            self.published[container.id] = container.media_id
        media = container.media_id
        self.server.route(
            "GET",
            f"/{self.version}/{media}",
            lambda r: _json(200, {"id": media, "permalink": f"https://www.instagram.com/reel/{media}/"}),
        )
        if failure is not None:  # published, but the answer is lost
            return Reply(500, b"")
        return _json(200, {"id": media})
