"""The VideoProvider protocol, its inputs and outputs, typed failures and the httpx plumbing the adapters share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import IO, Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from viral.errors import Permanent, Retryable
from viral.http.client import USER_AGENT, outside_transactions, raise_for_vendor

DOWNLOAD_CHUNK = 1024 * 1024
DEFAULT_DURATION_S = 8  # what a vendor is asked for unless the request says otherwise
MAX_REDIRECTS = 3


class SubmissionUncertain(Permanent):
    """The vendor may or may not have accepted the job (the answer never came, or came as a 5xx or without a job
    id): never ask it again for this video; reconcile instead (see viral/video/state_machine.py)."""

    code = "SUBMISSION_UNCERTAIN"


class ResultExpired(Permanent):
    """The finished video's URL no longer serves it (403/404): poll again for a fresh URL, or give up."""

    code = "RESULT_EXPIRED"


@dataclass(frozen=True)
class ScriptLine:
    """One timed line of a concept's script, as the storyboard draws it and vendors read it."""

    time_range: str
    visual: str
    on_screen_text: str | None = None


@dataclass(frozen=True)
class RenderRequest:
    """What to render: a vertical video for one concept (vendors read the prompt, the storyboard the script)."""

    video_id: str
    title: str
    prompt: str
    category: str
    platform: str = "tiktok"
    script: tuple[ScriptLine, ...] = ()
    hashtags: tuple[str, ...] = ()
    duration_s: int = DEFAULT_DURATION_S


class JobState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class JobStatus:
    """A vendor job's state; `result_url` is set once it succeeded, `error` once it failed."""

    state: JobState
    result_url: str | None = None
    error: str | None = None
    progress: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


class VideoProvider(Protocol):
    """A video generation vendor (or the offline storyboard)."""

    name: str
    poll_interval_s: int
    can_look_up: bool  # the vendor lists its jobs, so a submission of unknown outcome can be found again

    def configured(self) -> bool:
        """True when this provider can be used (its key is set)."""
        ...

    def submit(self, request: RenderRequest) -> str:
        """Start a job; the vendor's job id. Raises Retryable (surely nothing accepted: 429, no connection),
        Permanent (refused) or SubmissionUncertain (maybe accepted: never submit this video here again)."""
        ...

    def look_up(self, request: RenderRequest, *, since: datetime) -> str | None:
        """The id of the job `request` created at or after `since`, None when the vendor has none (always None
        when `can_look_up` is False). Raises Retryable or Permanent."""
        ...

    def poll(self, job_id: str) -> JobStatus:
        """The job's current state. Raises Retryable or Permanent."""
        ...

    def download(self, status: JobStatus, sink: IO[bytes], request: RenderRequest) -> int:
        """Write the finished video into `sink`; the number of bytes. Raises Retryable, ResultExpired or Permanent."""
        ...


class VendorProvider:
    """What the vendor adapters share: a key, a base URL, a model, a download size cap and a lazily made client."""

    name: str
    vendor: str  # how errors name the vendor
    poll_interval_s: int
    default_base_url: str
    default_model: str

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str | None = None,
        model: str | None = None,
        max_bytes: int = 500 * 1024 * 1024,
        client: httpx.Client | None = None,
    ) -> None:
        self.api_key = api_key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.model = model or self.default_model
        self.max_bytes = max_bytes
        self._client = client

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = make_vendor_client()
        return self._client

    can_look_up = False

    def configured(self) -> bool:
        return bool(self.api_key)

    def look_up(self, request: RenderRequest, *, since: datetime) -> str | None:
        return None

    def download(self, status: JobStatus, sink: IO[bytes], request: RenderRequest) -> int:
        """Stream the result into `sink`; result URLs are pre-signed, so our key never goes with them."""
        if not status.result_url:
            raise Permanent(f"{self.vendor} gave no result to download")
        return stream_to(self.client, status.result_url, sink, self.vendor, max_bytes=self.max_bytes)


def make_vendor_client(*, connect_s: float = 5.0, read_s: float = 30.0) -> httpx.Client:
    """An httpx client for a vendor: every timeout explicit; redirects followed by hand (see `stream_to`)."""
    timeout = httpx.Timeout(connect=connect_s, read=read_s, write=read_s, pool=connect_s)
    return httpx.Client(
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        event_hooks={"request": [outside_transactions]},
    )


def call_json(client: httpx.Client, method: str, url: str, vendor: str, *, submit: bool = False, **kwargs: Any) -> Any:
    """One vendor API call decoded from JSON. Transport failures are retryable, except for a submit whose request
    went out: a lost answer (read timeout, dropped connection), a 5xx (a gateway's 504 after the vendor created
    the job) or an undecodable success leave the outcome unknown, which is SubmissionUncertain. Only a 429 or a
    connection that never opened says for sure that nothing was accepted."""
    try:
        response = client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise Retryable(f"{vendor} is unreachable") from exc
    except httpx.TransportError as exc:
        if submit:
            raise SubmissionUncertain(f"{vendor} did not answer the submission") from exc
        raise Retryable(f"{vendor} did not answer") from exc
    if submit and response.status_code >= 500:
        raise SubmissionUncertain(
            f"{vendor} answered {response.status_code} to the submission", details={"status": response.status_code}
        )
    raise_for_vendor(response, vendor)
    try:
        return response.json()
    except ValueError as exc:
        if submit:
            raise SubmissionUncertain(f"{vendor} accepted the submission with an unreadable answer") from exc
        raise Permanent(f"{vendor} answered with malformed JSON") from exc


@contextmanager
def _opened(client: httpx.Client, url: str, headers: dict[str, str], vendor: str) -> Iterator[httpx.Response]:
    try:
        with client.stream("GET", url, headers=headers) as response:
            yield response
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        raise Retryable(f"{vendor} download failed midway") from exc


def stream_to(
    client: httpx.Client,
    url: str,
    sink: IO[bytes],
    vendor: str,
    *,
    max_bytes: int,
    auth_headers: dict[str, str] | None = None,
    auth_host: str | None = None,
) -> int:
    """Stream `url` into `sink` chunk by chunk (never the whole file in memory); the number of bytes.

    Redirects are followed by hand so `auth_headers` go only to `auth_host` (Veo's file URL redirects to
    storage that must not see our key). 403/404/410 mean the result URL expired: ResultExpired.
    """
    for _ in range(MAX_REDIRECTS + 1):
        if urlsplit(url).scheme not in ("https", "http"):
            raise Permanent(f"{vendor} gave a result URL we cannot fetch")
        headers = dict(auth_headers or {}) if auth_host and urlsplit(url).hostname == auth_host else {}
        with _opened(client, url, headers, vendor) as response:
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code in (403, 404, 410):
                raise ResultExpired(f"{vendor} result is no longer available", details={"status": response.status_code})
            raise_for_vendor(response, vendor)
            sink.seek(0)
            sink.truncate()
            written = 0
            try:
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise Permanent(f"{vendor} result is larger than {max_bytes} bytes")
                    sink.write(chunk)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                raise Retryable(f"{vendor} download failed midway") from exc
            sink.flush()
            return written
    raise Permanent(f"{vendor} redirected the download too many times")
