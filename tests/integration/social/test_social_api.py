"""The social routes through the real authorizer and Api function: connect, accounts, posts, limits, isolation."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, text
from viral.identity import auth
from viral.social.platforms.sandbox import sandbox_network
from viral.tenancy import tenant_scope

from tests.fakes.social_platforms import SocialAws, browser_cookie, connect_sandbox, consent, social_aws
from tests.gateway import Gateway


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: object) -> Iterator[SocialAws]:
    with social_aws(monkeypatch, tmp_path) as social:
        yield social


def key_of(tenant: uuid.UUID, *scopes: str) -> dict[str, str]:
    with tenant_scope(tenant):
        secret = auth.create_api_key(scopes=scopes or ("read", "write")).secret
    return {"Authorization": f"Bearer {secret}"}


def set_tier(engine: Engine, tenant: uuid.UUID, tier: str) -> None:
    with engine.begin() as connection:
        connection.execute(text("update tenants set subscription_tier = :t where id = :id"), {"t": tier, "id": tenant})


def start(gateway: Gateway, headers: dict[str, str], platform: str = "sandbox") -> tuple[str, str, str]:
    answer = gateway.request("GET", f"/api/social/auth-url?platform={platform}", headers=headers)
    assert answer.status == HTTPStatus.OK, answer.body
    body = answer.json()
    return body["authUrl"], body["state"], browser_cookie(answer.headers["Set-Cookie"])


def callback(gateway: Gateway, state: str, code: str, cookie: str | None) -> str:
    headers = {"Cookie": f"vd_oauth={cookie}"} if cookie else {}
    answer = gateway.request("GET", f"/api/social/connect/sandbox?code={code}&state={state}", headers=headers)
    assert answer.status == HTTPStatus.SEE_OTHER
    return answer.headers["Location"]


def post_body(video: uuid.UUID, *accounts: uuid.UUID, **extra: Any) -> dict[str, Any]:
    return {"videoId": str(video), "accountIds": [str(a) for a in accounts], "privacy": "PUBLIC", **extra}


# --- connect -------------------------------------------------------------------------------------------------


def test_connect_through_the_auth_url_and_the_public_callback_lists_the_account(
    aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID
) -> None:
    headers = key_of(tenant_a)
    auth_url, state, cookie = start(gateway, headers)
    query = parse_qs(urlsplit(auth_url).query)
    assert query["state"] == [state] and query["code_challenge_method"] == ["S256"]
    location = callback(gateway, state, consent(auth_url), cookie)
    assert location == "https://dashboard.test/dashboard/social-accounts?success=sandbox"
    listed = gateway.request("GET", "/api/social/accounts", headers=headers).json()
    assert set(listed["accounts"]) == {"tiktok", "youtube", "instagram", "sandbox"}
    [account] = listed["accounts"]["sandbox"]
    assert (account["username"], account["isActive"], account["status"]) == ("sandbox-creator", True, "active")
    assert account["privacyOptions"] == ["PUBLIC", "FOLLOWERS", "PRIVATE"]
    assert listed["totals"]["sandbox"]["activeAccounts"] == 1
    assert "accessToken" not in str(listed) and "sba_" not in str(listed)


def test_a_replayed_forged_other_browser_or_other_tenant_state_changes_nothing(
    aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    auth_url, state, cookie = start(gateway, key_of(tenant_a))
    code = consent(auth_url)
    # B's browser (no cookie of A's flow) brings A's state back: refused, and A's code is not spent.
    assert callback(gateway, state, code, None).endswith("error=state_not_from_this_browser")
    b_cookie = start(gateway, key_of(tenant_b))[2]
    assert callback(gateway, state, code, b_cookie).endswith("error=state_not_from_this_browser")
    forged = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    assert callback(gateway, forged, code, cookie).endswith("error=invalid_state")
    assert callback(gateway, state, code, cookie).endswith("success=sandbox")
    assert callback(gateway, state, code, cookie).endswith("error=state_already_used")  # replay
    with owner_engine.connect() as connection:
        owners = connection.execute(text("select tenant_id from social_accounts")).scalars().all()
    assert tenant_a in owners and tenant_b not in owners


def test_an_expired_state_is_refused(aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID, monkeypatch: Any) -> None:
    import time as clock

    auth_url, state, cookie = start(gateway, key_of(tenant_a))
    later = clock.time() + 3600
    monkeypatch.setattr("viral.social.oauth.time.time", lambda: later)
    assert callback(gateway, state, consent(auth_url), cookie).endswith("error=expired_state")


def test_auth_url_validates_the_platform(aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID) -> None:
    headers = key_of(tenant_a)
    missing = gateway.request("GET", "/api/social/auth-url", headers=headers)
    unknown = gateway.request("GET", "/api/social/auth-url?platform=myspace", headers=headers)
    unconfigured = gateway.request("GET", "/api/social/auth-url?platform=tiktok", headers=headers)
    assert (missing.status, missing.json()["error"]) == (422, "Missing platform parameter")
    assert (unknown.status, unknown.json()["error"]) == (422, "Unsupported platform: myspace")
    assert unconfigured.status == 422 and unconfigured.json()["code"] == "VALIDATION_FAILED"


def test_the_database_holds_only_ciphertext_for_tokens(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    account = connect_sandbox(tenant_a)
    network = sandbox_network()
    plaintexts = [*network.access_tokens, *network.refresh_tokens]
    with owner_engine.connect() as connection:
        stored = connection.execute(
            text("select access_token, refresh_token, token_key_id from social_accounts where id = :a"), {"a": account}
        ).one()
        whole = connection.execute(text("select * from social_accounts where id = :a"), {"a": account}).one()
        dump = " ".join(str(v) for v in whole)
    assert stored.access_token.startswith("v1.") and stored.refresh_token.startswith("v1.")
    assert stored.token_key_id.startswith("local:")
    assert plaintexts and not any(p in dump for p in plaintexts)


def test_the_free_plan_connects_one_account(aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID) -> None:
    connect_sandbox(tenant_a, user="first-creator")
    auth_url, state, cookie = start(gateway, key_of(tenant_a))
    second = callback(gateway, state, consent(auth_url, user="second-creator"), cookie)
    assert second.endswith("error=account_limit")


def test_disconnect_wipes_tokens_cancels_scheduled_posts_and_revokes(
    aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    headers = key_of(tenant_a)
    account = connect_sandbox(tenant_a)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    created = gateway.request(
        "POST", "/api/posts", headers=headers, json=post_body(aws.put_video(tenant_a), account, scheduledAt=later)
    )
    assert created.status == HTTPStatus.CREATED
    answer = gateway.request("DELETE", f"/api/social/accounts?id={account}", headers=headers)
    assert answer.json() == {"success": True, "message": "Account disconnected successfully", "canceledPosts": 1}
    with owner_engine.connect() as connection:
        row = connection.execute(
            text("select access_token, refresh_token, status from social_accounts where id = :a"), {"a": account}
        ).one()
    assert tuple(row) == (None, None, "disconnected")
    assert sandbox_network().access_tokens == {}  # revoked on the platform
    assert gateway.request("DELETE", "/api/social/accounts", headers=headers).status == 422
    assert gateway.request("DELETE", f"/api/social/accounts?id={uuid.uuid4()}", headers=headers).status == 404


# --- posts ---------------------------------------------------------------------------------------------------


def test_post_answers_201_with_one_post_per_account_and_the_tenant_choices_recorded(
    aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    set_tier(owner_engine, tenant_a, "PRO")
    headers = key_of(tenant_a)
    first, second = connect_sandbox(tenant_a, user="one"), connect_sandbox(tenant_a, user="two")
    video = aws.put_video(tenant_a)
    at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    answer = gateway.request(
        "POST",
        "/api/posts",
        headers=headers,
        json=post_body(video, first, second, caption="Look", hashtags=["fyp", "#ai"], scheduledAt=at.isoformat()),
    )
    assert answer.status == HTTPStatus.CREATED
    created = answer.json()["posts"]
    assert {p["accountId"] for p in created} == {str(first), str(second)}
    post = created[0]
    assert (post["status"], post["platform"], post["privacy"]) == ("scheduled", "sandbox", "PUBLIC")
    assert datetime.fromisoformat(post["scheduledAt"]) == at
    assert post["disclosure"]["aiGenerated"] is True and post["disclosure"]["allowComments"] is False
    one = gateway.request("GET", f"/api/posts/{post['id']}", headers=headers).json()
    assert one["id"] == post["id"] and one["platformPostId"] is None and one["error"] is None
    listed = gateway.request("GET", f"/api/posts?status=scheduled&videoId={video}", headers=headers).json()
    assert len(listed["posts"]) == 2
    jobs = gateway.request("GET", "/api/jobs?jobType=publish-post", headers=headers).json()["jobs"]
    assert len(jobs) == 2 and {j["status"] for j in jobs} == {"pending"}


def test_post_input_is_validated_with_clear_4xx(aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID) -> None:
    headers = key_of(tenant_a)
    account = connect_sandbox(tenant_a)
    video = aws.put_video(tenant_a)
    cases = {
        "no body fields": ({}, 422),
        "bad uuid": ({"videoId": "nope", "accountIds": [str(account)]}, 422),
        "no accounts": ({"videoId": str(video), "accountIds": []}, 422),
        "naive time": (post_body(video, account, scheduledAt="2030-01-01T10:00:00"), 422),
        "past": (post_body(video, account, scheduledAt="2020-01-01T10:00:00Z"), 422),
        "unknown privacy": (post_body(video, account, privacy="EVERYONE"), 422),
        "unknown video": (post_body(uuid.uuid4(), account), 404),
        "unknown account": (post_body(video, uuid.uuid4()), 404),
    }
    for name, (body, status) in cases.items():
        answer = gateway.request("POST", "/api/posts", headers=headers, json=body)
        assert answer.status == status, name
        assert {"error", "code"} <= set(answer.json()), name
    no_privacy = {"videoId": str(video), "accountIds": [str(account)]}
    refused = gateway.request("POST", "/api/posts", headers=headers, json=no_privacy).json()
    assert refused["details"][0]["options"] == ["PUBLIC", "FOLLOWERS", "PRIVATE"]  # no default is picked


def test_reschedule_and_cancel_and_409_once_publishing_began(
    aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    headers = key_of(tenant_a)
    account = connect_sandbox(tenant_a)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    [post] = gateway.request(
        "POST", "/api/posts", headers=headers, json=post_body(aws.put_video(tenant_a), account, scheduledAt=later)
    ).json()["posts"]
    moved_to = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    moved = gateway.request(
        "PATCH", f"/api/posts/{post['id']}", headers=headers, json={"scheduledAt": moved_to.isoformat()}
    )
    assert moved.status == 200 and datetime.fromisoformat(moved.json()["scheduledAt"]) == moved_to
    with owner_engine.begin() as connection:
        connection.execute(text("update social_posts set status = 'publishing' where id = :p"), {"p": post["id"]})
    for method, body in (("DELETE", None), ("PATCH", {"scheduledAt": later})):
        answer = gateway.request(method, f"/api/posts/{post['id']}", headers=headers, json=body)
        assert (answer.status, answer.json()["code"]) == (409, "INVALID_TRANSITION")
    with owner_engine.begin() as connection:
        connection.execute(text("update social_posts set status = 'scheduled' where id = :p"), {"p": post["id"]})
    canceled = gateway.request("DELETE", f"/api/posts/{post['id']}", headers=headers).json()
    assert canceled["status"] == "canceled"


def test_the_plan_post_allowance_is_enforced_atomically(aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID) -> None:
    headers = key_of(tenant_a)
    account = connect_sandbox(tenant_a)
    video = aws.put_video(tenant_a)
    later = datetime.now(UTC) + timedelta(days=2)
    answers: list[int] = []

    def create(n: int) -> None:
        at = (later + timedelta(minutes=n)).isoformat()
        answers.append(
            gateway.request(
                "POST", "/api/posts", headers=headers, json=post_body(video, account, scheduledAt=at)
            ).status
        )

    threads = [threading.Thread(target=create, args=(n,)) for n in range(14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201] * 10 + [429] * 4  # FREE: 10 posts a month


def test_a_post_that_would_break_the_daily_cap_is_refused_with_the_next_free_time(
    aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    headers = key_of(tenant_a)
    account = connect_sandbox(tenant_a)
    with owner_engine.begin() as connection:
        connection.execute(
            text("update social_accounts set capabilities = capabilities || '{\"dailyCap\": 2}' where id = :a"),
            {"a": account},
        )
    video = aws.put_video(tenant_a)
    base = datetime.now(UTC) + timedelta(days=1)
    for n in range(2):
        at = (base + timedelta(hours=n)).isoformat()
        assert (
            gateway.request(
                "POST", "/api/posts", headers=headers, json=post_body(video, account, scheduledAt=at)
            ).status
            == 201
        )
    third = gateway.request(
        "POST",
        "/api/posts",
        headers=headers,
        json=post_body(video, account, scheduledAt=(base + timedelta(hours=2)).isoformat()),
    )
    assert (third.status, third.json()["code"]) == (409, "LIMIT_REACHED")
    details = third.json()["details"]
    assert details["accountId"] == str(account) and "24 hours" in details["reason"]
    assert datetime.fromisoformat(details["nextFreeAt"]) >= base + timedelta(hours=25)


# --- isolation -----------------------------------------------------------------------------------------------


def test_tenant_b_cannot_see_schedule_on_cancel_or_disconnect_tenant_a_accounts_and_posts(
    aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    a, b = key_of(tenant_a), key_of(tenant_b)
    account = connect_sandbox(tenant_a)
    video = aws.put_video(tenant_a)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    [post] = gateway.request("POST", "/api/posts", headers=a, json=post_body(video, account, scheduledAt=later)).json()[
        "posts"
    ]
    b_video = aws.put_video(tenant_b)
    assert gateway.request("GET", "/api/social/accounts", headers=b).json()["totals"]["sandbox"]["totalAccounts"] == 0
    assert gateway.request("GET", "/api/posts", headers=b).json()["posts"] == []
    assert gateway.request("GET", f"/api/posts/{post['id']}", headers=b).status == 404
    assert gateway.request("PATCH", f"/api/posts/{post['id']}", headers=b, json={"scheduledAt": later}).status == 404
    assert gateway.request("DELETE", f"/api/posts/{post['id']}", headers=b).status == 404
    assert gateway.request("DELETE", f"/api/social/accounts?id={account}", headers=b).status == 404
    assert gateway.request("POST", "/api/posts", headers=b, json=post_body(b_video, account)).status == 404
    assert gateway.request("POST", "/api/posts", headers=b, json=post_body(video, account)).status == 404
    with owner_engine.connect() as connection:
        row = connection.execute(
            text(
                "select p.status, a.status from social_posts p"
                " join social_accounts a on a.id = p.account_id where p.id = :p"
            ),
            {"p": post["id"]},
        ).one()
    assert tuple(row) == ("scheduled", "active")
