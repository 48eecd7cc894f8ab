"""API test fixtures: a customer with a token for every scope and one object of each kind (`world`),
the same for a second customer (`other_world`), and a small JSON client that sends the token."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.test import Client, TestCase

from core import clock
from core.accounts.services import create_api_token
from core.billing.models import Order, OrderItem
from core.billing.services.invoices import create_draft_invoice, issue_invoice
from core.billing.services.methods import save_payment_method
from core.provisioning.services import create_service
from tests.factories import (
    CurrencyFactory,
    CustomerFactory,
    PlatformConnectionFactory,
    PriceFactory,
    ProductFactory,
    SubscriptionFactory,
)

ALL_SCOPES = ["read", "write", "services", "billing"]


@pytest.fixture(autouse=True)
def api_settings(settings):
    settings.PAYMENT_GATEWAYS = ["sandbox", "manual"]
    settings.API_RATE_LIMIT = "100000/m"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DISCORD_WEBHOOK_URL = ""  # staff alerts are not what these tests check: none are queued
    settings.DISCORD_WEBHOOKS = {}
    return settings


class Api:
    """Django's test client speaking JSON with `Authorization: Bearer <secret>`."""

    def __init__(self, secret: str | None, client: Client | None = None):
        self.secret = secret
        self.client = client or Client()

    def _headers(self, headers):
        base = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        return {**base, **(headers or {})}

    def get(self, path, params=None, headers=None):
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def _send(self, method, path, data, headers):
        body = json.dumps(data) if data is not None else ""
        return getattr(self.client, method)(path, body, content_type="application/json",
                                            headers=self._headers(headers))  # fmt: skip

    def post(self, path, data=None, headers=None, key=None):
        if key is not None:
            headers = {**(headers or {}), "Idempotency-Key": key}
        return self._send("post", path, data if data is not None else {}, headers)

    def patch(self, path, data=None, headers=None):
        return self._send("patch", path, data or {}, headers)

    def delete(self, path, headers=None):
        return self._send("delete", path, None, headers)


def token_for(customer, scopes=ALL_SCOPES, name="test") -> str:
    return create_api_token(customer.user, name=name, scopes=scopes)[1]


@dataclass
class World:
    """One customer's API token and one of each object the API reaches."""

    customer: object
    secret: str
    api: Api
    price: object
    bigger_price: object
    subscription: object
    service: object
    invoice: object
    method: object
    order: object
    token: object = None
    extra: dict = field(default_factory=dict)


def build_world(name: str = "a") -> World:
    usd = CurrencyFactory(code="USD")
    customer = CustomerFactory(currency=usd, country="US")
    connection = PlatformConnectionFactory(defaults={"build_seconds": 0})
    product = ProductFactory(platform_connection=connection, order_options={"hostname": "optional"})
    price = PriceFactory(product=product, currency=usd, amount=Decimal("10.00"))
    bigger = PriceFactory(product=ProductFactory(platform_connection=connection), currency=usd,
                          amount=Decimal("30.00"))  # fmt: skip
    now = clock.now().replace(microsecond=0)
    subscription = SubscriptionFactory(customer=customer, price=price, current_period_start=now - dt.timedelta(days=10),
                                       current_period_end=now + dt.timedelta(days=20))  # fmt: skip
    order = Order.objects.create(customer=customer, currency=usd, status="paid")
    item = OrderItem.objects.create(order=order, price=price, quantity=1, subscription=subscription)
    with TestCase.captureOnCommitCallbacks(execute=True):  # the sandbox builds the server at once
        service = create_service(subscription, item)
    service.refresh_from_db()
    assert service.status == "active", service.last_error
    draft = create_draft_invoice(customer, lines=[{"description": "VPS", "quantity": Decimal("1"),
                                                   "unit_amount": Decimal("10.00")}])  # fmt: skip
    invoice = issue_invoice(draft, email=False)
    method = save_payment_method(customer, "sandbox", "4242424242424242")
    order.invoice = invoice
    order.save(update_fields=["invoice"])
    secret = token_for(customer, name=f"{name}-all")
    world = World(customer=customer, secret=secret, api=Api(secret), price=price, bigger_price=bigger,
                  subscription=subscription, service=service, invoice=invoice, method=method, order=order)  # fmt: skip
    from core.accounts.models import ApiToken

    world.token = ApiToken.objects.get(user=customer.user, name=f"{name}-all")
    return world


@pytest.fixture
def world(db):
    return build_world("a")


@pytest.fixture
def other_world(db, world):
    return build_world("b")
