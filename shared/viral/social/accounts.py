"""Connected accounts: the connect flow (signed single-use state, PKCE), sealed tokens, refresh with one
refresher per account, disconnect, and the original's account list.

No platform call is made inside a held database transaction: the state is spent, then the platform is asked,
then the account is written. Refresh takes a lease on the account row (a conditional update), calls the
platform outside any transaction, and writes the rotated tokens only while it still holds the lease.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from viral.billing.plans import plan_for
from viral.db.uow import unit_of_work
from viral.errors import Conflict, NotFound, Retryable
from viral.observability import logger
from viral.settings import Settings, get_settings
from viral.social import oauth
from viral.social.limits import daily_cap
from viral.social.platforms import GrantRevoked, TokenGrant
from viral.social.platforms.registry import PLATFORMS, credentials, platform
from viral.social.repository import AccountRecord, AccountRepository, OAuthStateRepository, PostRepository
from viral.social.tokens import Sealed, TokenUnreadable, token_box
from viral.tenancy import current_tenant, tenant_scope

REFRESH_AHEAD = timedelta(minutes=5)
REFRESH_LEASE_S = 30
DASHBOARD_PAGE = "/dashboard/social-accounts"


def _now() -> datetime:
    return datetime.now(UTC)


def _key(settings: Settings) -> bytes:
    return oauth.state_key(credentials(settings).state_secret, settings)


def redirect_uri(platform_name: str, settings: Settings) -> str:
    return f"{settings.social_redirect_base.rstrip('/')}/api/social/connect/{platform_name}"


@dataclass(frozen=True)
class AuthStart:
    auth_url: str
    state: str
    cookie: str  # Set-Cookie value binding the state to this browser


def start_connect(platform_name: str, *, user_id: uuid.UUID | None) -> AuthStart:
    """The platform's consent URL and a signed, single-use state bound to this tenant, user and browser."""
    settings = get_settings()
    adapter = platform(platform_name, settings)
    key = _key(settings)
    state, payload = oauth.new_state(key, tenant_id=current_tenant(), user_id=user_id, platform=platform_name)
    with unit_of_work() as uow:
        uow.repository(OAuthStateRepository).add(
            nonce=payload.nonce,
            platform=platform_name,
            user_id=user_id,
            expires_at=datetime.fromtimestamp(payload.expires_at, UTC),
        )
    challenge = oauth.pkce_challenge(oauth.pkce_verifier(key, payload.nonce))
    url = adapter.authorize_url(
        state=state, redirect_uri=redirect_uri(platform_name, settings), code_challenge=challenge
    )
    # Secure everywhere but a plain-HTTP local run (where a Secure cookie would never come back).
    secure = "; Secure" if settings.social_redirect_base.startswith("https://") else ""
    cookie = (
        f"{oauth.COOKIE}={oauth.browser_binding(key, payload.nonce)}; Max-Age={oauth.STATE_TTL_S}; "
        f"Path=/api/social/connect; HttpOnly; SameSite=Lax{secure}"
    )
    return AuthStart(auth_url=url, state=state, cookie=cookie)


def _dashboard(settings: Settings, **query: str) -> str:
    pairs = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    return f"{settings.dashboard_url.rstrip('/')}{DASHBOARD_PAGE}?{pairs}"


def complete_connect(
    platform_name: str, *, code: str | None, state: str | None, error: str | None, browser: str | None
) -> str:
    """Finish a connect flow; the dashboard URL to send the browser to (`?success=` or `?error=`).

    A forged, expired, replayed, other-browser or other-platform state changes nothing.
    """
    settings = get_settings()
    if platform_name not in PLATFORMS:
        return _dashboard(settings, error="unsupported_platform")
    key = _key(settings)
    try:
        payload = oauth.read_state(key, state or "", platform=platform_name)
    except oauth.StateRefused as refused:
        return _dashboard(settings, error=refused.message)
    if not browser or browser != oauth.browser_binding(key, payload.nonce):
        return _dashboard(settings, error="state_not_from_this_browser")
    with tenant_scope(payload.tenant_id):
        with unit_of_work() as uow:
            spent = uow.repository(OAuthStateRepository).spend(payload.nonce, platform_name)
        if not spent:
            return _dashboard(settings, error="state_already_used")
        if error or not code:
            reason = "".join(c for c in (error or "missing_code") if c.isalnum() or c in "_-")[:64]
            return _dashboard(settings, error=reason or "access_denied")
        try:
            account = _connect(platform_name, code, oauth.pkce_verifier(key, payload.nonce), settings)
        except Conflict as refused:
            return _dashboard(settings, error=refused.code.lower())
        except Exception:
            logger.warning("connect failed", extra={"platform": platform_name}, exc_info=True)
            return _dashboard(settings, error=f"{platform_name}_auth_failed")
    logger.info("account connected", extra={"platform": platform_name, "account_id": str(account.id)})
    return _dashboard(settings, success=platform_name)


