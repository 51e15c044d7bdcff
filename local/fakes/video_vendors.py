"""Fake Veo (Gemini API), Runway and Luma servers on 127.0.0.1, speaking each vendor's wire format.

Each fake runs create -> poll -> download the vendor's way, counts submissions, checks credentials, and can be
told to answer the next calls with failures: rate limits (429 with the vendor's error envelope), 5xx, slow
answers, a job that fails, or a result URL that has expired (403/404 on download). `lost_answers` makes the
vendor create the job and then answer with something else (a gateway's 504, a slow answer): the case where
the caller cannot know whether it will be billed. Luma also lists its generations, with the request each was
made from. The finished video is a real vertical MP4 made with PyAV (see `sample_mp4`).
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from local.fakes.http_server import FakeServer, Reply, Request

KEY = "test-video-key"


@lru_cache(maxsize=8)
def sample_mp4(
    width: int = 720, height: int = 1280, seconds: float = 4.0, fps: int = 6, codec: str = "libx264"
) -> bytes:
    """A small real MP4 (solid colour frames) of the given size and length."""
    import av
    from PIL import Image

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        for n in range(round(seconds * fps)):
            frame = av.VideoFrame.from_image(Image.new("RGB", (width, height), (40, 80 + n % 100, 160)))
            frame.pts = n
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def _json(status: int, body: Any, **headers: str) -> Reply:
    return Reply(status=status, body=json.dumps(body), headers=dict(headers))


@dataclass
class Job:
    id: str
    polls_left: int
    outcome: str  # "succeed" | "fail" | "filtered"
    polls: int = 0
    request: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class VendorFake:
    """What every fake shares: the server, scripted behaviour and injected failures."""

    polls_until_done: int = 1
    outcome: str = "succeed"
    video: bytes = field(default_factory=sample_mp4)
    submit_failures: list[Reply] = field(default_factory=list)
    poll_failures: list[Reply] = field(default_factory=list)
    download_failures: list[Reply] = field(default_factory=list)
    lost_answers: list[Reply] = field(default_factory=list)  # the job is created, then this is the answer
    jobs: dict[str, Job] = field(default_factory=dict)
    server: FakeServer = field(default_factory=FakeServer)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return self.server.url

    submit_path: str = ""

    @property
    def submissions(self) -> int:
        """Jobs the vendor accepted (what it would bill)."""
        return len(self.jobs)

    @property
    def submit_requests(self) -> int:
        """How often the vendor was asked to create a job (accepted or not)."""
        return self.server.count("POST", self.submit_path)

    @contextmanager
    def running(self) -> Iterator[VendorFake]:
        self.install()
        with self.server.running():
            yield self

    def install(self) -> None:
        raise NotImplementedError

    def _new_job(self, job_id: str | None = None, request: dict[str, Any] | None = None) -> Job:
        job_id = job_id or str(uuid.UUID(int=next(self._ids)))
        job = Job(id=job_id, polls_left=self.polls_until_done, outcome=self.outcome, request=request or {})
        self.jobs[job.id] = job
        return job

    def _created(self, answer: Reply) -> Reply:
        """The answer to a submission that created a job, unless a lost answer is scripted."""
        return self.lost_answers.pop(0) if self.lost_answers else answer

    def _advance(self, job: Job) -> bool:
        """Count a poll; True once the job is finished."""
        job.polls += 1
        job.polls_left -= 1
        return job.polls_left <= 0

    def _file(self, job_id: str) -> Reply:
        if self.download_failures:
            return self.download_failures.pop(0)
        return Reply(200, self.video, {"Content-Type": "video/mp4"})


class FakeVeo(VendorFake):
    """Gemini API: predictLongRunning -> operation name; GET /v1beta/{name}; file URI that 302s to storage."""

    model = "veo-test"

    def install(self) -> None:
        self.submit_path = f"/v1beta/models/{self.model}:predictLongRunning"
        self.server.route("POST", self.submit_path, self._submit)

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("x-goog-api-key") == KEY

    @staticmethod
    def _error(code: int, status: str, message: str) -> Reply:
        return _json(code, {"error": {"code": code, "message": message, "status": status}})

    def _submit(self, request: Request) -> Reply:
        if self.submit_failures:
            return self.submit_failures.pop(0)
        if not self._authorized(request):
            return self._error(403, "PERMISSION_DENIED", "API key not valid.")
        body = json.loads(request.body)
        params = body.get("parameters", {})
        if not body.get("instances", [{}])[0].get("prompt") or params.get("aspectRatio") != "9:16":
            return self._error(400, "INVALID_ARGUMENT", "prompt and a 9:16 aspectRatio are required here")
        job = self._new_job(f"models/{self.model}/operations/op{next(self._ids):06d}")
        self.server.route("GET", f"/v1beta/{job.id}", functools.partial(self._poll, job=job))
        return self._created(_json(200, {"name": job.id}))

    def _poll(self, request: Request, job: Job) -> Reply:
        if self.poll_failures:
            return self.poll_failures.pop(0)
        if not self._authorized(request):
            return self._error(403, "PERMISSION_DENIED", "API key not valid.")
        if not self._advance(job):
            return _json(200, {"name": job.id, "done": False})
        if job.outcome == "fail":
            return _json(200, {"name": job.id, "done": True, "error": {"code": 13, "message": "Internal error."}})
        if job.outcome == "filtered":
            response = {"generateVideoResponse": {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": ["unsafe"]}}
            return _json(200, {"name": job.id, "done": True, "response": response})
        file_id = job.id.rsplit("/", 1)[-1]
        self.server.route("GET", f"/v1beta/files/{file_id}:download", lambda r: self._download(r, file_id))
        self.server.route("GET", f"/storage/{file_id}.mp4", lambda r: self._file(file_id))
        uri = f"{self.url}/v1beta/files/{file_id}:download?alt=media"
        sample = {"video": {"uri": uri}}
        return _json(
            200, {"name": job.id, "done": True, "response": {"generateVideoResponse": {"generatedSamples": [sample]}}}
        )

    def _download(self, request: Request, file_id: str) -> Reply:
        if not self._authorized(request):
            return self._error(403, "PERMISSION_DENIED", "API key not valid.")
        # Storage lives on another host name: the client must not send our key there.
        storage = self.url.replace("127.0.0.1", "localhost")
        return Reply(302, b"", {"Location": f"{storage}/storage/{file_id}.mp4"})


class FakeRunway(VendorFake):
    """Runway tasks API: POST /v1/text_to_video -> {id}; GET /v1/tasks/{id} with PENDING/RUNNING/SUCCEEDED/FAILED."""

    def install(self) -> None:
        self.submit_path = "/v1/text_to_video"
        self.server.route("POST", self.submit_path, self._submit)

    def _check(self, request: Request) -> Reply | None:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return _json(401, {"error": "Invalid API key"})
        if not request.headers.get("x-runway-version"):
            return _json(400, {"error": "X-Runway-Version header is required"})
        return None

    def _submit(self, request: Request) -> Reply:
        if self.submit_failures:
            return self.submit_failures.pop(0)
        if (refused := self._check(request)) is not None:
            return refused
        body = json.loads(request.body)
        if body.get("ratio") != "720:1280" or not body.get("promptText") or not body.get("model"):
            return _json(400, {"error": "Validation of body failed", "issues": []})
        job = self._new_job()
        self.server.route("GET", f"/v1/tasks/{job.id}", functools.partial(self._poll, job=job))
        return self._created(_json(200, {"id": job.id}))

    def _poll(self, request: Request, job: Job) -> Reply:
        if self.poll_failures:
            return self.poll_failures.pop(0)
        if (refused := self._check(request)) is not None:
            return refused
        task: dict[str, Any] = {"id": job.id, "createdAt": "2026-11-24T12:00:00.000Z"}
        if not self._advance(job):
            return _json(200, {**task, "status": "THROTTLED" if job.polls == 1 else "RUNNING", "progress": 0.4})
        if job.outcome != "succeed":
            return _json(
                200, {**task, "status": "FAILED", "failure": "Input rejected", "failureCode": "SAFETY.INPUT.TEXT"}
            )
        path = f"/cdn/{job.id}.mp4"
        self.server.route("GET", path, lambda r: self._file(job.id))
        return _json(200, {**task, "status": "SUCCEEDED", "output": [f"{self.url}{path}?_jwt=signed"]})


class FakeLuma(VendorFake):
    """Luma Dream Machine: POST /generations (201); GET /generations/{id}: queued -> dreaming -> completed."""

    def install(self) -> None:
        self.submit_path = "/dream-machine/v1/generations"
        self.server.route("POST", self.submit_path, self._submit)
        self.server.route("GET", "/dream-machine/v1/generations", self._list)

    @property
    def base_url(self) -> str:
        return f"{self.url}/dream-machine/v1"

    def _check(self, request: Request) -> Reply | None:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return _json(401, {"detail": "Invalid API key is provided"})
        return None

    def _generation(self, job: Job, state: str, **extra: Any) -> dict[str, Any]:
        assets: dict[str, Any] = {"video": None, "image": None, "progress_video": None}
        generation = {"id": job.id, "generation_type": "video", "state": state, "failure_reason": None}
        created = job.created_at.isoformat().replace("+00:00", "Z")
        return {
            **generation,
            "created_at": created,
            "assets": assets,
            "model": "ray-2",
            "request": job.request,
            **extra,
        }

    def _list(self, request: Request) -> Reply:
        """GET /generations?limit=&offset=: the account's generations, newest first."""
        if (refused := self._check(request)) is not None:
            return refused
        limit = int(request.query.get("limit", ["10"])[0])
        offset = int(request.query.get("offset", ["0"])[0])
        newest = sorted(self.jobs.values(), key=lambda j: j.created_at, reverse=True)
        page = [self._generation(j, "dreaming") for j in newest[offset : offset + limit]]
        body = {"has_more": offset + limit < len(newest), "count": len(page), "limit": limit, "offset": offset}
        return _json(200, {**body, "generations": page})

    def _submit(self, request: Request) -> Reply:
        if self.submit_failures:
            return self.submit_failures.pop(0)
        if (refused := self._check(request)) is not None:
            return refused
        body = json.loads(request.body)
        if body.get("aspect_ratio") != "9:16" or not body.get("model"):
            return _json(400, {"detail": "aspect_ratio and model are required"})
        job = self._new_job(request=body)
        self.server.route("GET", f"/dream-machine/v1/generations/{job.id}", functools.partial(self._poll, job=job))
        return self._created(_json(201, self._generation(job, "queued")))

    def _poll(self, request: Request, job: Job) -> Reply:
        if self.poll_failures:
            return self.poll_failures.pop(0)
        if (refused := self._check(request)) is not None:
            return refused
        if not self._advance(job):
            return _json(200, self._generation(job, "dreaming"))
        if job.outcome != "succeed":
            return _json(200, self._generation(job, "failed", failure_reason="The prompt was flagged"))
        path = f"/assets/{job.id}.mp4"
        self.server.route("GET", path, lambda r: self._file(job.id))
        generation = self._generation(job, "completed")
        generation["assets"]["video"] = f"{self.url}{path}"
        return _json(200, generation)


RATE_LIMITED = {
    "veo": _json(429, {"error": {"code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED"}}),
    "runway": _json(429, {"error": "You have exceeded your concurrency limit"}, **{"Retry-After": "5"}),
    "luma": _json(429, {"detail": "Too many requests"}),
}
UNAVAILABLE = _json(503, {"error": "upstream unavailable"})
GATEWAY_TIMEOUT = Reply(504, b"<html><body>504 Gateway Time-out</body></html>", {"Content-Type": "text/html"})
EXPIRED = Reply(
    403,
    b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
    {"Content-Type": "application/xml"},
)
GONE = Reply(404, b"Not Found", {"Content-Type": "text/plain"})
