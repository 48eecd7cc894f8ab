"""The dashboard's numbers in one call, and the names older callers import from here.

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
    "CLOSED_TICKET_STATUSES", "RECURRING_STATUSES", "ZERO", "arr_by_currency", "churn_last_30_days",
    "dashboard_kpis", "exchange_rates", "month_starts", "mrr_by_currency", "open_ticket_count",
    "overdue_invoice_count", "revenue_by_month", "services_by_status", "to_reporting_currency",
]  # fmt: skip


def dashboard_kpis(month=None, *, full: bool = True) -> dict:
    """Everything the admin home shows, in a bounded number of aggregate queries.

    `full=False` leaves out the movement, receivables and attention sections (the short form
    older callers and tests use).
    """
    rates = exchange_rates()
    by_product = mrr_by_product_and_currency()
    mrr = mrr_by_currency(by_product)
    mrr_total = to_reporting_currency(mrr, rates)
    services = services_by_status()
    paying = paying_customer_count()
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
        "churn": churn_last_30_days(),
        "revenue": revenue_by_month(12),
        "rates": rates,
        "rates_note": describe_rates(rates),
    }
    if full:
        month = month or clock.today().replace(day=1)
        kpis.update(
            customers_by_status=customers_by_status(),
            top_products=top_products_by_mrr(by_product, rates, limit=8),
            movement=mrr_movement(month, rates),
            movement_history=movement_by_month(12, rates=rates),
            receivables=receivables(),
            refunds=refunds_and_disputes_by_month(12),
            cancellation_reasons=cancellation_reasons(12),
            attention=needs_attention(),
        )
    return kpis
