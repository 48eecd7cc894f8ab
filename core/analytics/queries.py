"""The dashboard's numbers in one call (snapshot + live aggregates), and the names older callers import from here.

The functions live by topic: rates.py (exchange rates, conversion), mrr.py (MRR, ARR, ARPU, top
products, customers by status), movement.py (monthly MRR movement from the snapshot table,
churn and retention), revenue.py (cash per month, receivables and ageing, refunds and disputes,
cancellation reasons, counts), attention.py (what needs staff today).
"""

from __future__ import annotations

from django.conf import settings

from core import clock
from core.money import quantize

from .attention import needs_attention
from .movement import churn_last_30_days, movement_by_month, mrr_movement
from .mrr import (
    RECURRING_STATUSES,
    arpu,
    arr_by_currency,
    customers_by_status,
    mrr_by_currency,
    mrr_by_product_and_currency,
    paying_customer_count,
    top_products_by_mrr,
)
from .rates import ZERO, describe_rates, exchange_rates, to_reporting_currency
from .revenue import (
    CLOSED_TICKET_STATUSES,
    cancellation_reasons,
    month_starts,
    open_ticket_count,
    overdue_invoice_count,
    receivables,
    refunds_and_disputes_by_month,
    revenue_by_month,
    services_by_status,
)

__all__ = [
    "CLOSED_TICKET_STATUSES", "RECURRING_STATUSES", "ZERO", "arr_by_currency", "cancellation_reasons",
    "churn_last_30_days", "customers_by_status", "dashboard_kpis", "exchange_rates", "month_starts",
    "mrr_by_currency", "mrr_by_product_and_currency", "open_ticket_count", "overdue_invoice_count",
    "paying_customer_count", "receivables", "refunds_and_disputes_by_month", "revenue_by_month", "services_by_status",
    "to_reporting_currency",
]  # fmt: skip


def dashboard_kpis(month=None, *, full: bool = True, snapshot=None) -> dict:
    """Everything the admin home shows: the dashboard snapshot plus a few live aggregate queries.

    Whole-table figures (MRR per product and currency, paying customers, churn, revenue, refunds,
    cancellations, receivables, customers and services by status) come from the newest
    DashboardSnapshot (core.analytics.snapshot; refreshed hourly by a task); when none exists yet,
    one is taken now. The overdue count, open tickets, needs attention and the MRR movement are
    read live (the movement from its own snapshot tables). `full=False` leaves out the
    movement, receivables and attention sections (the short form older callers and tests use).
    """
    from .snapshot import by_product as snapshot_by_product
    from .snapshot import latest_snapshot, refresh_dashboard_snapshot

    snapshot = snapshot or latest_snapshot() or refresh_dashboard_snapshot()
    figures = snapshot.figures
    rates = exchange_rates()
    by_product = snapshot_by_product(snapshot)
    mrr = mrr_by_currency(by_product)
    mrr_total = to_reporting_currency(mrr, rates)
    services = figures["services_by_status"]
    paying = figures["paying_customers"]
    code = settings.DEFAULT_CURRENCY
    kpis = {
        "reporting_currency": code,
        "mrr_by_currency": mrr,
        "mrr_converted": mrr_total,
        "arr_converted": quantize(mrr_total * 12, code),
        "paying_customers": paying,
        "arpu": arpu(mrr_total, paying),
        "services_by_status": services,
        "active_services": services.get("active", 0),
        "overdue_invoices": overdue_invoice_count(),
        "open_tickets": open_ticket_count(),
        "churn": figures["churn"],
        "revenue": figures["revenue"],
        "rates": rates,
        "rates_note": describe_rates(rates),
        "snapshot_id": snapshot.pk,
        "snapshot_refreshed_at": snapshot.refreshed_at,
        "snapshot_duration_ms": snapshot.duration_ms,
    }
    if full:
        month = month or clock.today().replace(day=1)
        kpis.update(
            customers_by_status=figures["customers_by_status"],
            top_products=top_products_by_mrr(by_product, rates, limit=8),
            movement=mrr_movement(month, rates),
            movement_history=movement_by_month(12, rates=rates),
            receivables=figures["receivables"],
            refunds=figures["refunds"],
            cancellation_reasons=[tuple(row) for row in figures["cancellation_reasons"]],
            attention=needs_attention(),
        )
    return kpis
