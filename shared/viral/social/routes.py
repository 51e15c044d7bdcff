"""/api/social and /api/posts: connect accounts (OAuth callbacks are public; the signed state authenticates them),
list and disconnect them, schedule, list, reschedule and cancel posts."""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from viral.errors import InvalidInput
from viral.http.access import require_scope
from viral.social import accounts, posts
from viral.social.oauth import COOKIE
from viral.social.platforms.registry import PLATFORMS
from viral.social.schemas import PostCreateBody, PostPatchBody, PostStatus

router = Router()
CONNECT_RESOURCE = "/api/social/connect/{platform}"
"""Public in the gateway: the browser arrives from the platform without our credentials."""


@router.get("/api/social/auth-url", summary="The consent URL of a platform, with a signed single-use state")
def auth_url(platform: Annotated[str | None, Query(max_length=32)] = None) -> Response[str]:
    caller = require_scope(router, "write")
    if not platform:
        raise InvalidInput("Missing platform parameter", details=[{"field": "platform", "message": "required"}])
    if platform not in PLATFORMS:
        raise InvalidInput(f"Unsupported platform: {platform}", details=[{"field": "platform", "message": "unknown"}])
    started = accounts.start_connect(platform, user_id=caller.user_id)
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"authUrl": started.auth_url, "state": started.state}),
        headers={"Set-Cookie": [started.cookie], "Cache-Control": "no-store"},
    )


@router.get("/api/social/connect/<platform>", summary="OAuth callback (public): 303 back to the dashboard")
def connect(
    platform: Annotated[str, Path(max_length=32)],
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=2048)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response[str]:
    location = accounts.complete_connect(
        platform, code=code, state=state, error=error, browser=_cookie(router.current_event.headers, COOKIE)
    )
    expire = f"{COOKIE}=; Max-Age=0; Path=/api/social/connect; HttpOnly; Secure; SameSite=Lax"
    return Response(
        status_code=HTTPStatus.SEE_OTHER,
        content_type=content_types.TEXT_PLAIN,
        body="",
        headers={"Location": location, "Set-Cookie": [expire], "Cache-Control": "no-store"},
    )


def _cookie(headers: Any, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() != "cookie":
            continue
        for part in str(value).split(";"):
            found, _, content = part.strip().partition("=")
            if found == name:
                return content
    return None


@router.get("/api/social/accounts", summary="Connected accounts by platform, with their posting allowances")
def list_accounts() -> dict[str, Any]:
    require_scope(router, "read")
    return accounts.list_accounts()


@router.delete("/api/social/accounts", summary="Disconnect an account (tokens wiped, scheduled posts canceled)")
def disconnect_account(account_id: Annotated[str | None, Query(alias="id", max_length=64)] = None) -> dict[str, Any]:
    caller = require_scope(router, "write")
    if not account_id:
        raise InvalidInput("Missing account ID", details=[{"field": "id", "message": "required"}])
    try:
        parsed = uuid.UUID(account_id)
    except ValueError as exc:
        raise InvalidInput("id must be a UUID", details=[{"field": "id", "message": "must be a UUID"}]) from exc
    return posts.disconnect(parsed, user_id=caller.user_id)


@router.post("/api/posts", summary="Schedule a video on accounts (one post each; default now)")
def create_posts(body: PostCreateBody) -> Response[str]:
    require_scope(router, "write")
    created = posts.create_posts(
        posts.PostRequest(
            video_id=body.video_id,
            account_ids=tuple(body.account_ids),
            caption=body.caption,
            hashtags=tuple(body.hashtags),
            scheduled_at=body.scheduled_at,
            privacy=body.privacy,
            disclosure=body.disclosure.model_dump(exclude_none=True, by_alias=True) if body.disclosure else None,
        )
    )
    answer = {"posts": [posts.post_wire(p) for p in created]}
    return Response(HTTPStatus.CREATED, content_types.APPLICATION_JSON, json.dumps(answer))


@router.get("/api/posts", summary="The tenant's posts, newest first")
def list_posts(
    status: Annotated[PostStatus | None, Query()] = None,
    video_id: Annotated[uuid.UUID | None, Query(alias="videoId")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    require_scope(router, "read")
    found = posts.list_posts(limit=limit, offset=offset, status=status, video_id=video_id)
    return {"posts": [posts.post_wire(p) for p in found], "limit": limit, "offset": offset}


PostId = Annotated[uuid.UUID, Path(description="the post's id")]


@router.get("/api/posts/<post_id>", summary="One post: status, platform post id and URL, error in words")
def get_post(post_id: PostId) -> dict[str, Any]:
    require_scope(router, "read")
    return posts.post_wire(posts.get_post(post_id))


@router.patch("/api/posts/<post_id>", summary="Reschedule a post (409 once publishing has begun)")
def patch_post(post_id: PostId, body: PostPatchBody) -> dict[str, Any]:
    require_scope(router, "write")
    return posts.post_wire(posts.reschedule_post(post_id, body.scheduled_at))


@router.delete("/api/posts/<post_id>", summary="Cancel a post (409 once publishing has begun)")
def delete_post(post_id: PostId) -> dict[str, Any]:
    require_scope(router, "write")
    return posts.post_wire(posts.cancel_post(post_id))
