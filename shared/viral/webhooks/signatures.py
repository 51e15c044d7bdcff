"""Webhook signatures, checked on the exact raw body: Stripe (`Stripe-Signature`) and Svix, which delivers Clerk's.

Both are HMAC-SHA256 with a timestamp inside the signed content, compared in constant time; a delivery whose
timestamp is more than `tolerance_s` away from now is refused, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from viral.errors import InvalidInput, Retryable
from viral.http.headers import header

TOLERANCE_S = 300


class InvalidSignature(InvalidInput):
    """The delivery is not signed by the sender we share the secret with (or it is too old): refused, unread."""

    code = "INVALID_SIGNATURE"


class WebhookNotConfigured(Retryable):
    """No signing secret is configured: every delivery is refused (never accepted unverified); senders retry."""

    code = "WEBHOOK_NOT_CONFIGURED"


def _matches(expected: str, candidates: list[str]) -> bool:
    """Constant-time comparison with every candidate (bytes: a header may carry any character)."""
    wanted = expected.encode()
    return any(hmac.compare_digest(wanted, c.encode("utf-8", "replace")) for c in candidates)


def _check_age(timestamp: int, now: float, tolerance_s: int) -> None:
    if abs(now - timestamp) > tolerance_s:
        raise InvalidSignature("Signature timestamp is outside the tolerance zone")


def verify_stripe_signature(
    payload: bytes, signature_header: str | None, secret: str | None, *, now: float, tolerance_s: int = TOLERANCE_S
) -> None:
    """Check `Stripe-Signature: t=<ts>,v1=<hex HMAC(secret, "<ts>.<payload>")>[,v1=...]` (any v1 may match).

    The key is the whole `whsec_...` string, as Stripe's libraries use it. See
    https://docs.stripe.com/webhooks#verify-manually
    """
    if not secret:
        raise WebhookNotConfigured("Stripe webhooks are not configured: STRIPE_WEBHOOK_SECRET is missing")
    if not signature_header:
        raise InvalidSignature("Missing stripe-signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in signature_header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("Invalid signature")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    if not _matches(expected, candidates):
        raise InvalidSignature("Invalid signature")
    _check_age(timestamp, now, tolerance_s)


def _svix_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookNotConfigured("the Clerk webhook secret is not a whsec_<base64> value") from exc


def verify_svix_signature(
    payload: bytes,
    headers: Mapping[str, str] | None,
    secret: str | None,
    *,
    now: float,
    tolerance_s: int = TOLERANCE_S,
) -> str:
    """Check Svix's `svix-id`, `svix-timestamp` and `svix-signature: v1,<base64 HMAC> ...`; the message id.

    The key is the base64 part of `whsec_<base64>`; the signed content is `<id>.<timestamp>.<payload>`. See
    https://docs.svix.com/receiving/verifying-payloads/how-manual
    """
    if not secret:
        raise WebhookNotConfigured("Clerk webhooks are not configured: CLERK_WEBHOOK_SECRET is missing")
    message_id = header(headers, "svix-id") or header(headers, "webhook-id")
    stamp = header(headers, "svix-timestamp") or header(headers, "webhook-timestamp")
    signatures = header(headers, "svix-signature") or header(headers, "webhook-signature")
    if not message_id or not stamp or not signatures:
        raise InvalidSignature("Missing svix-id, svix-timestamp or svix-signature header")
    if not stamp.isdigit() or len(message_id) > 255:
        raise InvalidSignature("Invalid signature")
    signed = f"{message_id}.{stamp}.".encode() + payload
    expected = base64.b64encode(hmac.new(_svix_key(secret), signed, hashlib.sha256).digest()).decode()
    candidates = [sig for version, _, sig in (s.partition(",") for s in signatures.split()) if version == "v1"]
    if not _matches(expected, candidates):
        raise InvalidSignature("Invalid signature")
    _check_age(int(stamp), now, tolerance_s)
    return message_id
