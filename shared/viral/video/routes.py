"""/api/video/generate, /api/video/status and /api/videos: a concept rendered into a video, asynchronously."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from viral.http.access import require_scope
from viral.http.openapi import answers
from viral.http.rate_limits import rate_limited
from viral.video.schemas import (
    VideoAnswer,
    VideoNotStarted,
    VideoPage,
    VideoRequested,
    VideoState,
    original_status,
    video_answer,
)
from viral.video.service import list_videos, request_video, video_status
from viral.vocabulary import Platform
from viral.wire import CamelModel, ContentId

router = Router()

ProviderName = Literal["veo", "runway", "luma", "storyboard"]


class VideoGenerateBody(CamelModel):
    """The concept to render, the platform it is for (default tiktok) and, optionally, the provider to try first."""

    concept_id: ContentId
    platform: Platform = "tiktok"
    provider: ProviderName | None = None


@router.post(
    "/api/video/generate",
    summary="Queue a video of a concept (one video of the monthly quota; a repeat joins the video in flight)",
    middlewares=[rate_limited("video")],
    responses=answers(VideoRequested),
)
def post_video_generate(body: VideoGenerateBody) -> dict[str, Any]:
    require_scope(router, "generate")
    answer = request_video(body.concept_id, platform=body.platform, provider=body.provider).wire()
    state = answer["status"]
    return {**answer, "status": "queued" if state == "queued" else original_status(state), "state": state}


@router.get(
    "/api/video/status",
    summary="The newest video of a concept: `status` generating, completed or failed (the original's values) and "
    "the finer `state`; not_started when there is none",
    responses=answers(VideoAnswer | VideoNotStarted),
)
def get_video_status(
    concept_id: Annotated[ContentId, Query(alias="conceptId")],
    platform: Annotated[Platform | None, Query()] = None,
) -> dict[str, Any]:
    require_scope(router, "read")
    answer = video_status(concept_id, platform=platform)
    return answer if answer["status"] == "not_started" else video_answer(answer)


@router.get("/api/videos", summary="The tenant's videos, newest first", responses=answers(VideoPage))
def get_videos(
    state: Annotated[VideoState | None, Query(alias="status", description="the pipeline state (`state`)")] = None,
    concept_id: Annotated[str | None, Query(alias="conceptId", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    require_scope(router, "read")
    page = list_videos(limit=limit, offset=offset, status=state, concept_id=concept_id)
    return {**page, "videos": [video_answer(v) for v in page["videos"]]}
