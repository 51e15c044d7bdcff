"""`make run`'s billing without Stripe keys: the Stripe-shaped fake the tests use, on a local port.

Only when no Stripe key is configured (STRIPE_SECRET_KEY or STRIPE_SECRET_NAME): the billing routes then create
customers, Checkout and portal sessions on the fake, whose URLs are labelled as fake and lead nowhere. Finish a
"purchase" by posting a signed webhook (see the README). With a key set, the real Stripe (test mode) is used.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import Any

FAKE_KEY = "sk_test_local_fake_stripe"  # the fake's own key: it guards nothing
FAKE_PRICES = {"STARTER": "price_local_starter", "PRO": "price_local_pro", "AGENCY": "price_local_agency"}


class LocalStripe:
    """The `stripe` step: starts the fake and points the functions at it, unless a real key is configured."""

    name = "stripe"

    def __init__(self) -> None:
        self.description = ""
        self._running: AbstractContextManager[Any] | None = None

    def start(self) -> None:
        if os.environ.get("STRIPE_SECRET_KEY") or os.environ.get("STRIPE_SECRET_NAME"):
            self.description = "Stripe itself (STRIPE_SECRET_KEY or STRIPE_SECRET_NAME is set)"
            return
        from viral.settings import get_settings

        from local.fakes.stripe_api import FakeStripe

        fake = FakeStripe(api_key=FAKE_KEY, prices=tuple(FAKE_PRICES.values()))
        self._running = fake.running()
        self._running.__enter__()
        os.environ.update(
            STRIPE_SECRET_KEY=FAKE_KEY,
            STRIPE_API_BASE=fake.url,
            **{f"STRIPE_PRICE_{tier}": price for tier, price in FAKE_PRICES.items()},
        )
        get_settings.cache_clear()
        self.description = f"FAKE Stripe on {fake.url} (no real payment; set STRIPE_SECRET_KEY for Stripe test mode)"

    def stop(self) -> None:
        if self._running is not None:
            self._running.__exit__(None, None, None)
            self._running = None
