"""The sandbox platform: a simulated social network that behaves like a real one, for `make run` and tests.

`SandboxNetwork` is the platform itself (an OAuth-style connect flow with PKCE and rotating refresh tokens,
chunked uploads, a processing delay, public post ids and URLs, metrics from a hidden audience model). It runs in
this process and answers HTTP through an httpx transport, so `SandboxAdapter` talks to it over httpx exactly as
the other adapters talk to theirs. It is offered only in the local and test stages (Settings.sandbox_available).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

from viral.http.client import USER_AGENT
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
    retry_after_s,
)

BASE_URL = "https://sandbox.viral.invalid"
ACCESS_TTL_S = 7200
REFRESH_TTL_S = 180 * 86_400
PRIVACY_OPTIONS = ["PUBLIC", "FOLLOWERS", "PRIVATE"]


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


@dataclass
class _Upload:
    id: str
    token_user: str
    client_ref: str
    size: int
    caption: str
    privacy: str
    ai_generated: bool
    received: int = 0
    completed_at: float | None = None
    post_id: str | None = None


@dataclass
class SandboxNetwork:
    """The simulated platform. Tests may set `processing_s`, expire tokens, or queue failures per route."""

    processing_s: float = 3.0
    access_ttl_s: int = ACCESS_TTL_S
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (user, expires)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # live refresh token -> user
    uploads: dict[str, _Upload] = field(default_factory=dict)
    published: dict[str, list[str]] = field(default_factory=dict)  # client_ref (our post id) -> post ids
    failures: dict[str, list[httpx.Response]] = field(default_factory=dict)  # route -> answers to give first
    requests: list[tuple[str, str]] = field(default_factory=list)
    # A simulation's hooks: its own audience (our post id, published at, now -> the metrics answer), and a look at
    # every request before it is answered (it may raise, as a process killed mid-call would).
    audience: Callable[[str, float, float], dict[str, Any]] | None = None
    interceptor: Callable[[httpx.Request], None] | None = None
    on_change: Callable[[], None] | None = None  # after any request that may have changed what the network knows
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- the consent page's side (local runtime, tests) -----------------------------------------------------

    def grant_code(self, *, redirect_uri: str, code_challenge: str, user: str = "sandbox-creator") -> str:
        """What the consent page does when the user agrees: a one-time code bound to the redirect and challenge."""
        code = "sbc_" + secrets.token_urlsafe(16)
        with self._lock:
            self.codes[code] = {"redirect_uri": redirect_uri, "challenge": code_challenge, "user": user}
        return code

    def fail_next(self, route: str, *answers: httpx.Response) -> None:
        with self._lock:
            self.failures.setdefault(route, []).extend(answers)

    def publish_count(self, client_ref: str) -> int:
        return len(self.published.get(client_ref, []))

    def expire_access_tokens(self) -> None:
        with self._lock:
            self.access_tokens = {t: (u, 0.0) for t, (u, _) in self.access_tokens.items()}

    def state(self) -> dict[str, Any]:
        """What the network knows (grants, tokens, uploads, posts), as JSON-ready data: a simulation saves it to
        resume later."""
        with self._lock:
            return {
                "access_tokens": {t: list(v) for t, v in self.access_tokens.items()},
                "refresh_tokens": dict(self.refresh_tokens),
                "uploads": [asdict(u) for u in self.uploads.values()],
                "published": {k: list(v) for k, v in self.published.items()},
            }

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.access_tokens = {t: (str(u), float(e)) for t, (u, e) in state["access_tokens"].items()}
            self.refresh_tokens = dict(state["refresh_tokens"])
            self.uploads = {u["id"]: _Upload(**u) for u in state["uploads"]}
            self.published = {k: list(v) for k, v in state["published"].items()}

    # --- HTTP ----------------------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        route = f"{request.method} {request.url.path}"
        key = self._route_key(request)
        if self.interceptor is not None:
            self.interceptor(request)
        try:
            with self._lock:
                self.requests.append((request.method, request.url.path))
                queued = self.failures.get(key)
                if queued:
                    answer = queued.pop(0)
                    if answer.status_code == 599:  # the platform did the work but the answer was lost
                        self._dispatch(request, route)
                        raise httpx.ReadTimeout("no answer", request=request)
                    return answer
                return self._dispatch(request, route)
        finally:
            # A status check can publish (the post id is given when processing ends): only metrics change nothing.
            if self.on_change is not None and key != "GET /v1/posts/{id}/metrics":
                self.on_change()

    @staticmethod
    def _route_key(request: httpx.Request) -> str:
        path = request.url.path
        if path.startswith("/v1/uploads/"):
            path = "/v1/uploads/{id}"
        if path.startswith("/v1/posts/"):
            path = "/v1/posts/{id}/metrics"
        return f"{request.method} {path}"

    def _dispatch(self, request: httpx.Request, route: str) -> httpx.Response:
        path = request.url.path
        if route == "POST /oauth/token":
            return self._token(request)
        if route == "POST /oauth/revoke":
            form = parse_qs(request.content.decode())
            token = (form.get("token") or [""])[0]
            self.access_tokens.pop(token, None)
            self.refresh_tokens.pop(token, None)
            return _json(200, {"revoked": True})
        user = self._user(request)
        if user is None:
            return _json(401, {"error": {"code": "access_token_invalid", "message": "The access token is invalid"}})
        if route == "GET /v1/me":
            return _json(
                200,
                {
                    "id": f"sbx-{hashlib.sha256(user.encode()).hexdigest()[:12]}",
                    "username": user,
                    "display_name": user.replace("-", " ").title(),
                    "privacy_level_options": PRIVACY_OPTIONS,
                    "max_video_post_duration_sec": 600,
                    "daily_post_cap": 25,
                },
            )
        if route == "POST /v1/uploads":
            return self._begin(request, user)
        if path.startswith("/v1/uploads/"):
            upload = self.uploads.get(path.rsplit("/", 1)[-1])
            if upload is None or upload.token_user != user:
                return _json(404, {"error": {"code": "upload_not_found", "message": "No such upload"}})
            if request.method == "PUT":
                return self._chunk(request, upload)
            return _json(200, self._status(upload))
        if path.startswith("/v1/posts/") and path.endswith("/metrics"):
            return self._metrics(path.split("/")[3])
        return _json(404, {"error": {"code": "not_found", "message": "No such route"}})

    def _metrics(self, post_id: str) -> httpx.Response:
        if self.audience is None:
            return _json(200, audience_metrics(post_id, self._published_at(post_id)))
        upload = next((u for u in self.uploads.values() if u.post_id == post_id), None)
        if upload is None:
            return _json(404, {"error": {"code": "post_not_found", "message": "No such post"}})
        return _json(200, self.audience(upload.client_ref, self._published_at(post_id), time.time()))

    def _user(self, request: httpx.Request) -> str | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        found = self.access_tokens.get(token)
        if found is None or found[1] < time.time():
            return None
        return found[0]

    def _issue(self, user: str) -> dict[str, Any]:
        access, refresh = "sba_" + secrets.token_urlsafe(24), "sbr_" + secrets.token_urlsafe(24)
        self.access_tokens[access] = (user, time.time() + self.access_ttl_s)
        self.refresh_tokens[refresh] = user
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.access_ttl_s,
            "refresh_expires_in": REFRESH_TTL_S,
            "open_id": user,
            "scope": "profile,publish",
            "token_type": "Bearer",
        }

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)  # single use
            if (
                grant is None
                or grant["redirect_uri"] != form.get("redirect_uri")
                or grant["challenge"] != _challenge(form.get("code_verifier", ""))
            ):
                return _json(400, {"error": "invalid_grant", "error_description": "The code is invalid or used"})
            return _json(200, self._issue(grant["user"]))
        if form.get("grant_type") == "refresh_token":
            user = self.refresh_tokens.pop(form.get("refresh_token", ""), None)  # rotated: the old one dies
            if user is None:
                return _json(400, {"error": "invalid_grant", "error_description": "The refresh token is invalid"})
            return _json(200, self._issue(user))
        return _json(400, {"error": "unsupported_grant_type", "error_description": "Unknown grant"})

    def _begin(self, request: httpx.Request, user: str) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        if body.get("privacy") not in PRIVACY_OPTIONS:
            return _json(400, {"error": {"code": "privacy_level_option_mismatch", "message": "Unknown privacy"}})
        size = int(body.get("size") or 0)
        if size <= 0:
            return _json(400, {"error": {"code": "invalid_params", "message": "size is required"}})
        upload = _Upload(
            id="sbu_" + secrets.token_hex(8),
            token_user=user,
            client_ref=str(body.get("client_ref") or ""),
            size=size,
            caption=str(body.get("caption") or ""),
            privacy=str(body["privacy"]),
            ai_generated=bool(body.get("ai_generated")),
        )
        self.uploads[upload.id] = upload
        return _json(200, {"upload_id": upload.id, "upload_url": f"{BASE_URL}/v1/uploads/{upload.id}"})

    def _chunk(self, request: httpx.Request, upload: _Upload) -> httpx.Response:
        if upload.completed_at is not None:
            return _json(201, self._status(upload))  # the final answer again: the upload is one post, once
        first, last, total = _content_range(request.headers.get("content-range", ""))
        if first != upload.received or total != upload.size or last - first + 1 != len(request.content):
            return httpx.Response(416, headers={"Range": f"bytes=0-{upload.received - 1}"})
        upload.received = last + 1
        if upload.received < upload.size:
            return httpx.Response(308, headers={"Range": f"bytes=0-{upload.received - 1}"})
        upload.completed_at = time.time()
        return _json(201, self._status(upload))

    def _status(self, upload: _Upload) -> dict[str, Any]:
        if upload.completed_at is None:
            return {"status": "UPLOADING", "received": upload.received, "size": upload.size}
        if time.time() - upload.completed_at < self.processing_s:
            return {"status": "PROCESSING", "received": upload.received, "size": upload.size}
        if upload.post_id is None:
            upload.post_id = str(random.randint(10**17, 10**18 - 1))
            self.published.setdefault(upload.client_ref, []).append(upload.post_id)
        return {
            "status": "PUBLISHED",
            "post_id": upload.post_id,
            "url": f"{BASE_URL}/@{upload.token_user}/video/{upload.post_id}",
            "received": upload.received,
            "size": upload.size,
        }

    def _published_at(self, post_id: str) -> float:
        for upload in self.uploads.values():
            if upload.post_id == post_id and upload.completed_at is not None:
                return upload.completed_at + self.processing_s
        return time.time()


def audience_metrics(post_id: str, published_at: float, now: float | None = None) -> dict[str, Any]:
    """Metrics from a hidden audience: each post has a fixed appeal (seeded by its id); views grow with age along
    a saturating curve, and engagement follows appeal with noise. The same post at the same age gives the same
    figures, so an analytics collector sees a believable, repeatable history."""
    now = time.time() if now is None else now
    rng = random.Random(int(hashlib.sha256(post_id.encode()).hexdigest()[:12], 16))
    appeal = min(2.5, max(0.1, rng.lognormvariate(0.0, 0.6)))
    reach = 20_000 * appeal
    hours = max(0.0, (now - published_at) / 3600)
    views = int(reach * (1 - math.exp(-hours / 18)))
    like_rate = min(0.25, 0.04 * appeal * rng.uniform(0.8, 1.2))
    return {
        "post_id": post_id,
        "views": views,
        "likes": int(views * like_rate),
        "comments": int(views * like_rate * 0.08),
        "shares": int(views * like_rate * 0.15),
        "avg_watch_time_ms": int(4000 + 6000 * min(1.0, appeal / 2)),
        "definition": "sandbox-v1: views count every play",
    }


def _content_range(value: str) -> tuple[int, int, int]:
    try:
        _, _, rest = value.partition(" ")
        span, _, total = rest.partition("/")
        first, _, last = span.partition("-")
        return int(first), int(last), int(total)
    except ValueError:
        return -1, -1, -1


def _json(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body)


@lru_cache(maxsize=1)
def sandbox_network() -> SandboxNetwork:
    """The one simulated network of this process (every function of `make run` shares it)."""
    from viral.settings import get_settings

    return SandboxNetwork(processing_s=get_settings().sandbox_processing_s)


def reset_sandbox() -> None:
    sandbox_network.cache_clear()


CHUNK = 4 * 1024 * 1024


class SandboxAdapter:
    """The sandbox over httpx (an in-process transport: no socket, the same requests and answers)."""

    name = "sandbox"
    begin_publishes = False
    has_publish_call = False
    supports_pkce = True
    metrics_batch_size = 50
    app_key = "sandbox"

    def __init__(self, network: SandboxNetwork, authorize_url: str) -> None:
        self.network = network
        self.authorize_page = authorize_url
        self.http = httpx.Client(
            base_url=BASE_URL,
            transport=httpx.MockTransport(network.handle),
            headers={"User-Agent": USER_AGENT},
            timeout=httpx.Timeout(10.0),
        )

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str) -> str:
        query = {
            "client_id": "viral-dashboard",
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "scope": "profile,publish",
        }
        return f"{self.authorize_page}?{urlencode(query)}"

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise Ambiguous("the sandbox did not answer") from exc
        except httpx.TransportError as exc:
            raise Unavailable("the sandbox is unreachable") from exc

    def _checked(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if status == 401:
            raise TokenRejected("the sandbox refused the access token")
        if status == 429:
            raise RateLimited("the sandbox asks us to wait", wait_s=retry_after_s(response))
        if status >= 500:
            raise Unavailable(f"the sandbox answered {status}")
        if status >= 400:
            error = (response.json().get("error") or {}) if response.content else {}
            code = error.get("code") if isinstance(error, dict) else str(error)
            raise Rejected(SANDBOX_REASONS.get(str(code), "the sandbox refused the post"), platform_code=str(code))
        return dict(response.json())

    def _token(self, form: dict[str, str]) -> TokenGrant:
        response = self._send("POST", "/oauth/token", data=form)
        if response.status_code == 400 and response.json().get("error") == "invalid_grant":
            raise GrantRevoked("the sandbox no longer accepts this grant")
        body = self._checked(response)
        return TokenGrant(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token"),
            expires_in_s=body.get("expires_in"),
            refresh_expires_in_s=body.get("refresh_expires_in"),
            scope=body.get("scope"),
            account_hint=body.get("open_id"),
        )

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> TokenGrant:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        return self._token({**form, "code_verifier": code_verifier})

    def refresh(self, refresh_token: str) -> TokenGrant:
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def revoke(self, access_token: str) -> None:
        self._send("POST", "/oauth/revoke", data={"token": access_token})

    def identify(self, access_token: str) -> AccountIdentity:
        body = self._checked(self._send("GET", "/v1/me", headers=_bearer(access_token)))
        return AccountIdentity(
            platform_account_id=str(body["id"]),
            username=str(body["username"]),
            display_name=body.get("display_name"),
            capabilities={
                "privacyOptions": body.get("privacy_level_options") or [],
                "maxDurationS": body.get("max_video_post_duration_sec"),
                "dailyCap": body.get("daily_post_cap"),
            },
        )

    def begin(self, access_token: str, request: PublishRequest) -> Upload:
        body = {
            "client_ref": request.post_id,
            "caption": request.text,
            "privacy": request.privacy,
            "ai_generated": bool(request.disclosure.get("aiGenerated")),
            "size": request.media.size,
        }
        answer = self._checked(self._send("POST", "/v1/uploads", json=body, headers=_bearer(access_token)))
        return Upload(upload_id=str(answer["upload_id"]), data={"uploadUrl": answer["upload_url"]})

    def transfer(self, access_token: str, upload: Upload, request: PublishRequest) -> Upload:
        """Send the media in chunks from where the platform says it is (a retry resumes, never restarts)."""
        size = request.media.size
        offset = int(self._status(access_token, upload).get("received") or 0)
        while offset < size:
            length = min(CHUNK, size - offset)
            headers = {
                **_bearer(access_token),
                "Content-Type": request.media.content_type,
                "Content-Range": f"bytes {offset}-{offset + length - 1}/{size}",
            }
            response = self._send(
                "PUT", f"/v1/uploads/{upload.upload_id}", content=request.media.read(offset, length), headers=headers
            )
            if response.status_code in (308, 416):
                offset = _range_end(response.headers.get("Range"))
                continue
            if response.status_code == 201:
                return Upload(upload.upload_id, {**upload.data, "transferred": True})
            if response.status_code == 404:
                raise UploadGone("the sandbox upload expired")
            if response.status_code >= 500:
                raise Ambiguous(f"the sandbox answered {response.status_code} to a chunk")
            self._checked(response)
        return Upload(upload.upload_id, {**upload.data, "transferred": True})

    def _status(self, access_token: str, upload: Upload) -> dict[str, Any]:
        response = self._send("GET", f"/v1/uploads/{upload.upload_id}", headers=_bearer(access_token))
        if response.status_code == 404:
            raise UploadGone("the sandbox has no such upload")
        return self._checked(response)

    def check(self, access_token: str, upload: Upload) -> Check:
        body = self._status(access_token, upload)
        status = body.get("status")
        if status == "PUBLISHED":
            return Check(CheckState.PUBLISHED, post_id=str(body["post_id"]), url=body.get("url"))
        if status == "PROCESSING":
            return Check(CheckState.PROCESSING)
        if status == "UPLOADING":
            return Check(CheckState.UPLOADING)
        return Check(CheckState.FAILED, reason="the sandbox could not publish the video", platform_code=str(status))

    def publish(self, access_token: str, upload: Upload) -> Check:
        raise NotImplementedError("the sandbox publishes when the upload completes")

    def metrics(self, access_token: str, platform_post_id: str) -> dict[str, Any]:
        return self._checked(self._send("GET", f"/v1/posts/{platform_post_id}/metrics", headers=_bearer(access_token)))

    def metrics_batch(
        self, access_token: str, platform_post_ids: Sequence[str], *, budget: CallBudget | None = None
    ) -> dict[str, dict[str, Any]]:
        """The sandbox has no batch route: one metrics call per post, each drawn from the budget."""
        budget = budget or Unmetered()
        found: dict[str, dict[str, Any]] = {}
        for post_id in platform_post_ids:
            budget.spend("metrics")
            found[post_id] = self.metrics(access_token, post_id)
        return found


SANDBOX_REASONS = {
    "privacy_level_option_mismatch": "The privacy you chose is not one the account offers.",
    "invalid_params": "The video could not be sent to the sandbox.",
}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _range_end(value: str | None) -> int:
    """The next byte to send after a `Range: bytes=0-N` answer (none: start at 0)."""
    if not value or "-" not in value:
        return 0
    return int(value.rsplit("-", 1)[-1]) + 1
