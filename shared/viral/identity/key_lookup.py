"""API keys without SQLAlchemy: the authorizer's hot path, on one pg8000 connection per execution environment.

The key is found by the same statement as the ORM repository (viral.identity.key_sql), as the system role, in
one transaction. Clerk session tokens still go through viral.identity.auth, imported only when one arrives, so a
cold authorizer that only ever sees API keys never loads SQLAlchemy, the models or the repositories.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from viral.caller import Principal
from viral.db.connect import checked_role, connect_pg8000
from viral.db.sqlstate import sqlstate
from viral.errors import Retryable, Unauthorized
from viral.identity.key_sql import FIND_KEY_SQL
from viral.identity.principal import KEY_PREFIX, credentials_from_headers, hash_key
from viral.settings import Settings, get_settings

if TYPE_CHECKING:
    import pg8000.dbapi

# SQLSTATE classes after which the server has dropped the connection (connection exception, operator intervention).
_BROKEN_SQLSTATES = ("08", "57P")


class _KeyLookupConnection:
    """One lazily opened connection, reused across invocations; reopened when the settings it was made for change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the local runtime may authorize from several threads; Lambda never does
        self._connection: pg8000.dbapi.Connection | None = None
        self._made_for: tuple[Any, ...] | None = None
        self._statement: str | None = None

    def find(self, key_hash: str, settings: Settings) -> list[Any] | None:
        """The key's (id, tenant_id, user_id, scopes, role) row, or None; reconnects once on a broken connection."""
        import pg8000.dbapi

        system_role = checked_role(settings.db_system_role)
        with self._lock:
            for attempt in (1, 2):
                connection, fresh = self._connect(settings)
                try:
                    return self._run(connection, key_hash, system_role)
                except (pg8000.dbapi.InterfaceError, OSError) as error:
                    self.forget()
                    if fresh or attempt == 2:
                        raise Retryable("the database is unreachable") from error
                except pg8000.dbapi.DatabaseError as error:
                    code = sqlstate(error) or ""
                    if code.startswith(_BROKEN_SQLSTATES):
                        self.forget()
                        if fresh or attempt == 2:
                            raise Retryable("the database is unreachable") from error
                        continue
                    self._rollback()
                    if code == "57014":
                        raise Retryable("the database statement timed out") from error
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def forget(self) -> None:
        """Close and drop the connection (the next lookup opens a new one)."""
        connection, self._connection, self._made_for = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to close cleanly
                connection.close()

    def _connect(self, settings: Settings) -> tuple[pg8000.dbapi.Connection, bool]:
        made_for = _connection_key(settings)
        if self._connection is not None and self._made_for == made_for:
            return self._connection, False
        self.forget()
        import pg8000.dbapi

        try:
            connection = connect_pg8000(settings, role=settings.db_runtime_role)
        except (pg8000.dbapi.InterfaceError, OSError) as error:
            raise Retryable("the database is unreachable") from error
        self._connection, self._made_for = connection, made_for
        return connection, True

    def _run(self, connection: pg8000.dbapi.Connection, key_hash: str, system_role: str) -> list[Any] | None:
        if self._statement is None:
            from pg8000.dbapi import convert_paramstyle

            self._statement, _ = convert_paramstyle("named", FIND_KEY_SQL, {"key_hash": key_hash})
        # One round trip opens the transaction and takes the system role for it alone (SET LOCAL).
        connection.execute_simple(f"begin; set local role {system_role}")
        rows = connection.execute_unnamed(self._statement, vals=(key_hash,)).rows
        connection.commit()
        return list(rows[0]) if rows else None

    def _rollback(self) -> None:
        try:
            if self._connection is not None:
                self._connection.rollback()
        except Exception:  # a connection that cannot roll back is not reused
            self.forget()


def _connection_key(settings: Settings) -> tuple[Any, ...]:
    return (
        settings.database_url,
        settings.db_secret_name,
        settings.stage,
        str(settings.embedded_pg_data),
        settings.db_host,
        settings.db_port,
        settings.db_name,
        settings.db_sslmode,
        settings.db_ssl_root_cert,
        settings.db_connect_timeout_s,
        settings.db_statement_timeout_ms,
        settings.db_runtime_role,
    )


_lookup = _KeyLookupConnection()


def reset_key_lookup() -> None:
    """Close the lookup connection (tests and the local runtime switch databases)."""
    with _lookup._lock:
        _lookup.forget()


def authenticate_key(key: str) -> Principal:
    """The principal of an active API key (its last use stamped at most once a minute), or Unauthorized."""
    if not key.startswith(KEY_PREFIX) or not 20 <= len(key) <= 128:
        raise Unauthorized("invalid API key")
    row = _lookup.find(hash_key(key), get_settings())
    if row is None:
        raise Unauthorized("invalid API key")
    key_id, tenant_id, user_id, scopes, role = row
    return Principal(
        tenant_id=tenant_id,
        user_id=user_id,
        role=role,
        method="api_key",
        api_key_id=key_id,
        scopes=tuple(scopes),
    )


def authenticate(headers: Mapping[str, str] | None, settings: Settings | None = None) -> Principal:
    """The principal behind a request's credentials, or Unauthorized (never which check failed, to the client)."""
    kind, token = credentials_from_headers(headers)
    if kind == "api_key":
        return authenticate_key(token)
    from viral.identity.sessions import authenticate_session  # SQLAlchemy and PyJWT: only when a session token arrives

    return authenticate_session(token, settings or get_settings())


class PrincipalCache:
    """Per-environment memo of credential -> principal, keyed by the credential's hash, for `ttl_s` seconds.

    API Gateway's own authorizer cache needs every identity source present, which two alternative headers
    (Authorization or X-API-Key) cannot satisfy; this cache gives the same saving inside the function.
    A revoked key stops working within `ttl_s` here; the routes that manage keys and billing check the key in the
    database on every call (`viral.http.access.require_admin`), so a revoked admin key can do nothing there.
    An unknown API key is remembered as unknown for `unknown_ttl_s`, so junk keys don't each cost a query.
    """

    def __init__(self, *, ttl_s: float = 60.0, unknown_ttl_s: float = 10.0, max_entries: int = 1024) -> None:
        self.ttl_s = ttl_s
        self.unknown_ttl_s = unknown_ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def authenticate(self, headers: Mapping[str, str] | None, *, now: float) -> Principal:
        kind, token = credentials_from_headers(headers)
        key = hash_key(f"{kind}:{token}")
        cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            if cached[1] is None:
                raise Unauthorized("invalid API key")
            return cached[1]
        try:
            found = authenticate(headers)
        except Unauthorized:
            if kind == "api_key" and self.unknown_ttl_s > 0:
                self._remember(key, now + self.unknown_ttl_s, None)
            raise
        ttl = self.ttl_s
        if kind == "jwt":  # never past the token's own expiry (session tokens live about a minute)
            ttl = min(ttl, _seconds_left(token))
        if ttl > 0:
            self._remember(key, now + ttl, found)
        return found

    def _remember(self, key: str, until: float, principal: Principal | None) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (until, principal)


def _seconds_left(token: str) -> float:
    """Seconds until a (just verified) JWT's `exp`, read from its payload; 0 when it cannot be read."""
    import base64
    import json
    import time

    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return max(0.0, float(claims["exp"]) - time.time())
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0
