import datetime as dt
from decimal import Decimal

import pytest

from core import clock
from core.billing.errors import CouponError, OrderError, SubscriptionError
from core.billing.models import Coupon, CouponAmount, CreditEntry, Invoice, Order, Subscription
from core.billing.services import coupons, credit, orders, payments, proration, subscriptions
from tests.factories import CurrencyFactory, CustomerFactory, PriceFactory, ProductFactory, ServiceFactory

D = Decimal
pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 4, 10, 12, tzinfo=dt.UTC)


def _pay(invoice, ref="t"):
    payments.record_payment(invoice, amount=invoice.amount_due, gateway="manual", gateway_transaction_id=ref)


def test_order_issues_first_invoice_with_setup_fee_and_fulfils_when_paid(
    provisioning, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(auto_apply_credit=False)
    price = PriceFactory(currency=customer.currency, amount=D("20.00"), setup_fee=D("5.00"))
    with clock.frozen_at(NOW):
        order = orders.place_order(customer, [{"price": price, "hostname": "web1"}])
    inv = order.invoice
    assert inv.status == Invoice.Status.ISSUED and inv.total == D("25.00")
    assert [ln.kind for ln in inv.lines.all()] == ["item", "setup"]
    assert ("check_capacity", price.product.pk) in provisioning.calls
    with clock.frozen_at(NOW), django_capture_on_commit_callbacks(execute=True):
        _pay(inv)
    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    sub = order.items.get().subscription
    assert sub.current_period_start == NOW and sub.current_period_end == dt.datetime(2026, 5, 10, 12, tzinfo=dt.UTC)
    assert ("create_service", sub.pk) in provisioning.calls
    orders.fulfil_order(order)  # idempotent
    assert provisioning.names().count("create_service") == 1


def test_order_refused_without_capacity_writes_nothing(provisioning):
    provisioning.capacity_error = "No hypervisor has room"
    customer = CustomerFactory()
    with pytest.raises(OrderError, match="No hypervisor has room"):
        orders.place_order(customer, [{"price": PriceFactory(currency=customer.currency)}])
    assert not Order.objects.exists() and not Invoice.objects.exists()


def test_order_in_wrong_currency_is_refused(provisioning):
    customer = CustomerFactory()
    with pytest.raises(OrderError, match="priced in EUR"):
        orders.place_order(customer, [{"price": PriceFactory(currency=CurrencyFactory(code="EUR"))}])


def test_percent_coupon_once_discounts_only_first_invoice(provisioning, django_capture_on_commit_callbacks):
    Coupon.objects.create(code="WELCOME", kind="percent", percent=D("25"), duration="once")
    customer = CustomerFactory(auto_apply_credit=False)
    price = PriceFactory(currency=customer.currency, amount=D("40.00"))
    order = orders.place_order(customer, [{"price": price}], coupon_code="welcome")
    assert order.invoice.total == D("30.00")
    with django_capture_on_commit_callbacks(execute=True):
        _pay(order.invoice)
    sub = order.items.get().subscription
    assert sub.coupon is None


def test_fixed_coupon_per_currency_for_chosen_products_and_repeating_cycles(
    provisioning, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(auto_apply_credit=False)
    product = ProductFactory()
    coupon = Coupon.objects.create(
        code="FIVE", kind="fixed", duration="repeating", duration_cycles=3, applies_to_all_products=False
    )
    coupon.products.add(product)
    CouponAmount.objects.create(coupon=coupon, currency=customer.currency, amount=D("5.00"))
    with pytest.raises(CouponError, match="does not apply"):
        orders.place_order(customer, [{"price": PriceFactory(currency=customer.currency)}], coupon_code="FIVE")
    order = orders.place_order(
        customer, [{"price": PriceFactory(product=product, currency=customer.currency)}], coupon_code="FIVE"
    )
    assert order.invoice.total == D("15.00")
    with django_capture_on_commit_callbacks(execute=True):
        _pay(order.invoice)
    sub = order.items.get().subscription
    assert sub.coupon == coupon and sub.coupon_cycles_remaining == 2


def test_coupon_limits_expiry_and_per_customer(provisioning):
    customer = CustomerFactory()
    expired = Coupon.objects.create(
        code="OLD", kind="percent", percent=D("10"), expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    with pytest.raises(CouponError, match="expired"):
        coupons.redeem_coupon(expired, customer)
    once = Coupon.objects.create(code="ONE", kind="percent", percent=D("10"), max_per_customer=1)
    coupons.redeem_coupon(once, customer)
    with pytest.raises(CouponError, match="already used"):
        coupons.redeem_coupon(once, customer)
    full = Coupon.objects.create(code="FULL", kind="percent", percent=D("10"), max_redemptions=1, times_redeemed=1)
    with pytest.raises(CouponError, match="maximum"):
        coupons.redeem_coupon(full, CustomerFactory())


def test_trial_coupon_extends_trial_and_first_invoice_is_free(provisioning, django_capture_on_commit_callbacks):
    Coupon.objects.create(code="TRY", kind="trial", trial_extension_days=14)
    customer = CustomerFactory()
    price = PriceFactory(currency=customer.currency, trial_days=7)
    with clock.frozen_at(NOW), django_capture_on_commit_callbacks(execute=True):
        order = orders.place_order(customer, [{"price": price}], coupon_code="TRY")
    assert order.invoice.total == D("0.00") and order.invoice.status == Invoice.Status.PAID
    order.refresh_from_db()
    sub = order.items.get().subscription
    assert sub.status == Subscription.Status.TRIALING
    assert sub.trial_end == NOW + dt.timedelta(days=21)


def _running_sub(amount="30.00"):
    customer = CustomerFactory(auto_apply_credit=False)
    price = PriceFactory(currency=customer.currency, amount=D(amount))
    return subscriptions.start_subscription(customer, price, start=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))


def test_preview_prorates_by_seconds_and_upgrade_invoices_the_difference(provisioning):
    sub = _running_sub("30.00")  # April: 30 days
    service = ServiceFactory(customer=sub.customer, subscription=sub)
    bigger = PriceFactory(currency=sub.currency, amount=D("60.00"))
    at = dt.datetime(2026, 4, 16, tzinfo=dt.UTC)  # 15 of 30 days left, exactly half
    preview = proration.preview_change_plan(sub, bigger, at=at)
    assert preview.fraction == D("0.5")
    assert [ln["amount"] for ln in preview.lines] == [D("-15.00"), D("30.00")]
    assert preview.net == D("15.00") and preview.is_upgrade
    with clock.frozen_at(at):
        result = proration.change_plan(sub, bigger)
    assert result.invoice.purpose == Invoice.Purpose.UPGRADE and result.invoice.total == D("15.00")
    assert ("change_package", service.pk, bigger.product.pk) in provisioning.calls
    sub.refresh_from_db()
    assert sub.price == bigger and sub.amount == D("60.00")


def test_fraction_counts_seconds_not_days():
    sub = _running_sub()
    at = dt.datetime(2026, 4, 16, 6, tzinfo=dt.UTC)  # 14.75 days of 30 left
    assert subscriptions.unused_fraction(sub, at) == D(14 * 86400 + 18 * 3600) / D(30 * 86400)


def test_downgrade_gives_credit_or_nothing_by_setting(provisioning, settings):
    sub = _running_sub("60.00")
    smaller = PriceFactory(currency=sub.currency, amount=D("30.00"))
    at = dt.datetime(2026, 4, 16, tzinfo=dt.UTC)
    with clock.frozen_at(at):
        result = proration.change_plan(sub, smaller)
    assert result.invoice is None and result.credit == D("15.00")
    assert credit.credit_balance(sub.customer) == D("15.00")
    settings.BILLING = {**settings.BILLING, "DOWNGRADE_GIVES_CREDIT": False}
    sub2 = _running_sub("60.00")
    with clock.frozen_at(at):
        assert proration.change_plan(sub2, PriceFactory(currency=sub2.currency, amount=D("30"))).credit == 0


def test_plan_change_refuses_other_cycle():
    sub = _running_sub()
    with pytest.raises(SubscriptionError, match="billing cycle"):
        proration.preview_change_plan(sub, PriceFactory(currency=sub.currency, cycle="annual"))


def test_cancel_at_period_end_keeps_survey_and_staff_can_cancel_now_with_credit(provisioning):
    sub = _running_sub("30.00")
    subscriptions.cancel_subscription(sub, reason="too_expensive", comment="Found cheaper")
    sub.refresh_from_db()
    assert sub.cancel_at_period_end and sub.cancel_reason == "too_expensive" and sub.cancel_comment == "Found cheaper"
    assert sub.status == Subscription.Status.ACTIVE
    other = _running_sub("30.00")
    service = ServiceFactory(customer=other.customer, subscription=other)
    with clock.frozen_at(dt.datetime(2026, 4, 16, tzinfo=dt.UTC)):
        subscriptions.cancel_subscription_now(other, actor=None, reason="other", prorated_credit=True)
    other.refresh_from_db()
    assert other.status == Subscription.Status.CANCELLED
    assert credit.credit_balance(other.customer) == D("15.00")
    assert CreditEntry.objects.get(customer=other.customer).reason == CreditEntry.Reason.CANCELLATION
    assert ("terminate", service.pk) in [c[:2] for c in provisioning.calls]
