"""The billing run's bulk path issues the same invoices `issue_invoice` would, with history, for every kind of customer."""

import datetime as dt
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta

from core import clock
from core.billing.models import Coupon, Invoice, TaxRate
from core.billing.services import billing_run, bulk_invoices, invoices
from core.billing.services.integrity import check_invoices
from tests.factories import CustomerFactory, PriceFactory

D = Decimal
pytestmark = pytest.mark.django_db

RENEW_DAY = dt.datetime(2026, 1, 25, 6, tzinfo=dt.UTC)
SNAPSHOT_FIELDS = ("subtotal", "discount_total", "tax_total", "total", "tax_breakdown", "reverse_charge", "tax_note")


def _renew():
    with clock.frozen_at(RENEW_DAY):
        summary = billing_run.RunSummary(date="x")
        billing_run.issue_renewals(clock.now(), summary, batch_size=3)
    assert not summary.errors
    return summary


def _issued_the_slow_way(renewal: Invoice) -> Invoice:
    """The same lines issued one by one through issue_invoice, for comparison."""
    lines = [
        {"description": ln.description, "unit_amount": ln.unit_amount, "amount": ln.amount, "kind": ln.kind}
        for ln in renewal.lines.order_by("position")
    ]
    draft = invoices.create_draft_invoice(renewal.customer, lines=lines)
    with clock.frozen_at(RENEW_DAY):
        return invoices.issue_invoice(draft, email=False, due_date=renewal.due_date)


@pytest.fixture
def tax_table(settings):
    settings.COMPANY = {**settings.COMPANY, "country": "DE"}
    TaxRate.objects.create(name="Sales tax 7%", country="US", region="", rate=D("7.000"))
    TaxRate.objects.create(name="NY tax 8.875%", country="US", region="NY", rate=D("8.875"))
    TaxRate.objects.create(name="VAT 19%", country="DE", region="", rate=D("19.000"))
    TaxRate.objects.create(name="VAT 21%", country="NL", region="", rate=D("21.000"), is_eu_vat=True)


def test_bulk_renewals_match_issue_invoice_for_every_tax_treatment(subscribed, tax_table):
    people = [
        CustomerFactory(country="US", region="", auto_apply_credit=False),
        CustomerFactory(country="US", region="NY", auto_apply_credit=False),
        CustomerFactory(country="US", is_tax_exempt=True, auto_apply_credit=False),
        CustomerFactory(country="DE", auto_apply_credit=False),
        CustomerFactory(country="NL", vat_id="NL004495445B01", auto_apply_credit=False),  # B2B reverse charge
        CustomerFactory(country="NL", vat_id="", auto_apply_credit=False),
        CustomerFactory(country="US", region="NY", address_line2="Suite 5 'B'", auto_apply_credit=False),
    ]
    coupon = Coupon.objects.create(code="TENOFF", kind="percent", percent=D("10"), duration="forever")
    subs = []
    for i, person in enumerate(people):
        price = PriceFactory(currency=person.currency, amount=D("19.99"))
        subs.append(subscribed(customer=person, price=price, coupon=coupon if i % 2 else None))
    _renew()
    treatments = set()
    for sub in subs:
        renewal = Invoice.objects.get(subscription=sub)
        slow = _issued_the_slow_way(renewal)
        for name in SNAPSHOT_FIELDS:
            assert getattr(renewal, name) == getattr(slow, name), (sub.customer.country, name)
        assert renewal.billing_details == sub.customer.billing_address() == slow.billing_details
        assert renewal.seller_details == slow.seller_details
        assert [(ln.tax_rate, ln.tax_name, ln.tax_amount) for ln in renewal.lines.order_by("position")] == [
            (ln.tax_rate, ln.tax_name, ln.tax_amount) for ln in slow.lines.order_by("position")
        ]
        assert renewal.snapshot_hash == renewal.compute_snapshot_hash()
        assert all(ln.subscription_id == sub.pk for ln in renewal.lines.all())
        treatments.add((renewal.tax_total > 0, renewal.reverse_charge, renewal.tax_note))
    assert len(treatments) == 3  # taxed, reverse charge, exempt
    assert check_invoices() == []


