"""Social platform adapters (one per platform, over httpx) and the protocol they share."""

from viral.social.platforms.base import (
    AccountIdentity,
    Ambiguous,
    Check,
    CheckState,
    GrantRevoked,
    Media,
    PublishRequest,
    RateLimited,
    Rejected,
    SocialPlatform,
    TokenGrant,
    TokenRejected,
    Unavailable,
    Upload,
    UploadGone,
)

__all__ = [
    "AccountIdentity",
    "Ambiguous",
    "Check",
    "CheckState",
    "GrantRevoked",
    "Media",
    "PublishRequest",
    "RateLimited",
    "Rejected",
    "SocialPlatform",
    "TokenGrant",
    "TokenRejected",
    "Unavailable",
    "Upload",
    "UploadGone",
]
