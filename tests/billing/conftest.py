"""Billing test helpers: a recording stand-in for provisioning and a fake payment gateway."""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from core.billing.gateways import ChargeResult, ChargeStatus, PaymentGateway
from core.billing.models import PaymentMethod
from tests.factories import CustomerFactory, PriceFactory, SubscriptionFactory


@dataclass
class ProvisioningRecorder:
    """Stands in for core.provisioning.services: records what billing asked for."""

    calls: list = field(default_factory=list)
    capacity_error: str = ""

    def check_capacity(self, product):
        self.calls.append(("check_capacity", product.pk))
        if self.capacity_error:
            from core.provisioning.errors import CapacityError

            raise CapacityError(self.capacity_error)

    def create_service(self, subscription, order_item, *, actor=None):
        from core.provisioning.models import Service

        self.calls.append(("create_service", subscription.pk))
        return Service.objects.create(
            customer=subscription.customer,
            subscription=subscription,
            product=subscription.price.product,
            status="pending",
        )

    def _set(self, service, status, **extra):
        type(service).objects.filter(pk=service.pk).update(status=status, **extra)
        service.refresh_from_db()

    def suspend_service(self, service, *, reason, actor=None):
        self.calls.append(("suspend", service.pk, reason))
        self._set(service, "suspended", suspension_reason=reason)

    def unsuspend_service(self, service, *, actor=None):
        self.calls.append(("unsuspend", service.pk))
        self._set(service, "active", suspension_reason="")

    def terminate_service(self, service, *, reason, actor=None):
        self.calls.append(("terminate", service.pk, reason))
        self._set(service, "terminated")

    def change_service_package(self, service, new_product, *, actor=None):
        self.calls.append(("change_package", service.pk, new_product.pk))

    def names(self):
        return [c[0] for c in self.calls]


@pytest.fixture
def provisioning(monkeypatch):
    recorder = ProvisioningRecorder()
    monkeypatch.setattr("core.billing.services.provisioning_bridge.provisioning", lambda: recorder)
    for module in ("orders", "subscriptions", "suspension", "proration", "billing_run"):
        try:
            monkeypatch.setattr(f"core.billing.services.{module}.provisioning", lambda: recorder)
        except (AttributeError, ImportError):
            pass
    return recorder


class FakeGateway(PaymentGateway):
    """Records every charge; answers from a script of ChargeStatus values (default: succeed)."""

    name = "fake"
    calls: list = []
    script: list = []

    def charge_invoice(self, invoice, *, amount, method_id, attempt, off_session=True):
        FakeGateway.calls.append(
            {
                "invoice": invoice.pk,
                "amount": amount,
                "method": method_id,
                "attempt": attempt,
                "key": f"inv_{invoice.uuid}_attempt_{attempt}",
            }
        )
        status = FakeGateway.script.pop(0) if FakeGateway.script else ChargeStatus.SUCCEEDED
        txn = f"pi_fake_{invoice.pk}_{attempt}"
        if status == ChargeStatus.FAILED:
            return ChargeResult(
                status=status,
                transaction_id=txn,
                failure_code="card_declined",
                failure_message="Your card was declined.",
            )
        if status == ChargeStatus.UNKNOWN:
            return ChargeResult(status=status, failure_message="timeout")
        return ChargeResult(
            status=status,
            transaction_id=txn,
            amount=amount,
            currency=invoice.currency_id,
            action_url="https://fake.invalid/3ds" if status == ChargeStatus.REQUIRES_ACTION else "",
        )

    # The billing run only charges; a call to anything else is a bug the test should see.
    def ensure_customer(self, customer):
        raise NotImplementedError

    def begin_save_method(self, customer, *, return_url=""):
        raise NotImplementedError

    def complete_save_method(self, customer, reference):
        raise NotImplementedError

    def list_methods(self, customer):
        return []

    def remove_method(self, customer, method_id):
        raise NotImplementedError

    def set_default_method(self, customer, method_id):
        raise NotImplementedError

    def refund(self, payment, *, amount, reason=""):
        raise NotImplementedError

    def parse_webhook(self, body, headers):
        return []


@pytest.fixture
def fake_gateway(settings):
    settings.PAYMENT_GATEWAY_CLASSES = {
        **settings.PAYMENT_GATEWAY_CLASSES,
        "fake": "tests.billing.conftest.FakeGateway",
    }
    settings.PAYMENT_GATEWAYS = [*settings.PAYMENT_GATEWAYS, "fake"]
    FakeGateway.calls = []
    FakeGateway.script = []
    return FakeGateway


@pytest.fixture
def subscribed(db):
    """A customer with a saved fake card and an active monthly subscription of USD 20."""

    def make(**kwargs):
        customer = kwargs.pop("customer", None) or CustomerFactory()
        if "payment_method" not in kwargs:  # payment_method=None: a customer without a saved card
            kwargs["payment_method"] = PaymentMethod.objects.create(
                customer=customer, gateway="fake", gateway_method_id=f"pm_{customer.pk}", is_default=True
            )
        price = kwargs.pop("price", None) or PriceFactory(currency=customer.currency)
        start = kwargs.pop("start", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        end = kwargs.pop("end", dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
        return SubscriptionFactory(
            customer=customer,
            price=price,
            gateway="fake",
            current_period_start=start,
            current_period_end=end,
            amount=price.amount,
            **kwargs,
        )

    return make


def D(value) -> Decimal:
    return Decimal(value)
