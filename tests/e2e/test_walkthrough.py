"""The README's walk-through against one `python -m local.run`, as a newcomer and as the original's clients meet it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_local_runtime import Launcher, Runtime

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def launcher() -> Iterator[Launcher]:
    workdir = Path(tempfile.mkdtemp(prefix="viral-e2e-", dir=os.environ.get("TEST_PG_ROOT") or None))
    launcher = Launcher(workdir)
    yield launcher
    launcher.close()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def runtime(launcher: Launcher) -> Runtime:
    return launcher.start()


@pytest.fixture(scope="module")
def key(launcher: Launcher, runtime: Runtime) -> str:
    return (launcher.workdir / "demo-api-key").read_text().strip()


def test_opening_swagger_leaves_every_authenticated_route_working(runtime: Runtime, key: str) -> None:
    # Given a newcomer who opens the API docs first
    page = httpx.get(f"{runtime.url}/swagger", timeout=30)
    assert page.status_code == HTTPStatus.OK
    assert "swagger" in page.text.lower()
    document = httpx.get(f"{runtime.url}/swagger.json", timeout=30)
    assert document.status_code == HTTPStatus.OK
    assert "/api/user/usage" in document.json()["paths"]

    # When they call the API with the demo key, Then it answers as it did before the docs were opened
    usage = httpx.get(f"{runtime.url}/api/user/usage", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert usage.status_code == HTTPStatus.OK, usage.text
    assert usage.json()["tenant"]["id"]

    # And Swagger's "Try it out" requests (its own header set, a JSON body it built from the schema) work too
    try_it_out = {"accept": "application/json", "Authorization": f"Bearer {key}"}
    listed = httpx.get(f"{runtime.url}/api/history?limit=5&offset=0", headers=try_it_out, timeout=10)
    assert listed.status_code == HTTPStatus.OK, listed.text
    settings = httpx.put(
        f"{runtime.url}/api/user/settings",
        headers={**try_it_out, "Content-Type": "application/json"},
        content=b'{\n  "dailyGeneration": false\n}',
        timeout=10,
    )
    assert settings.status_code == HTTPStatus.OK, settings.text
    assert settings.json() == {"dailyGeneration": False}
