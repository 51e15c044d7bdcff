"""What every social platform adapter offers, and the typed outcomes the post worker acts on.

The worker drives each post through begin (the platform's upload handle: TikTok publish_id, YouTube session URI,
Instagram container id), transfer (the media, resumable), check (read-only, repeatable) and, where the platform
has one, publish (Instagram's media_publish). Only `publish`, and on some platforms the end of `transfer`,
make a post public; the worker makes those calls at most once per post and reconciles by the upload id.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from viral.errors import DomainError, Permanent, Retryable


class RateLimited(Retryable):
    """The platform asked us to wait (429, quota): nothing was accepted; try again after `wait_s`. `scope` says
    whose limit it was: the whole app's ("app", e.g. YouTube's project quota) or one user token's ("account")."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, wait_s: float = 60.0, scope: str = "account", details: Any = None) -> None:
        super().__init__(message, details=details)
        self.wait_s = wait_s
        self.scope = scope


class BudgetSpent(Retryable):
    """Our own budget for the platform refused the call before it was made (see CallBudget)."""

    code = "BUDGET_SPENT"


class CallBudget(Protocol):
    """What an adapter asks before each metrics call it makes, and tells when an optional call was rate limited.
    The caller owns the budgets; the adapter only names its calls (e.g. "video.query", "videos.list")."""

    def spend(self, call: str) -> None:
        """Draw for one call of this kind; raises BudgetSpent when the call must not be made."""
        ...

    def limited(self, call: str, error: RateLimited) -> None:
        """An optional call of this kind was rate limited (its figures are left out; the rest stand)."""
        ...


class Unmetered:
    """No budget: every call may be made (single reads outside the collector)."""

    def spend(self, call: str) -> None:
        return None

    def limited(self, call: str, error: RateLimited) -> None:
        return None


class Unavailable(Retryable):
    """The platform answered 5xx or could not be reached before it accepted anything: safe to try again."""

    code = "PLATFORM_UNAVAILABLE"


class Ambiguous(Retryable):
    """The call may or may not have taken effect (no answer, or a 5xx after acceptance)."""

    code = "PLATFORM_AMBIGUOUS"


class TokenRejected(DomainError):
    """The platform refused the access token (401): refresh once, then ask the user to reconnect."""

    code = "TOKEN_REJECTED"


class GrantRevoked(Permanent):
    """The refresh token is dead (invalid_grant, revoked, expired): the account must be reconnected."""

    code = "RECONNECT_REQUIRED"


class UploadGone(DomainError):
    """The upload handle expired before it completed (YouTube 404/410 session): start a new one."""

    code = "UPLOAD_GONE"


class Rejected(Permanent):
    """A permanent refusal (policy, format, duration, privacy...): `reason` is in words a user understands."""

    code = "PLATFORM_REJECTED"

    def __init__(self, reason: str, *, platform_code: str | None = None) -> None:
        super().__init__(reason, details={"platformCode": platform_code} if platform_code else None)
        self.reason = reason
        self.platform_code = platform_code


@dataclass(frozen=True)
class TokenGrant:
    """A platform's token answer; lifetimes come from the answer itself, never hard-coded."""

    access_token: str
    refresh_token: str | None = None
    expires_in_s: int | None = None
    refresh_expires_in_s: int | None = None
    scope: str | None = None
    account_hint: str | None = None  # e.g. TikTok's open_id


@dataclass(frozen=True)
class AccountIdentity:
    platform_account_id: str
    username: str
    display_name: str | None = None
    capabilities: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    """The video to post: its size, type, a short-lived public URL (pull flows) and a reader of byte ranges."""

    size: int
    read: Callable[[int, int], bytes]  # (offset, length) -> bytes
    url: str | None = None
    content_type: str = "video/mp4"
    duration_s: float | None = None


@dataclass(frozen=True)
class PublishRequest:
    post_id: str
    caption: str
    hashtags: tuple[str, ...]
    privacy: str | None
    disclosure: dict[str, Any]
    media: Media
    title: str = ""
    platform_account_id: str = ""  # the account on the platform (Instagram's user id)

    @property
    def text(self) -> str:
        tags = " ".join(h if h.startswith("#") else f"#{h}" for h in self.hashtags)
        return f"{self.caption} {tags}".strip()


@dataclass(frozen=True)
class Upload:
    """The platform's handle of one upload and what resuming it needs (committed the moment it is known)."""

    upload_id: str
    data: dict[str, Any] = field(default_factory=dict)


class CheckState(enum.StrEnum):
    UPLOADING = "uploading"  # the media is not all there yet: transfer (resumes)
    PROCESSING = "processing"
    READY = "ready"  # processed, waiting for our publish call (Instagram)
    PUBLISHED = "published"
    FAILED = "failed"


@dataclass(frozen=True)
class Check:
    state: CheckState
    post_id: str | None = None
    url: str | None = None
    reason: str | None = None
    platform_code: str | None = None
    retryable: bool = False


def send(client: httpx.Client, method: str, url: str, *, platform: str, **kwargs: Any) -> httpx.Response:
    """One request with transport failures typed: no answer is Ambiguous (it may have taken effect), a connection
    that never opened is Unavailable (nothing was sent)."""
    try:
        return client.request(method, url, **kwargs)
    except httpx.ConnectError as exc:
        raise Unavailable(f"{platform} is unreachable") from exc
    except httpx.TimeoutException as exc:
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            raise Unavailable(f"{platform} is unreachable") from exc
        raise Ambiguous(f"{platform} did not answer") from exc
    except httpx.TransportError as exc:
        raise Ambiguous(f"{platform} dropped the connection") from exc


def retry_after_s(response: httpx.Response, default: float = 60.0) -> float:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date), else `default`."""
    value = response.headers.get("Retry-After")
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def json_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class SocialPlatform(Protocol):
    """One adapter per platform, over httpx."""

    name: str
    begin_publishes: bool  # True when the begin call alone can publish (TikTok PULL_FROM_URL)
    has_publish_call: bool  # True when a separate call publishes (Instagram media_publish)
    supports_pkce: bool

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str) -> str: ...

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> TokenGrant: ...

    def identify(self, access_token: str) -> AccountIdentity: ...

    def refresh(self, refresh_token: str) -> TokenGrant: ...

    def revoke(self, access_token: str) -> None: ...

    def begin(self, access_token: str, request: PublishRequest) -> Upload: ...

    def transfer(self, access_token: str, upload: Upload, request: PublishRequest) -> Upload: ...

    def check(self, access_token: str, upload: Upload) -> Check: ...

    def publish(self, access_token: str, upload: Upload) -> Check: ...

    def metrics(self, access_token: str, platform_post_id: str) -> dict[str, Any]: ...

    # Analytics: ids per metrics_batch call, the app's identity for its shared budgets, and the batch read. The
    # answer maps each id the platform reported on to its raw figures; an id left out has no figures yet.
    metrics_batch_size: int
    app_key: str

    def metrics_batch(
        self, access_token: str, platform_post_ids: Sequence[str], *, budget: CallBudget | None = None
    ) -> dict[str, dict[str, Any]]: ...
