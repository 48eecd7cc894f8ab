import json
from decimal import Decimal
from pathlib import Path

import pytest
import respx
import stripe
from django.core.cache import cache

from core.billing.models import Invoice
from core.billing.services.invoices import create_draft_invoice, issue_invoice
from tests.factories import CurrencyFactory, CustomerFactory

PAYLOADS = Path(__file__).parent / "payloads"
STRIPE_WEBHOOK_SECRET = "whsec_test_0123456789abcdef"


def load_text(name: str, **subs) -> str:
    text = (PAYLOADS / name).read_text()
    for key, value in subs.items():
        text = text.replace(f"__{key.upper()}__", str(value))
    return text


def load(name: str, **subs):
    return json.loads(load_text(name, **subs))


@pytest.fixture(autouse=True)
def payment_settings(settings):
    settings.PAYMENT_GATEWAYS = ["sandbox", "manual", "stripe", "paypal"]
    settings.ALLOW_REAL_EXTERNAL_CALLS = True  # safe: every HTTP call in these tests is intercepted by respx
    settings.STRIPE_SECRET_KEY = "sk_test_51Example000000000000000000"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_51Example000000000000000000"
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET
    settings.PAYPAL_CLIENT_ID = "AZexampleClientId"
    settings.PAYPAL_CLIENT_SECRET = "EFexampleSecret"
    settings.PAYPAL_WEBHOOK_ID = "1JE4291016473214C"
    settings.PAYPAL_MODE = "sandbox"
    settings.SANDBOX_WEBHOOK_SECRET = "sandbox-test-secret"
    settings.DISCORD_WEBHOOK_URL = "https://discord.com/api/webhooks/1/test"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


@pytest.fixture(autouse=True)
def no_stripe_backoff(monkeypatch):
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, *a, **k: 0)


@pytest.fixture
def stripe_api():
    with respx.mock(base_url="https://api.stripe.com", assert_all_called=False) as mock:
        yield mock


def make_invoice(customer=None, *, amount=Decimal("23.80"), currency="USD") -> Invoice:
    if customer is None:
        customer = CustomerFactory(currency=CurrencyFactory(code=currency))
    draft = create_draft_invoice(
        customer,
        currency=currency,
        lines=[{"description": "VPS 4 GB", "quantity": Decimal("1"), "unit_amount": amount}],
    )
    return issue_invoice(draft, email=False)


@pytest.fixture
def invoice(db):
    return make_invoice()


PAYPAL_BASE = "https://api-m.sandbox.paypal.com"


@pytest.fixture(autouse=True)
def fresh_token_cache():
    """PayPal's OAuth token is cached in Django's cache: each test starts without one."""
    cache.clear()


@pytest.fixture
def paypal():
    with respx.mock(base_url=PAYPAL_BASE, assert_all_called=False) as mock:
        mock.post("/v1/oauth2/token").respond(200, json=load("paypal/oauth_token.json"))
        yield mock
