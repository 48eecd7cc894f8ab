"""Quota alerts once per period each, period close with overage rounded per product and priced per
currency, waive/adjust before invoicing, suspend-at-quota, and what the billing run picks up."""

import datetime as dt
from decimal import Decimal

import pytest

from core import clock
from core.audit.models import AuditLog
from core.notifications.models import Notification
from core.usage import overage, services
from core.usage.errors import ChargeNotEditable, UsageError
from core.usage.models import BandwidthPeriod, BandwidthPolicy

from .conftest import T0, ScriptedSource, make_service

pytestmark = pytest.mark.django_db
GB = 10**9
H = dt.timedelta(hours=1)


def _collect_hours(hours, source, *, at=None):
    at = at or (T0 + (hours[-1] + 2) * H)
    with clock.frozen_at(at):
        for n in hours:
            services.collect_window(T0 + n * H, source=source)
        periods = services.refresh_totals({(T0 + n * H).date() for n in hours})
        return overage.check_quotas(periods)


def test_two_thresholds_crossed_in_one_run_send_one_email_each_once(usage_settings, discord):
    service = make_service("203.0.113.10", quota_gb=100)
    # Catch-up: ten hours at 9.5 GB out each land in one run: 95 % of 100 GB.
    sent = _collect_hours(range(10), ScriptedSource({"203.0.113.10": (GB, 9_500_000_000)}))
    assert sent == 1
    period = BandwidthPeriod.objects.get(service=service)
    assert period.alert_75_sent_at and period.alert_90_sent_at and not period.alert_100_sent_at
    emails = Notification.objects.filter(channel="email", event__startswith="bandwidth_")
    assert list(emails.values_list("event", flat=True)) == ["bandwidth_90"]
    assert emails.get().recipient == service.customer.user.email
    assert "90%" in emails.get().subject
    # Running again (and re-reading the same hours) sends nothing more.
    assert _collect_hours(range(10), ScriptedSource({"203.0.113.10": (GB, 9_500_000_000)})) == 0
    assert emails.count() == 1
    # Crossing 100 % later sends the 100 % email once.
    assert _collect_hours([10], ScriptedSource({"203.0.113.10": (0, 6 * GB)})) == 1
    assert _collect_hours([10], ScriptedSource({"203.0.113.10": (0, 6 * GB)})) == 0
    assert sorted(emails.values_list("event", flat=True)) == ["bandwidth_100", "bandwidth_90"]
    assert Notification.objects.filter(channel="discord", subject="Bandwidth 100% of quota").count() == 1


def test_concurrent_claims_send_once(usage_settings):
    service = make_service("203.0.113.10", quota_gb=10)
    _collect_hours([0], ScriptedSource({"203.0.113.10": (0, 8 * GB)}))
    stale = BandwidthPeriod.objects.get(service=service)
    stale.alert_75_sent_at = None  # a second worker holding an old copy of the row
    assert overage.check_quotas([stale]) == 0
    assert Notification.objects.filter(event="bandwidth_75").count() == 1


def test_counting_rule_per_product(usage_settings):
    service = make_service("203.0.113.10", quota_gb=None)
    BandwidthPolicy.objects.create(product=service.product, counting="both")
    _collect_hours([0], ScriptedSource({"203.0.113.10": (2 * GB, 3 * GB)}))
    assert BandwidthPeriod.objects.get(service=service).counted_bytes == 5 * GB
    BandwidthPolicy.objects.filter(product=service.product).update(counting="in")
    _collect_hours([0], ScriptedSource({"203.0.113.10": (2 * GB, 3 * GB)}))
    assert BandwidthPeriod.objects.get(service=service).counted_bytes == 2 * GB


def test_unmetered_service_gets_no_alert(usage_settings):
    service = make_service("203.0.113.10", quota_gb=None)
    assert _collect_hours([0], ScriptedSource({"203.0.113.10": (0, 900 * GB)})) == 0
    assert BandwidthPeriod.objects.get(service=service).quota_bytes is None


@pytest.mark.parametrize(
    ("rounding", "over_bytes", "billable"),
    [
        ("started_gb", 10 * GB + 1, Decimal("11")),
        ("started_gb", 10 * GB, Decimal("10")),
        ("started_10gb", 10 * GB + 1, Decimal("20")),
        ("exact", 10 * GB + 1, Decimal("10.001")),
        ("exact", 10_250_000_000, Decimal("10.250")),
    ],
)
def test_billable_gb_rounding(rounding, over_bytes, billable):
    assert overage.billable_gb(over_bytes, rounding) == billable


def _close(service, counted_bytes, *, days=30):
    period = BandwidthPeriod.objects.create(
        service=service, period_start=T0.date(), period_end=T0.date() + dt.timedelta(days=days),
        bytes_out=counted_bytes, counted_bytes=counted_bytes, quota_bytes=service.product.bandwidth_quota_gb * GB,
    )  # fmt: skip
    with clock.frozen_at(T0 + dt.timedelta(days=days, hours=6)):
        closed = overage.close_due_periods()
    assert period.pk in [p.pk for p in closed]
    period.refresh_from_db()
    return period


def test_overage_in_usd_per_started_gb(usage_settings):
    service = make_service("203.0.113.10", quota_gb=100, currency="USD", rate="0.0150")
    period = _close(service, 110 * GB + 1)
    assert period.overage_bytes == 10 * GB + 1
    assert period.overage_billable_gb == Decimal("11")
    assert period.overage_amount == Decimal("0.17")  # 11 x 0.015 = 0.165, half-up to the cent
    assert period.overage_currency == "USD" and period.overage_rate == Decimal("0.0150")
    line = overage.overage_line_description(period)
    assert "110.00 GB used" in line and "quota 100.00 GB" in line and "11 GB billed at 0.015 USD/GB" in line


