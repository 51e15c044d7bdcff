"""Where webhooks may go: https URLs whose host resolves only to public addresses (no SSRF into our network).

Checked when an endpoint is registered or changed, again before every attempt, and once more when the
connection is opened: the network backend connects to an address it has just resolved and vetted, never to a
name, so a host that resolves to a public address at the check and to a private one a moment later (DNS
rebinding) is still refused. `make run` and the tests (stages local and test) also accept http and loopback
addresses, never private, link-local or cloud metadata ones. Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpcore

from viral.errors import InvalidInput

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2048


class UnsafeDestination(InvalidInput):
    """The URL is not one we send webhooks to (scheme, host, or an address that is not public)."""


class Resolver(Protocol):
    def resolve(self, host: str, port: int) -> list[str]:
        """Every address the host resolves to (IPv4 and IPv6), as text."""
        ...


class SystemResolver:
    def resolve(self, host: str, port: int) -> list[str]:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UnsafeDestination("the URL's host does not resolve") from exc
        return list(dict.fromkeys(str(info[4][0]) for info in found))


_resolver: list[Resolver] = [SystemResolver()]


def current_resolver() -> Resolver:
    return _resolver[-1]


@contextmanager
def use_resolver(resolver: Resolver) -> Iterator[Resolver]:
    """Resolve hosts with `resolver` inside the block (tests: fixed answers, DNS rebinding)."""
    _resolver.append(resolver)
    try:
        yield resolver
    finally:
        _resolver.remove(resolver)


@dataclass(frozen=True)
class Policy:
    """What a stage allows: deployed stages https and public addresses only."""

    allow_http: bool
    allow_loopback: bool

    @classmethod
    def for_stage(cls, stage: str) -> Policy:
        local = stage in ("local", "test")
        return cls(allow_http=local, allow_loopback=local)

    def address_allowed(self, address: IpAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_loopback:
            return self.allow_loopback
        # is_global is False for private, link-local (169.254.169.254: cloud metadata), shared (100.64/10),
        # unique-local (fd00:ec2::254), reserved, documentation and unspecified ranges; multicast is refused too.
        return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int


def parse_destination(url: str, policy: Policy) -> Destination:
    """The URL's scheme, host and port, or UnsafeDestination (nothing resolved yet)."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeDestination(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeDestination("the URL is not valid") from exc
    allowed = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeDestination(f"the URL must start with {' or '.join(s + '://' for s in allowed)}")
    if not parts.hostname:
        raise UnsafeDestination("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeDestination("the URL must not carry credentials")
    if parts.fragment:
        raise UnsafeDestination("the URL must not have a fragment")
    return Destination(
        parts.scheme, parts.hostname.rstrip(".").lower(), port or (443 if parts.scheme == "https" else 80)
    )


def vetted_addresses(host: str, port: int, policy: Policy, resolver: Resolver | None = None) -> list[str]:
    """The host's addresses if every one is allowed; else UnsafeDestination (one bad answer taints the name)."""
    try:
        literal: IpAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    answers = [str(literal)] if literal is not None else (resolver or current_resolver()).resolve(host, port)
    if not answers:
        raise UnsafeDestination("the URL's host does not resolve")
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer.split("%", 1)[0])
        except ValueError as exc:
            raise UnsafeDestination("the URL's host resolves to something that is not an address") from exc
        if not policy.address_allowed(address):
            raise UnsafeDestination("the URL's host resolves to a private, loopback or link-local address")
    return answers


def check_url(url: str, policy: Policy) -> Destination:
    """Refuse a URL we would not deliver to (used at registration and before every attempt)."""
    destination = parse_destination(url, policy)
    vetted_addresses(destination.host, destination.port, policy)
    return destination


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend, connecting only to an address it resolved and vetted itself."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = vetted_addresses(host, port, self.policy)
        except UnsafeDestination as exc:
            raise httpcore.ConnectError(exc.message) from exc
        # TLS still verifies the certificate against the URL's host name (httpcore passes it as server_hostname).
        return super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)
