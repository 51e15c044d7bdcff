"""The product's fixed vocabulary (content categories, target platforms): the wire schemas validate against it and
the database's check constraints repeat it, so it is defined once, below both.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["CATEGORY_VALUES", "PLATFORM_VALUES", "Category", "Platform"]

Category = Literal[
    "news",
    "absurd",
    "luxury",
    "emotional",
    "tech",
    "cartoon",
    "gaming",
    "fitness",
    "food",
    "finance",
    "music",
    "relationships",
]
CATEGORY_VALUES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
Platform = Literal["tiktok", "youtube-shorts", "instagram-reels"]
PLATFORM_VALUES: tuple[str, ...] = Platform.__args__  # type: ignore[attr-defined]
