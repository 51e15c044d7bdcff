"""Thin boto3 helpers: clients made lazily (after tests and moto set things up), one per service and environment."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=8)
def client(service: str) -> Any:
    """A boto3 client; AWS_ENDPOINT_URL (moto's server locally) is honoured by boto3 itself."""
    import boto3  # the Lambda runtime provides it; imported on first use only

    return boto3.client(service)


def reset_clients() -> None:
    client.cache_clear()