def test_overage_in_jpy_rounds_to_whole_yen(usage_settings):
    service = make_service("203.0.113.10", quota_gb=100, currency="JPY", rate="1.5000")
    period = _close(service, 110 * GB + 1)
    assert period.overage_amount == Decimal("17")  # 11 x 1.5 = 16.5 -> 17 yen (exponent 0, half-up)
    assert period.overage_currency == "JPY"


def test_no_overage_under_quota_and_nothing_pending(usage_settings):
    service = make_service("203.0.113.10", quota_gb=100)
    period = _close(service, 99 * GB)
    assert period.closed_at and period.overage_amount == Decimal("0.00")


def test_pending_overage_is_what_the_billing_run_picks_up(usage_settings):
    from core.billing.services.billing_run import _pending_overage

    service = make_service("203.0.113.10", quota_gb=100)
    period = _close(service, 120 * GB)
    assert [p.pk for p in _pending_overage([service.subscription_id])[service.subscription_id]] == [period.pk]
    overage.waive_overage(period, reason="Customer was DDoSed")
    assert _pending_overage([service.subscription_id]) == {}


def test_period_is_held_open_while_a_window_in_it_is_suspect(usage_settings, discord):
    from core.usage.models import CollectionWindow

    service = make_service("203.0.113.10", quota_gb=100)
    CollectionWindow.objects.create(start=T0 + 5 * H, status="suspect")
    period = BandwidthPeriod.objects.create(
        service=service, period_start=T0.date(), period_end=T0.date() + dt.timedelta(days=30), quota_bytes=100 * GB
    )
    with clock.frozen_at(T0 + dt.timedelta(days=30, hours=6)):
        assert overage.close_due_periods() == []
    period.refresh_from_db()
    assert period.closed_at is None
    assert Notification.objects.filter(subject="Bandwidth period held open").exists()


def test_period_not_closed_before_its_last_hours_are_reread(usage_settings):
    service = make_service("203.0.113.10", quota_gb=100)
    BandwidthPeriod.objects.create(
        service=service, period_start=T0.date(), period_end=T0.date() + dt.timedelta(days=30), quota_bytes=100 * GB
    )
    with clock.frozen_at(T0 + dt.timedelta(days=30, minutes=30)):
        assert overage.close_due_periods() == []


def test_staff_adjust_and_waive_are_audited_and_refused_once_invoiced(usage_settings, staff_user):
    from tests.factories import InvoiceFactory

    service = make_service("203.0.113.10", quota_gb=100, rate="0.0100")
    period = _close(service, 150 * GB)
    assert period.overage_amount == Decimal("0.50")
    with pytest.raises(UsageError, match="reason"):
        overage.adjust_overage(period, "0.25", reason=" ", actor=staff_user)
    period = overage.adjust_overage(period, "0.25", reason="Goodwill: half", actor=staff_user)
    assert period.overage_amount == Decimal("0.25") and period.computed_overage_amount == Decimal("0.50")
    entry = AuditLog.objects.get(action="usage.overage_adjusted")
    assert entry.actor == staff_user and entry.message == "Goodwill: half"
    assert "(adjusted)" in overage.overage_line_description(period)
    BandwidthPeriod.objects.filter(pk=period.pk).update(overage_invoice=InvoiceFactory(customer=service.customer))
    with pytest.raises(ChargeNotEditable, match="already on an invoice"):
        overage.waive_overage(period, reason="too late", actor=staff_user)


def test_suspend_at_quota_instead_of_charging(usage_settings, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "core.provisioning.services.actions.suspend_service", lambda service, reason: calls.append((service.pk, reason))
    )
    service = make_service("203.0.113.10", quota_gb=10)
    BandwidthPolicy.objects.create(product=service.product, at_quota="suspend")
    _collect_hours([0], ScriptedSource({"203.0.113.10": (0, 11 * GB)}))
    assert calls and calls[0][0] == service.pk
    email = Notification.objects.get(event="bandwidth_100")
    assert "suspended" in email.text_body
    period = BandwidthPeriod.objects.get(service=service)
    BandwidthPeriod.objects.filter(pk=period.pk).update(period_end=T0.date() + dt.timedelta(days=1))
    with clock.frozen_at(T0 + dt.timedelta(days=1, hours=6)):
        overage.close_due_periods()
    period.refresh_from_db()
    assert period.closed_at and period.overage_amount is None and period.overage_bytes == GB


def test_closed_period_overage_lands_on_the_next_renewal_invoice(usage_settings):
    from core.billing.models import InvoiceLine
    from core.billing.services.billing_run import renew_subscriptions

    service = make_service("203.0.113.10", quota_gb=100, rate="0.0200")
    _collect_hours([0, 1], ScriptedSource({"203.0.113.10": (GB, 60 * GB)}))  # 120 GB counted
    with clock.frozen_at(T0 + dt.timedelta(days=30, hours=6)):
        period = overage.close_due_periods()[0]
        assert period.overage_amount == Decimal("0.40")
        renew_subscriptions([service.subscription_id], now=clock.now())
    line = InvoiceLine.objects.get(kind="overage")
    assert line.amount == Decimal("0.40") and line.service_id == service.pk
    period.refresh_from_db()
    assert period.overage_invoice_id == line.invoice_id
    with pytest.raises(ChargeNotEditable):
        overage.adjust_overage(period, 0, reason="late")
