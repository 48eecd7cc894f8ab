"""Shared setup of the end-to-end tests: a sandbox platform, a VPS product with stock and a
suspension policy, and a customer with a working saved card (sandbox gateway)."""

from decimal import Decimal

import pytest

from core.billing.models import SuspensionPolicy
from core.billing.services import methods
from tests.factories import CustomerFactory, PlatformConnectionFactory, PriceFactory, ProductFactory

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
SUSPEND_AFTER, TERMINATE_AFTER = 3, 10


@pytest.fixture(autouse=True)
def _world(settings, monkeypatch):
    settings.DISCORD_WEBHOOK_URL = "https://discord.invalid/api/webhooks/1/x"
    # One customer's services are the whole fleet here: the blast-radius share would hold every run.
    settings.BILLING = {**settings.BILLING, "BLAST_RADIUS_MAX_SHARE": None}
    settings.PROVISIONING = {"MAX_ATTEMPTS": 2, "RETRY_BASE_SECONDS": 30}
    # Discord is outside; the alert is still recorded as a Notification row.
    monkeypatch.setattr("core.notifications.services.deliver_discord", lambda *a, **k: "sent")


@pytest.fixture
def sandbox_platform(db):
    return PlatformConnectionFactory(name="sandbox-e2e", platform="sandbox", defaults={"build_seconds": 0})


@pytest.fixture
def vps_price(sandbox_platform):
    product = ProductFactory(
        name="VPS Small", slug="vps-small", platform="sandbox", platform_connection=sandbox_platform, stock_quantity=5
    )
    SuspensionPolicy.objects.update_or_create(
        service_type="vps", defaults={"suspend_after_days": SUSPEND_AFTER, "terminate_after_days": TERMINATE_AFTER}
    )
    return PriceFactory(product=product, amount=Decimal("20.00"), cycle="monthly")


@pytest.fixture
def buyer(vps_price):
    customer = CustomerFactory(currency=vps_price.currency)
    methods.save_payment_method(customer, "sandbox", GOOD_CARD)
    return customer
