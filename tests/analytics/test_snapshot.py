"""The dashboard snapshot: the same figures as the live functions, read by the page until the next refresh,
refreshed by the hourly task or by staff ("Refresh now"), and its age stated on the page."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core import clock
from core.analytics import queries, snapshot, tasks
from core.analytics.models import DashboardSnapshot
from core.billing.models import Coupon, Payment
from tests.factories import (
    CurrencyFactory,
    CustomerFactory,
    InvoiceFactory,
    PaymentFactory,
    PriceFactory,
    ServiceFactory,
    SubscriptionFactory,
)

NOW = dt.datetime(2026, 6, 15, 12, tzinfo=dt.UTC)


@pytest.fixture
def history(db):
    """Two currencies, a coupon, a cancellation with a reason, payments, a refund and a dispute."""
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    eur = CurrencyFactory(code="EUR", exchange_rate=Decimal("0.8"))
    with clock.frozen_at(NOW - dt.timedelta(days=60)):
        a = CustomerFactory(currency=usd)
        b = CustomerFactory(currency=eur)
        SubscriptionFactory(customer=a, price=PriceFactory(currency=usd, amount=Decimal("20.00")))
        quarterly = SubscriptionFactory(customer=a, price=PriceFactory(currency=usd, cycle="quarterly",
                                                                       amount=Decimal("30.00")))  # fmt: skip
        quarterly.coupon = Coupon.objects.create(code="TEN", kind="percent", percent=Decimal("10"), duration="forever")
        quarterly.save()  # 27.00 a quarter: 9.00 a month
        SubscriptionFactory(customer=b, price=PriceFactory(currency=eur, cycle="annual", amount=Decimal("120.00")))
        gone = SubscriptionFactory(customer=b, price=PriceFactory(currency=eur, amount=Decimal("50.00")))
        ServiceFactory(customer=a, status="active")
        ServiceFactory(customer=b, status="suspended")
    gone.status, gone.cancelled_at, gone.cancel_reason = "cancelled", NOW - dt.timedelta(days=3), "too_expensive"
    gone.save()
    march = timezone.make_aware(dt.datetime(2026, 3, 10, 12))
    PaymentFactory(customer=a, amount=Decimal("100.00"), received_at=march)
    PaymentFactory(customer=a, amount=Decimal("30.00"), kind=Payment.Kind.REFUND, received_at=march)
    PaymentFactory(customer=b, amount=Decimal("40.00"), is_disputed=True, received_at=NOW - dt.timedelta(days=1))
    return usd, eur, a, b


def test_snapshot_holds_exactly_what_the_live_functions_compute(history):
    with clock.frozen_at(NOW):
        taken = snapshot.refresh_dashboard_snapshot()
        live = snapshot.compute_figures()
        stored = snapshot.latest_snapshot()
    assert stored.pk == taken.pk
    assert stored.figures == live  # Decimals, dates and counts read back exactly
    assert snapshot.by_product(stored)  # per product and currency
    # Worked out by hand: USD 20.00 + 9.00; EUR 120.00 / 12 (the cancelled 50.00 does not count).
    assert queries.mrr_by_currency(snapshot.by_product(stored)) == {"EUR": Decimal("10.00"), "USD": Decimal("29.00")}
    assert stored.figures["paying_customers"] == 2
    assert stored.figures["churn"]["churned"] == 1
    revenue = stored.figures["revenue"]
    assert revenue["by_currency"]["USD"][revenue["months"].index(dt.date(2026, 3, 1))] == Decimal("70.00")
    assert stored.figures["refunds"]["disputed"]["EUR"][-1] == Decimal("40.00")
    assert stored.figures["services_by_status"] == {"active": 1, "suspended": 1}
    assert [row[1] for row in stored.figures["cancellation_reasons"]] == [1]


def test_dashboard_reads_the_snapshot_until_the_next_refresh_and_live_figures_at_once(history):
    usd, _eur, a, _b = history
    with clock.frozen_at(NOW):
        snapshot.refresh_dashboard_snapshot()
        before = queries.dashboard_kpis()
        assert before["mrr_by_currency"] == {"EUR": Decimal("10.00"), "USD": Decimal("29.00")}
        # 29.00 USD + 10.00 EUR / 0.8 = 41.50 USD
        assert before["mrr_converted"] == Decimal("41.50")
        SubscriptionFactory(customer=a, price=PriceFactory(currency=usd, amount=Decimal("11.00")))
        InvoiceFactory(customer=a, status="issued", number="T-1", total=Decimal("15.00"),
                       due_date=NOW.date() - dt.timedelta(days=2))  # fmt: skip
        stale = queries.dashboard_kpis()
        assert stale["mrr_by_currency"]["USD"] == Decimal("29.00")  # the snapshot's figure, until refreshed
        assert stale["overdue_invoices"] == 1  # live
        assert "USD" not in stale["receivables"]  # the snapshot's, until refreshed
        tasks.refresh_snapshots()
        after = queries.dashboard_kpis()
    assert after["mrr_by_currency"]["USD"] == Decimal("40.00")
    assert after["receivables"]["USD"]["overdue"] == Decimal("15.00")
    assert after["snapshot_id"] != before["snapshot_id"]


def test_first_render_without_a_snapshot_takes_one(history):
    assert not DashboardSnapshot.objects.exists()
    with clock.frozen_at(NOW):
        kpis = queries.dashboard_kpis()
    assert DashboardSnapshot.objects.count() == 1
    assert kpis["snapshot_refreshed_at"] == NOW


def test_a_snapshot_missing_a_figure_is_replaced_on_the_next_render(history):
    with clock.frozen_at(NOW):
        old = snapshot.refresh_dashboard_snapshot()
        DashboardSnapshot.objects.filter(pk=old.pk).update(figures={"paying_customers": 2})  # an older shape
        kpis = queries.dashboard_kpis()
    assert kpis["snapshot_id"] != old.pk and kpis["paying_customers"] == 2


def test_only_the_newest_snapshots_are_kept(db, monkeypatch):
    monkeypatch.setattr(snapshot, "KEEP", 3)
    for minute in range(5):
        with clock.frozen_at(NOW + dt.timedelta(minutes=minute)):
            snapshot.refresh_dashboard_snapshot()
    kept = list(DashboardSnapshot.objects.values_list("refreshed_at", flat=True))
    assert kept == [NOW + dt.timedelta(minutes=m) for m in (4, 3, 2)]


def test_hourly_task_refreshes_both_snapshots(history):
    from core.analytics.models import CustomerMRR

    with clock.frozen_at(NOW):
        result = tasks.refresh_snapshots()
    assert result["mrr_rows"] == 2 and CustomerMRR.objects.filter(month=NOW.date().replace(day=1)).count() == 2
    assert DashboardSnapshot.objects.count() == 1


def test_page_states_the_snapshot_age_and_staff_can_queue_a_refresh(staff_client, history,
                                                                     django_capture_on_commit_callbacks):  # fmt: skip
    with clock.frozen_at(NOW):
        snapshot.refresh_dashboard_snapshot()
    with clock.frozen_at(NOW + dt.timedelta(minutes=42)):
        page = staff_client.get(reverse("admin:index"))
        body = page.content.decode()
        assert "2026-06-15 12:00 UTC (42 min ago)" in body
        assert "refreshed hourly" in body and "Refresh now" in body
        url = reverse("admin:analytics_refresh_snapshots")
        assert staff_client.get(url).status_code == 405  # a GET changes nothing
        with django_capture_on_commit_callbacks(execute=True):  # tests run django-q2 tasks inline
            response = staff_client.post(url)
        assert response.status_code == 302 and response["Location"] == reverse("admin:index")
        assert DashboardSnapshot.objects.count() == 2
        again = staff_client.get(reverse("admin:index"))
        assert again.context["snapshot_refreshed_at"] == NOW + dt.timedelta(minutes=42)
        assert "(0 min ago)" in again.content.decode()


def test_a_second_refresh_is_not_queued_while_one_waits(staff_client, db, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: queued.append(args))
    snapshot.refresh_dashboard_snapshot()
    url = reverse("admin:analytics_refresh_snapshots")
    staff_client.post(url)
    staff_client.post(url)
    assert snapshot.refresh_queued_since() is not None
    page = staff_client.get(reverse("admin:index"))
    assert "A refresh is queued." in page.content.decode()
