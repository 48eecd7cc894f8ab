"""The database itself refuses money records that break the business's invariants."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from core.billing.models import Invoice, Payment, WebhookEvent
from core.catalog.models import Price
from tests.factories import (
    CurrencyFactory,
    CustomerFactory,
    InvoiceFactory,
    PaymentFactory,
    PriceFactory,
    ProductFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


def _refused(create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_invoice_numbers_are_unique():
    InvoiceFactory(status="issued", number="INV-2026-000001")
    _refused(lambda: InvoiceFactory(status="issued", number="INV-2026-000001"))


def test_many_drafts_may_share_the_absent_number():
    InvoiceFactory(status="draft", number=None)
    InvoiceFactory(status="draft", number=None)
    assert Invoice.objects.filter(number__isnull=True).count() == 2


def test_issued_invoice_must_have_a_number():
    _refused(lambda: InvoiceFactory(status="issued", number=None))


def test_one_renewal_invoice_per_subscription_period():
    subscription = SubscriptionFactory()
    start = subscription.current_period_end
    InvoiceFactory(customer=subscription.customer, subscription=subscription, renewal_period_start=start)
    _refused(
        lambda: InvoiceFactory(customer=subscription.customer, subscription=subscription, renewal_period_start=start)
    )
    # The next period is a different renewal and is allowed.
    InvoiceFactory(
        customer=subscription.customer,
        subscription=subscription,
        renewal_period_start=start + dt.timedelta(days=30),
    )


def test_one_payment_per_gateway_transaction_id():
    customer = CustomerFactory()
    PaymentFactory(customer=customer, gateway="stripe", gateway_transaction_id="pi_3PabcXYZ")
    _refused(lambda: PaymentFactory(customer=customer, gateway="stripe", gateway_transaction_id="pi_3PabcXYZ"))
    # The same id at another gateway is another transaction.
    PaymentFactory(customer=customer, gateway="paypal", gateway_transaction_id="pi_3PabcXYZ")


def test_payments_without_a_gateway_id_do_not_collide():
    customer = CustomerFactory()
    PaymentFactory(customer=customer, gateway="manual", gateway_transaction_id=None)
    PaymentFactory(customer=customer, gateway="manual", gateway_transaction_id=None)
    assert Payment.objects.filter(gateway="manual", gateway_transaction_id__isnull=True).count() == 2


def test_webhook_event_stored_once_per_gateway():
    WebhookEvent.objects.create(gateway="stripe", event_id="evt_1Nq", event_type="payment_intent.succeeded", payload={})
    _refused(
        lambda: WebhookEvent.objects.create(
            gateway="stripe", event_id="evt_1Nq", event_type="payment_intent.succeeded", payload={}
        )
    )
    WebhookEvent.objects.create(gateway="paypal", event_id="evt_1Nq", event_type="PAYMENT.SALE.COMPLETED", payload={})


@pytest.mark.parametrize(
    "field",
    ["amount", "fee"],
)
def test_payment_amounts_cannot_be_negative(field):
    _refused(lambda: PaymentFactory(**{field: Decimal("-0.01")}))


@pytest.mark.parametrize("field", ["amount", "setup_fee", "overage_per_gb"])
def test_price_amounts_cannot_be_negative(field):
    _refused(lambda: PriceFactory(**{field: Decimal("-1.00")}))


@pytest.mark.parametrize("field", ["amount_paid", "credit_applied", "amount_refunded", "total"])
def test_invoice_amounts_cannot_be_negative(field):
    _refused(lambda: InvoiceFactory(**{field: Decimal("-1.00")}))


def test_credit_note_total_may_be_negative():
    invoice = InvoiceFactory(kind="credit_note", purpose="credit_note", total=Decimal("-25.00"))
    assert invoice.total == Decimal("-25.00")


def test_price_unique_per_product_currency_and_cycle():
    product = ProductFactory()
    usd = CurrencyFactory(code="USD")
    eur = CurrencyFactory(code="EUR")
    PriceFactory(product=product, currency=usd, cycle="monthly")
    _refused(lambda: PriceFactory(product=product, currency=usd, cycle="monthly", amount=Decimal("9.00")))
    PriceFactory(product=product, currency=usd, cycle="annual")
    PriceFactory(product=product, currency=eur, cycle="monthly")
    assert Price.objects.filter(product=product).count() == 3