def test_each_renewal_invoice_gets_one_history_row_from_the_billing_run(subscribed):
    subs = [subscribed() for _ in range(4)]
    _renew()
    for sub in subs:
        invoice = Invoice.objects.get(subscription=sub)
        (row,) = invoice.history.all()
        assert row.history_type == "+" and row.history_change_reason == "billing run"
        assert row.history_user_id is None and row.history_date == invoice.issued_at
        tracked = [f.attname for f in Invoice.history.model._meta.concrete_fields if not f.name.startswith("history")]
        assert {n: getattr(row, n) for n in tracked} == {n: getattr(invoice, n) for n in tracked}
    invoice.void_reason = "x"
    invoice.status = Invoice.Status.VOID
    invoice.save()
    assert invoice.history.count() == 2  # later changes add rows as usual


def test_history_rows_are_skipped_when_simple_history_is_disabled(subscribed, settings):
    settings.SIMPLE_HISTORY_ENABLED = False
    sub = subscribed()
    _renew()
    assert Invoice.objects.get(subscription=sub).history.count() == 0


def test_coupon_cycles_count_down_per_subscription_in_one_batch(subscribed):
    coupon = Coupon.objects.create(
        code="HALF", kind="percent", percent=D("50"), duration="repeating", duration_cycles=3
    )
    last = subscribed(coupon=coupon, coupon_cycles_remaining=1)
    two = subscribed(coupon=coupon, coupon_cycles_remaining=2)
    forever = subscribed(coupon=coupon, coupon_cycles_remaining=None)
    used_up = subscribed(coupon=coupon, coupon_cycles_remaining=0)
    _renew()
    totals = {s.pk: Invoice.objects.get(subscription=s).total for s in (last, two, forever, used_up)}
    assert totals == {last.pk: D("10.00"), two.pk: D("10.00"), forever.pk: D("10.00"), used_up.pk: D("20.00")}
    for sub in (last, two, forever, used_up):
        sub.refresh_from_db()
    assert (last.coupon_id, last.coupon_cycles_remaining) == (None, 0)
    assert (two.coupon_id, two.coupon_cycles_remaining) == (coupon.pk, 1)
    assert (forever.coupon_id, forever.coupon_cycles_remaining) == (coupon.pk, None)
    assert used_up.coupon_cycles_remaining == 0


@pytest.mark.django_db(transaction=True)
def test_bulk_issue_needs_the_transaction_that_took_the_numbers():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        bulk_invoices.issue_invoices_in_bulk(
            [], numbers=[], series="invoice", issue_date=dt.date(2026, 1, 25), purpose="renewal", change_reason="x"
        )


def test_awkward_text_survives_the_row_writer(subscribed):
    customer = CustomerFactory(
        company='O\'Brien & Sons 100% \\ "quoted" %s %(x)s', city="Zürich ☃", auto_apply_credit=False
    )
    sub = subscribed(customer=customer)
    sub.price.product.name = "Plan 50% off; DROP TABLE x; -- 'q'"
    sub.price.product.save()
    _renew()
    invoice = Invoice.objects.get(subscription=sub)
    assert invoice.billing_details["company"] == customer.company
    assert invoice.billing_details["city"] == "Zürich ☃"
    assert invoice.lines.get().description.startswith("Plan 50% off; DROP TABLE x; -- 'q': 2026-02-01")
    assert invoice.snapshot_hash == invoice.compute_snapshot_hash()


def test_subscriptions_of_one_plan_keep_their_own_periods(subscribed):
    """Pricing is shared per plan; each invoice still covers its own subscription's next period."""
    price = PriceFactory(amount=D("20.00"))
    customer = CustomerFactory(currency=price.currency, auto_apply_credit=False)
    ends = [
        dt.datetime(2026, 1, 28, 9, 15, 7, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 31, 23, 59, 59, tzinfo=dt.UTC),  # next period ends on 28 February
        dt.datetime(2026, 1, 28, 9, 15, 7, tzinfo=dt.UTC),
    ]
    subs = [
        subscribed(customer=customer, price=price, start=end - dt.timedelta(days=31), end=end, payment_method=None)
        for end in ends
    ]
    _renew()
    for sub in subs:
        line = Invoice.objects.get(subscription=sub).lines.get()
        start = sub.current_period_end
        end = start + relativedelta(months=1)
        assert (line.period_start, line.period_end) == (start, end)
        assert line.description == f"{price.product.name}: {start:%Y-%m-%d} to {end:%Y-%m-%d} (Monthly)"
    assert Invoice.objects.get(subscription=subs[1]).lines.get().period_end.date() == dt.date(2026, 2, 28)
    assert check_invoices() == []
