import pytest

from core.billing.models import Order, OrderItem
from core.catalog.models import Price
from core.provisioning.models import ProvisioningJob
from core.provisioning.services import lifecycle
from tests.factories import (
    CustomerFactory,
    PlatformConnectionFactory,
    PriceFactory,
    ProductFactory,
    SubscriptionFactory,
)


@pytest.fixture(autouse=True)
def _provisioning_settings(settings):
    settings.PROVISIONING = {"MAX_ATTEMPTS": 3, "RETRY_BASE_SECONDS": 30, "POLL_INTERVAL_SECONDS": 10}
    settings.DISCORD_WEBHOOK_URL = "https://discord.invalid/api/webhooks/1/x"


@pytest.fixture(autouse=True)
def _no_discord(monkeypatch):
    """Discord alerts are recorded as Notification rows; delivery is not what these tests check."""
    monkeypatch.setattr("core.notifications.services.deliver_discord", lambda *a, **k: "sent")


@pytest.fixture
def sandbox(db):
    return PlatformConnectionFactory(defaults={"build_seconds": 0})


@pytest.fixture
def product(sandbox):
    return ProductFactory(platform="sandbox", platform_connection=sandbox)


def paid_item(product, customer=None):
    """A subscription and its order item, as billing's fulfil_order hands them to create_service."""
    customer = customer or CustomerFactory()
    price = Price.objects.filter(product=product, currency=customer.currency).first() or PriceFactory(
        product=product, currency=customer.currency
    )
    subscription = SubscriptionFactory(customer=customer, price=price)
    order = Order.objects.create(customer=customer, currency=customer.currency, status="paid")
    item = OrderItem.objects.create(order=order, price=price, hostname="", subscription=subscription)
    return subscription, item


def run_due_jobs(limit: int = 50) -> int:
    """What the django-q2 scheduler does for jobs waiting on backoff or build polling."""
    ran = 0
    while ran < limit:
        job = ProvisioningJob.objects.filter(outcome="queued").order_by("pk").first()
        if job is None:
            break
        lifecycle.run_job(job.pk)
        ran += 1
    return ran