def _expiry(seconds: int | None) -> datetime | None:
    return _now() + timedelta(seconds=int(seconds)) if seconds else None


def _connect(platform_name: str, code: str, verifier: str, settings: Settings) -> AccountRecord:
    adapter = platform(platform_name, settings)
    grant = adapter.exchange_code(code=code, redirect_uri=redirect_uri(platform_name, settings), code_verifier=verifier)
    identity = adapter.identify(grant.access_token)
    sealed_access, sealed_refresh = _seal(grant)
    with unit_of_work() as uow:
        tier = uow.repository(PostRepository).lock_tenant_plan()
        accounts = uow.repository(AccountRepository)
        existing = accounts.find(platform_name, identity.platform_account_id)
        values = _token_values(grant, sealed_access, sealed_refresh)
        values.update(
            username=identity.username[:255],
            display_name=(identity.display_name or "")[:255] or None,
            capabilities=identity.capabilities,
            status="active",
            status_reason=None,
            is_active=True,
            disconnected_at=None,
            refresh_lease=None,
            refresh_lease_until=None,
        )
        if existing is not None:
            if existing.status == "disconnected" and accounts.count_connected() >= plan_for(tier).social_accounts:
                raise AccountLimit("account limit reached", details={"limit": plan_for(tier).social_accounts})
            # A reconnect never wipes a refresh token the platform did not resend (Google often omits it).
            if sealed_refresh is None:
                values.pop("refresh_token", None)
                values.pop("refresh_expires_at", None)
                if existing.refresh_token and existing.token_key_id != values["token_key_id"]:
                    values["refresh_token"] = _reseal(existing.refresh_token, existing.token_key_id)
            accounts.update(existing.id, **values)
            found = accounts.get(existing.id)
            assert found is not None
            return found
        if accounts.count_connected() >= plan_for(tier).social_accounts:
            raise AccountLimit("account limit reached", details={"limit": plan_for(tier).social_accounts})
        values["metadata_"] = {"connectedAt": _now().isoformat()}
        return accounts.create(platform=platform_name, platform_account_id=identity.platform_account_id, **values)


def _seal(grant: TokenGrant) -> tuple[Sealed, Sealed | None]:
    box = token_box()
    return box.seal(grant.access_token), (box.seal(grant.refresh_token) if grant.refresh_token else None)


def _reseal(ciphertext: str, key_id: str | None) -> str:
    box = token_box()
    return box.seal(box.open(ciphertext, key_id or "")).ciphertext


def _token_values(grant: TokenGrant, access: Sealed, refresh: Sealed | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "access_token": access.ciphertext,
        "token_key_id": access.key_id,
        "expires_at": _expiry(grant.expires_in_s),
        "scopes": grant.scope,
    }
    if refresh is not None:
        values["refresh_token"] = refresh.ciphertext
        values["refresh_expires_at"] = _expiry(grant.refresh_expires_in_s)
    return values


# --- tokens for the worker ------------------------------------------------------------------------------


class AccountLimit(Conflict):
    """The plan's allowance of connected accounts is used up."""

    code = "ACCOUNT_LIMIT"


class AccountUnusable(Conflict):
    """The account is disconnected or must be reconnected before it can post."""

    code = "RECONNECT_REQUIRED"


def access_token(account_id: uuid.UUID, *, force_refresh: bool = False, wait_s: float = 5.0) -> str:
    """A working access token of the account: refreshed first when it expires within minutes, or when the
    platform refused it (`force_refresh`). One refresher per account at a time; the others wait for its result."""
    settings = get_settings()
    deadline = time.monotonic() + wait_s
    while True:
        with unit_of_work() as uow:
            account = uow.repository(AccountRepository).get(account_id)
        if account is None:
            raise NotFound("Account not found")
        if account.status != "active" or not account.access_token:
            raise AccountUnusable(f"the {account.platform} account {account.username} must be reconnected")
        fresh = account.expires_at is None or account.expires_at - _now() > REFRESH_AHEAD
        if fresh and not force_refresh:
            return token_box().open(account.access_token, account.token_key_id or "")
        refreshed = _refresh(account, settings, seen_access=account.access_token if force_refresh else None)
        if refreshed is not None:
            return refreshed
        if time.monotonic() > deadline:
            raise Retryable("another refresh of this account is in progress")
        time.sleep(0.2)
        force_refresh = False  # the other refresher's new token is what we were waiting for


