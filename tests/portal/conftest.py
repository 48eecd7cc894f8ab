"""Portal test helpers: a sandbox platform and gateway, a customer with a VPS plan to order."""

from decimal import Decimal

import pytest

from core.provisioning.models import ProvisioningJob
from core.provisioning.services import lifecycle
from tests.billing.conftest import provisioning  # noqa: F401  (the recording stand-in for provisioning)
from tests.factories import CurrencyFactory, CustomerFactory, PlatformConnectionFactory, PriceFactory, ProductFactory

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
VPS_OPTIONS = {
    "hostname": "required",
    "locations": [{"id": 1, "label": "Frankfurt"}, {"id": 2, "label": "Dallas"}],
    "os_templates": [{"id": 12, "label": "Debian 12"}, {"id": 14, "label": "Ubuntu 24.04"}],
}


@pytest.fixture
def sandbox_portal(settings):
    settings.PAYMENT_GATEWAYS = ["sandbox", "manual"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DISCORD_WEBHOOK_URL = ""
    return settings


@pytest.fixture
def platform(db):
    return PlatformConnectionFactory(defaults={"build_seconds": 60})


@pytest.fixture
def vps_price(platform):
    product = ProductFactory(
        name="VPS 4 GB", slug="vps-4gb", platform="sandbox", platform_connection=platform, order_options=VPS_OPTIONS
    )
    return PriceFactory(product=product, currency=CurrencyFactory(code="USD"), amount=Decimal("20.00"))


@pytest.fixture
def shopper(db, sandbox_portal):
    return CustomerFactory(currency=CurrencyFactory(code="USD"), country="US", auto_apply_credit=False)


@pytest.fixture
def shopper_client(client, shopper):
    client.force_login(shopper.user, backend=MODEL_BACKEND)
    return client


@pytest.fixture
def commits(monkeypatch):
    """Side effects queued with on_commit (fulfilment, provisioning) run as after a real commit:
    each request's callbacks run when it returns (pytest-django's capture, per request)."""
    from django.test import Client, TestCase

    original = Client.request

    def request(self, **kwargs):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return original(self, **kwargs)

    monkeypatch.setattr(Client, "request", request)


def run_due_jobs(limit: int = 50) -> int:
    """What the django-q2 scheduler does for provisioning jobs waiting on build polling."""
    ran = 0
    while ran < limit:
        job = ProvisioningJob.objects.filter(outcome="queued").order_by("pk").first()
        if job is None:
            break
        lifecycle.run_job(job.pk)
        ran += 1
    return ran
