"""/api/video/generate, /api/video/status and /api/videos: a concept rendered into a video, asynchronously."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from viral.errors import InvalidInput
from viral.http.access import require_scope
from viral.http.rate_limits import rate_limited
from viral.video.service import list_videos, request_video, video_status
from viral.vocabulary import Platform
from viral.wire import CamelModel, ContentId

router = Router()

ProviderName = Literal["veo", "runway", "luma", "storyboard"]
VideoStatus = Literal[
    "queued", "submitting", "reconciling", "rendering", "downloading", "validating", "ready", "failed"
]


class VideoGenerateBody(CamelModel):
    """The concept to render, the platform it is for (default tiktok) and, optionally, the provider to try first."""

    concept_id: ContentId
    platform: Platform = "tiktok"
    provider: ProviderName | None = None


@router.post(
    "/api/video/generate",
    summary="Queue a video of a concept (one video of the monthly quota; a repeat joins the video in flight)",
    middlewares=[rate_limited("video")],
)
def post_video_generate(body: VideoGenerateBody) -> dict[str, Any]:
    require_scope(router, "generate")
    return request_video(body.concept_id, platform=body.platform, provider=body.provider).wire()


@router.get("/api/video/status", summary="The newest video of a concept, with a short-lived download URL when ready")
def get_video_status(
    concept_id: Annotated[str | None, Query(alias="conceptId", max_length=64)] = None,
    platform: Annotated[Platform | None, Query()] = None,
) -> dict[str, Any]:
    require_scope(router, "read")
    if not concept_id:
        raise InvalidInput("conceptId is required")
    return video_status(concept_id, platform=platform)


@router.get("/api/videos", summary="The tenant's videos, newest first")
def get_videos(
    status: Annotated[VideoStatus | None, Query()] = None,
    concept_id: Annotated[str | None, Query(alias="conceptId", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    require_scope(router, "read")
    return list_videos(limit=limit, offset=offset, status=status, concept_id=concept_id)
