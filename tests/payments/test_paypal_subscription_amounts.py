"""PayPal subscriptions collect the customer's real renewal total (tax, coupon), from the next unpaid period.

Design: one PayPal plan per Price fixes product, interval and currency; each subscription carries
PayPal's `plan` override (billing_cycles[sequence 1].pricing_scheme.fixed_price) set to the total
our own billing run would invoice, and after every sale the next amount is patched if it moved.
"""

import datetime as dt
import json
from decimal import Decimal

import pytest

from core import clock
from core.billing.models import Coupon, Invoice, PaymentMethod
from core.billing.services import methods
from core.billing.services.payments import record_payment
from tests.factories import SubscriptionFactory, TaxRateFactory
from tests.payments.conftest import load, make_invoice
from tests.payments.test_paypal import deliver

pytestmark = pytest.mark.django_db
PLAN = "P-17M15335A8501272JLXLLNKI"


@pytest.fixture
def sales_tax():
    return TaxRateFactory(country="US", region="", name="Sales tax 19%", rate=Decimal("19.000"), is_eu_vat=False)


def paypal_sub(**kwargs):
    start = clock.now().replace(microsecond=0)
    return SubscriptionFactory(
        price__paypal_plan_id=PLAN, current_period_start=start, current_period_end=start + dt.timedelta(days=30),
        **kwargs,
    )  # fmt: skip


def begin(paypal, sub):
    route = paypal.post("/v1/billing/subscriptions").respond(201, json=load("paypal/subscription_created.json"))
    methods.begin_gateway_subscription(sub, "paypal", return_url="https://x/ok", cancel_url="https://x/no")
    return json.loads(route.calls.last.request.content), route.calls.last.request.headers


def fixed_price(body):
    (cycle,) = body["plan"]["billing_cycles"]
    assert (cycle["sequence"], cycle["total_cycles"]) == (1, 0)
    return cycle["pricing_scheme"]["fixed_price"]


def test_amount_is_the_taxed_discounted_renewal_total_not_the_catalog_price(paypal, sales_tax):
    coupon = Coupon.objects.create(code="TENOFF", kind="percent", percent=Decimal("10"), duration="forever")
    sub = paypal_sub(coupon=coupon, coupon_cycles_remaining=None)
    body, headers = begin(paypal, sub)

    # 20.00 - 10% = 18.00, + 19% tax = 21.42 (the same figure the billing run puts on the renewal invoice).
    assert fixed_price(body) == {"value": "21.42", "currency_code": "USD"}
    assert body["plan_id"] == PLAN and body["custom_id"] == str(sub.uuid)
    # A different amount is a different request: PayPal must not replay an older subscription.
    assert headers["PayPal-Request-Id"].endswith("-21.42")


def test_first_charge_waits_for_the_end_of_the_paid_period(paypal):
    sub = paypal_sub()
    body, _ = begin(paypal, sub)
    assert body["start_time"] == sub.current_period_end.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert fixed_price(body)["value"] == "20.00"


def test_an_open_renewal_invoice_is_collected_at_once_for_what_is_left_on_it(paypal):
    sub = paypal_sub()
    waiting = make_invoice(sub.customer, amount=Decimal("20.00"))
    Invoice.objects.filter(pk=waiting.pk).update(subscription=sub, purpose="renewal")
    record_payment(waiting, amount=Decimal("5.00"), gateway="manual", gateway_transaction_id="manual:part")
    body, _ = begin(paypal, sub)
    assert "start_time" not in body
    assert fixed_price(body)["value"] == "15.00"


def test_a_paid_next_period_moves_the_first_charge_one_cycle_on(paypal):
    sub = paypal_sub()
    paid = make_invoice(sub.customer, amount=Decimal("20.00"))
    Invoice.objects.filter(pk=paid.pk).update(
        subscription=sub, purpose="renewal", renewal_period_start=sub.current_period_end
    )
    record_payment(paid, amount=Decimal("20.00"), gateway="manual", gateway_transaction_id="manual:paid")
    body, _ = begin(paypal, sub)
    start = dt.datetime.fromisoformat(body["start_time"].replace("Z", "+00:00"))
    assert start > sub.current_period_end + dt.timedelta(days=27)


def test_limited_coupon_discounts_only_while_cycles_remain(paypal):
    coupon = Coupon.objects.create(
        code="3MONTHS", kind="percent", percent=Decimal("50"), duration="repeating", duration_cycles=3
    )
    assert fixed_price(begin(paypal, paypal_sub(coupon=coupon, coupon_cycles_remaining=2))[0])["value"] == "10.00"
    assert fixed_price(begin(paypal, paypal_sub(coupon=coupon, coupon_cycles_remaining=0))[0])["value"] == "20.00"