def _refresh(account: AccountRecord, settings: Settings, *, seen_access: str | None) -> str | None:
    """Refresh under the account's lease; None when another refresher holds it (the caller re-reads)."""
    lease = uuid.uuid4()
    with unit_of_work() as uow:
        leased = uow.repository(AccountRepository).take_refresh_lease(account.id, lease, REFRESH_LEASE_S)
    if leased is None:
        return None
    box = token_box()
    if seen_access is not None and leased.access_token != seen_access and leased.access_token:
        _release(account.id, lease)  # someone refreshed since the token we saw was refused: use theirs
        return box.open(leased.access_token, leased.token_key_id or "")
    if not leased.refresh_token:
        _mark_reconnect(account.id, lease, "the platform gave no refresh token; reconnect the account")
        raise AccountUnusable(f"the {account.platform} account {account.username} must be reconnected")
    try:
        grant = platform(account.platform, settings).refresh(box.open(leased.refresh_token, leased.token_key_id or ""))
    except (GrantRevoked, TokenUnreadable) as dead:
        _mark_reconnect(account.id, lease, dead.message)
        raise AccountUnusable(f"the {account.platform} account {account.username} must be reconnected") from dead
    except Exception:
        _release(account.id, lease)
        raise
    access, refresh = _seal(grant)
    values = _token_values(grant, access, refresh)
    if refresh is None and leased.refresh_token and leased.token_key_id != access.key_id:
        values["refresh_token"] = _reseal(leased.refresh_token, leased.token_key_id)
    with unit_of_work() as uow:
        current = uow.repository(AccountRepository).lock(account.id)
        if current is None or current.refresh_lease != lease:
            logger.error("refresh lease lost; the rotated token was not stored", extra={"account_id": str(account.id)})
            raise Retryable("the refresh took longer than its lease")
        uow.repository(AccountRepository).update(account.id, refresh_lease=None, refresh_lease_until=None, **values)
    logger.info("token refreshed", extra={"platform": account.platform, "account_id": str(account.id)})
    return grant.access_token


def _release(account_id: uuid.UUID, lease: uuid.UUID) -> None:
    with unit_of_work() as uow:
        current = uow.repository(AccountRepository).lock(account_id)
        if current is not None and current.refresh_lease == lease:
            uow.repository(AccountRepository).update(account_id, refresh_lease=None, refresh_lease_until=None)


def _mark_reconnect(account_id: uuid.UUID, lease: uuid.UUID | None, reason: str) -> None:
    with unit_of_work() as uow:
        uow.repository(AccountRepository).update(
            account_id,
            status="reconnect_required",
            status_reason=reason[:500],
            refresh_lease=None,
            refresh_lease_until=None,
        )


def mark_reconnect_required(account_id: uuid.UUID, reason: str) -> None:
    _mark_reconnect(account_id, None, reason)


# --- listing and disconnecting ---------------------------------------------------------------------------


def account_wire(
    account: AccountRecord, *, used: int, post_count: int, oldest_use: datetime | None, settings: Settings
) -> dict[str, Any]:
    cap = daily_cap(account, settings)
    created = account.created_at.isoformat()
    answer: dict[str, Any] = {
        "id": str(account.id),
        "platform": account.platform,
        "username": account.username,
        "displayName": account.display_name,
        "niche": account.niche,
        "isActive": account.status == "active",
        "status": account.status,
        "statusReason": account.status_reason,
        "dailyLimit": cap,
        "usedToday": used,
        "availableQuota": max(0, cap - used),
        "quotaResetsAt": ((oldest_use + timedelta(hours=24)) if oldest_use else _now()).isoformat(),
        "postCount": post_count,
        "connectedAt": created,
        "privacyOptions": account.capabilities.get("privacyOptions") or [],
        "maxDurationS": account.capabilities.get("maxDurationS"),
    }
    if account.expires_at is not None:
        answer["expiresAt"] = account.expires_at.isoformat()
    return answer


def list_accounts() -> dict[str, Any]:
    """The original's shape (`accounts` per platform, `totals`), plus a sandbox group; reading resets nothing."""
    settings = get_settings()
    now = _now()
    with unit_of_work() as uow:
        accounts = uow.repository(AccountRepository).all()
        counts = uow.repository(AccountRepository).posts_per_account()
        recent = uow.repository(AccountRepository).used_in_window(now - timedelta(hours=24), now)
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in ("tiktok", "youtube", "instagram", "sandbox")}
    totals: dict[str, dict[str, int]] = {}
    for account in accounts:
        wire = account_wire(
            account,
            used=recent.get(account.id, 0),
            post_count=counts.get(account.id, 0),
            oldest_use=None,
            settings=settings,
        )
        groups.setdefault(account.platform, []).append(wire)
    for name, items in groups.items():
        active = [a for a in items if a["isActive"]]
        total = sum(a["dailyLimit"] for a in active)
        available = sum(a["availableQuota"] for a in active)
        totals[name] = {
            "totalAccounts": len(items),
            "activeAccounts": len(active),
            "totalQuota": total,
            "availableQuota": available,
            "usedQuota": total - available,
        }
    return {"accounts": groups, "totals": totals}
