"""A custom domain's base path (https://<domain>/v1/api/...) is taken off the path before routing."""

from __future__ import annotations

import pytest
from viral.http.errors import without_base_path


@pytest.mark.parametrize(
    ("path", "base_path", "expected"),
    [
        ("/v1/api/health", "v1", "/api/health"),
        ("/v1/api/health", "/v1/", "/api/health"),
        ("/v1", "v1", "/"),
        ("/api/health", "v1", "/api/health"),  # the execute-api URL still works
        ("/v10/api/health", "v1", "/v10/api/health"),  # a prefix of a segment is not the base path
        ("/api/health", "", "/api/health"),
    ],
)
def test_the_base_path_is_stripped_only_as_a_whole_leading_segment(path: str, base_path: str, expected: str) -> None:
    event = {"path": path, "resource": "/api/health"}
    assert without_base_path(event, base_path)["path"] == expected
    assert event["path"] == path, "the caller's event is not changed"