class TestAmountFollowsTheNextInvoice:
    @pytest.fixture(autouse=True)
    def quiet(self, settings, paypal):
        settings.DISCORD_WEBHOOK_URL = ""
        paypal.post("/v1/notifications/verify-webhook-signature").respond(200, json=load("paypal/verify_success.json"))

    def sale(self, client, sub, django_capture_on_commit_callbacks):
        renewal = make_invoice(sub.customer, amount=Decimal("20.00"))
        Invoice.objects.filter(pk=renewal.pk).update(subscription=sub, purpose="renewal")
        with django_capture_on_commit_callbacks(execute=True):
            deliver(client, "event_sale_completed.json", subscription_uuid=sub.uuid, sale_time="2026-11-26T10:00:00Z")
        return Invoice.objects.get(pk=renewal.pk)

    def test_sale_for_a_different_amount_than_the_next_invoice_patches_paypal(
        self,
        client,
        paypal,
        sales_tax,
        django_capture_on_commit_callbacks,
    ):
        patch = paypal.patch("/v1/billing/subscriptions/I-BW452GLLEP1G").respond(204)
        sub = paypal_sub(gateway="paypal", gateway_subscription_id="I-BW452GLLEP1G")
        assert self.sale(client, sub, django_capture_on_commit_callbacks).amount_paid == Decimal("20.00")

        # PayPal collected 20.00; with 19% tax the next renewal is 23.80.
        assert json.loads(patch.calls.last.request.content) == [{
            "op": "replace", "path": "/plan/billing_cycles/@sequence==1/pricing_scheme/fixed_price",
            "value": {"currency_code": "USD", "value": "23.80"},
        }]  # fmt: skip

    def test_sale_matching_the_next_invoice_changes_nothing_at_paypal(
        self,
        client,
        paypal,
        django_capture_on_commit_callbacks,
    ):
        patch = paypal.patch("/v1/billing/subscriptions/I-BW452GLLEP1G").respond(204)
        sub = paypal_sub(gateway="paypal", gateway_subscription_id="I-BW452GLLEP1G")
        self.sale(client, sub, django_capture_on_commit_callbacks)
        assert patch.call_count == 0

    def test_paypal_refusing_the_new_amount_alerts_staff(
        self,
        client,
        paypal,
        sales_tax,
        settings,
        django_capture_on_commit_callbacks,
    ):
        from core.notifications.models import Notification

        paypal.patch("/v1/billing/subscriptions/I-BW452GLLEP1G").respond(
            422, json=load("paypal/error_unprocessable.json")
        )
        settings.DISCORD_WEBHOOK_URL = "https://discord.com/api/webhooks/1/test"
        sub = paypal_sub(gateway="paypal", gateway_subscription_id="I-BW452GLLEP1G")
        renewal = make_invoice(sub.customer, amount=Decimal("20.00"))
        Invoice.objects.filter(pk=renewal.pk).update(subscription=sub, purpose="renewal")
        deliver(client, "event_sale_completed.json", subscription_uuid=sub.uuid, sale_time="2026-11-26T10:00:00Z")
        sub.refresh_from_db()
        assert methods.sync_gateway_subscription_amount(sub, Decimal("20.00")) is False
        assert Notification.objects.filter(subject__contains="amount not updated").count() == 1


def test_choosing_a_card_cancels_the_paypal_subscription_first(paypal):
    sub = paypal_sub(gateway="paypal", gateway_subscription_id="I-BW452GLLEP1G")
    methods.store_saved_method(
        sub.customer,
        methods.SavedMethod(gateway="paypal", method_id="I-BW452GLLEP1G", kind="subscription", label="PayPal"),
        make_default=False,
    )
    card = methods.save_payment_method(sub.customer, "sandbox", "4242424242424242")
    cancel = paypal.post("/v1/billing/subscriptions/I-BW452GLLEP1G/cancel").respond(204)

    methods.set_subscription_payment_method(sub, card)

    assert cancel.call_count == 1
    sub.refresh_from_db()
    assert (sub.payment_method, sub.gateway, sub.gateway_subscription_id) == (card, "sandbox", "")
    assert PaymentMethod.objects.get(gateway_method_id="I-BW452GLLEP1G").removed_at is not None
