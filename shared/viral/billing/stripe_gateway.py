"""Stripe's API through the official library (StripeClient): customers, Checkout, the billing portal, subscriptions.

`stripe` is imported only here and only when a call is made, so functions that never talk to Stripe never load
it (it is a dependency of the Api and billing worker functions only, not of the shared layer). Every request has
an explicit timeout and capped retries (the library's, with backoff and jitter: the only retry layer); errors
become domain errors (Retryable for 429, 5xx and network trouble; Permanent for a refused request).
The secret key is never logged and never part of an error.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from viral.errors import Permanent, Retryable
from viral.settings import Settings, get_settings


class BillingNotConfigured(Retryable):
    """Stripe is not configured here (no key, no price for a plan): nothing can be bought until it is."""

    code = "BILLING_NOT_CONFIGURED"


@dataclass(frozen=True)
class StripeCredentials:
    secret_key: str | None
    webhook_secret: str | None

    def __repr__(self) -> str:  # never print the secrets
        return f"StripeCredentials(secret_key={'set' if self.secret_key else None}, webhook_secret=...)"


def stripe_credentials(settings: Settings | None = None) -> StripeCredentials:
    """The Stripe key and webhook secret: from settings, else from the Secrets Manager secret named there."""
    settings = settings or get_settings()
    key, webhook = settings.stripe_secret_key, settings.stripe_webhook_secret
    if (not key or not webhook) and settings.stripe_secret_name:
        stored = _secret_fields(settings.stripe_secret_name)
        key = key or stored.get("secretKey")
        webhook = webhook or stored.get("webhookSecret")
    return StripeCredentials(secret_key=key or None, webhook_secret=webhook or None)


def secret_value(name: str) -> str:
    """A Secrets Manager secret's string (Powertools parameters: cached for 5 minutes per environment)."""
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(name, max_age=300))


def _secret_fields(name: str) -> dict[str, str]:
    raw = secret_value(name)
    try:
        fields = json.loads(raw)
    except json.JSONDecodeError:
        return {"secretKey": raw}
    return {k: v for k, v in fields.items() if isinstance(v, str)} if isinstance(fields, dict) else {}


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str | None, timeout_s: float, retries: int) -> Any:
    import stripe

    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=(min(timeout_s, 5.0), timeout_s)),
    )


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Stripe's errors as domain errors (messages name the action and Stripe's error code, never the key)."""
    import stripe

    try:
        yield
    except stripe.RateLimitError as exc:
        raise Retryable(f"Stripe is rate limiting ({action}); try again shortly") from exc
    except stripe.APIConnectionError as exc:
        raise Retryable(f"Stripe did not answer in time ({action})") from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        raise BillingNotConfigured(f"Stripe refused our credentials ({action})") from exc
    except stripe.InvalidRequestError as exc:
        raise Permanent(f"Stripe refused the request ({action}: {exc.code or 'invalid_request'})") from exc
    except stripe.APIError as exc:
        raise Retryable(f"Stripe failed ({action}); try again shortly") from exc
    except stripe.StripeError as exc:
        raise Permanent(f"Stripe refused the request ({action})") from exc


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


class StripeGateway:
    """The few Stripe calls billing makes."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def create_customer(self, *, tenant_id: uuid.UUID, name: str) -> str:
        """A customer for the tenant; the idempotency key makes concurrent first checkouts share one."""
        with _translated("create customer"):
            customer = self.client.v1.customers.create(
                params={"name": name[:200], "metadata": {"tenant_id": str(tenant_id)}},
                options={"idempotency_key": f"viral-customer-{tenant_id}"},
            )
        return str(customer.id)

    def create_checkout_session(
        self, *, tenant_id: uuid.UUID, customer_id: str, tier: str, price_id: str, success_url: str, cancel_url: str
    ) -> CheckoutSession:
        metadata = {"tenant_id": str(tenant_id), "tier": tier}
        with _translated("create checkout session"):
            session = self.client.v1.checkout.sessions.create(
                params={
                    "mode": "subscription",
                    "customer": customer_id,
                    "client_reference_id": str(tenant_id),
                    "line_items": [{"price": price_id, "quantity": 1}],
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                    "metadata": metadata,
                    # The subscription carries them too, so its own events name the tenant and tier.
                    "subscription_data": {"metadata": metadata},
                }
            )
        if not session.url:
            raise Permanent("Stripe returned a checkout session without a URL")
        return CheckoutSession(id=str(session.id), url=str(session.url))

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        with _translated("create billing portal session"):
            session = self.client.v1.billing_portal.sessions.create(
                params={"customer": customer_id, "return_url": return_url}
            )
        return str(session.url)

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any] | None:
        """The subscription as Stripe has it now, or None when Stripe has no such subscription."""
        import stripe

        try:
            with _translated("retrieve subscription"):
                subscription = self.client.v1.subscriptions.retrieve(subscription_id)
        except Permanent as refused:
            cause = refused.__cause__
            if isinstance(cause, stripe.InvalidRequestError) and cause.code == "resource_missing":
                return None
            raise
        found: dict[str, Any] = subscription.to_dict()
        return found


def stripe_gateway(settings: Settings | None = None) -> StripeGateway:
    """The gateway for this environment's Stripe account (BillingNotConfigured without a key)."""
    settings = settings or get_settings()
    key = stripe_credentials(settings).secret_key
    if not key:
        raise BillingNotConfigured("Stripe is not configured: STRIPE_SECRET_KEY (or STRIPE_SECRET_NAME) is missing")
    return StripeGateway(_client(key, settings.stripe_api_base, settings.stripe_timeout_s, settings.stripe_max_retries))
