"""The hook the analytics work builds on: a published post's figures, as its platform reports them now.

Each figure set keeps the platform's own names and, where the platform gives one, the definition it follows
(the sandbox says `definition`); the analytics collector decides what to store and when.
"""

from __future__ import annotations

import uuid
from typing import Any

from viral.db.uow import unit_of_work
from viral.errors import Conflict, NotFound
from viral.settings import get_settings
from viral.social.accounts import access_token
from viral.social.platforms.registry import platform
from viral.social.repository import PostRepository


def fetch_post_metrics(post_id: uuid.UUID) -> dict[str, Any]:
    """The current figures of a published post of the bound tenant (one platform call, outside any transaction)."""
    with unit_of_work() as uow:
        post = uow.repository(PostRepository).get(post_id)
    if post is None:
        raise NotFound("Post not found")
    if post.status != "published" or not post.platform_post_id:
        raise Conflict("the post has no public id yet", details={"status": post.status})
    adapter = platform(post.platform, get_settings())
    figures = adapter.metrics(access_token(post.account_id), post.platform_post_id)
    return {"postId": str(post.id), "platform": post.platform, "platformPostId": post.platform_post_id, **figures}
