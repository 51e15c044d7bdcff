"""Outbound webhook rules without a database: where webhooks may go, the retry schedule, quota.low, sealed secrets."""

from __future__ import annotations

import base64
import random
import uuid

import pytest
from viral.errors import Permanent
from viral.outbound.delivery import MAX_ATTEMPTS, MAX_DELAY_S, retry_delay_s
from viral.outbound.safety import Policy, UnsafeDestination, check_url, vetted_addresses
from viral.outbound.sealing import LocalKeyBox

from tests.fakes.webhooks import FixedResolver

DEPLOYED = Policy.for_stage("prod")
LOCAL = Policy.for_stage("local")
PUBLIC = FixedResolver({"hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]})


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # deployed stages: https only
        "https://127.0.0.1/x",
        "https://localhost.example.com/x",  # resolves to loopback
        "https://10.0.0.1/x",
        "https://172.16.5.4/x",
        "https://192.168.0.10/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://100.64.0.1/x",
        "https://0.0.0.0/x",
        "https://224.0.0.1/x",
        "https://mixed.example.com/x",  # one public answer and one private: refused
        "https://nowhere.example.com/x",  # does not resolve
        "https://user:secret@hooks.example.com/x",
        "https://hooks.example.com/x#fragment",
        "https:///x",
    ],
)
def test_deployed_stages_refuse_what_is_not_https_to_a_public_address(url: str) -> None:
    resolver = FixedResolver(
        {
            **PUBLIC.answers,
            "localhost.example.com": ["127.0.0.1"],
            "mixed.example.com": ["93.184.216.34", "10.1.2.3"],
        }
    )
    from viral.outbound.safety import use_resolver

    with use_resolver(resolver), pytest.raises(UnsafeDestination):
        check_url(url, DEPLOYED)


def test_deployed_stages_accept_https_to_a_public_host() -> None:
    from viral.outbound.safety import use_resolver

    with use_resolver(PUBLIC):
        destination = check_url("https://Hooks.Example.com./in?x=1", DEPLOYED)
    assert (destination.host, destination.port) == ("hooks.example.com", 443)
    assert vetted_addresses("93.184.216.34", 443, DEPLOYED) == ["93.184.216.34"]


def test_local_stages_also_accept_http_and_loopback_but_never_other_private_addresses() -> None:
    assert check_url("http://127.0.0.1:8000/hooks", LOCAL).port == 8000
    assert check_url("http://[::1]:8000/hooks", LOCAL).scheme == "http"
    for url in ("http://10.0.0.1/x", "http://169.254.169.254/", "http://192.168.1.1/x"):
        with pytest.raises(UnsafeDestination):
            check_url(url, LOCAL)


def test_retries_back_off_exponentially_with_jitter_for_about_a_day() -> None:
    rng = random.Random(7)
    nominal = [retry_delay_s(n, 5.0, rng=_Midpoint()) for n in range(1, MAX_ATTEMPTS)]
    jittered = [retry_delay_s(n, 5.0, rng=rng) for n in range(1, MAX_ATTEMPTS)]
    assert nominal[:4] == [5.0, 15.0, 45.0, 135.0]
    assert max(nominal) == MAX_DELAY_S
    assert 20 * 3600 <= sum(nominal) <= 28 * 3600
    assert all(0.8 * n <= j <= 1.2 * n for n, j in zip(nominal, jittered, strict=True))
    assert jittered != nominal


class _Midpoint(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


@pytest.mark.parametrize(
    ("used", "granted", "total", "emitted"),
    [
        (8, 3, 10, True),  # 5 -> 8 of 10 crosses 80%
        (10, 5, 10, True),
        (7, 3, 10, False),  # still below
        (9, 1, 10, False),  # already past before this grant
        (400, 400, 500, True),
        (0, 0, 10, False),
    ],
)
def test_quota_low_is_emitted_once_when_a_grant_crosses_80_percent(
    used: int, granted: int, total: int, emitted: bool
) -> None:
    from viral.outbound.events import emit_quota_low

    class Recorder:
        tenant_id = uuid.uuid4()

        def __init__(self) -> None:
            self.session = _Session()

    uow = Recorder()
    result = emit_quota_low(uow, used=used, granted=granted, total=total)  # type: ignore[arg-type]
    assert (result is not None) == emitted
    assert len(uow.session.statements) == int(emitted)


class _Session:
    def __init__(self) -> None:
        self.statements: list[object] = []
        self.info: dict[str, object] = {"outbound_nudge": True}  # no nudge listener in a unit test

    def execute(self, statement: object) -> None:
        self.statements.append(statement)


def test_a_sealed_secret_opens_only_for_its_own_tenant_and_endpoint() -> None:
    box = LocalKeyBox(base64.b64decode(base64.b64encode(bytes(range(32)))))
    tenant, endpoint = uuid.uuid4(), uuid.uuid4()
    sealed = box.seal(b"whsec_abc", tenant_id=tenant, endpoint_id=endpoint)
    assert sealed.startswith("local:v1:") and "whsec_abc" not in sealed
    assert box.open(sealed, tenant_id=tenant, endpoint_id=endpoint) == b"whsec_abc"
    with pytest.raises(Permanent):
        box.open(sealed, tenant_id=tenant, endpoint_id=uuid.uuid4())
    with pytest.raises(Permanent):
        LocalKeyBox(bytes(32)).open(sealed, tenant_id=tenant, endpoint_id=endpoint)
