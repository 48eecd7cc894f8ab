"""The admin's home page: KPI cards and Chart.js charts (Unfold components), fed by core.analytics."""

import datetime as dt
import json
from decimal import Decimal

from django.urls import reverse

from core import clock
from core.money import format_amount

# One colour per currency series / status bar (Unfold's palette is CSS variables; Chart.js needs values).
PALETTE = ["#9333ea", "#0ea5e9", "#22c55e", "#f59e0b", "#ef4444", "#64748b", "#14b8a6", "#ec4899"]
STATUS_ORDER = ["active", "provisioning", "pending", "awaiting_stock", "suspended", "failed", "terminated"]


def _number(value: Decimal) -> str:
    # Chart.js reads numbers; a JSON string of the Decimal keeps it exact (never float()).
    return str(value)


def chart_json(labels: list[str], datasets: list[dict]) -> str:
    # Unfold's chart defaults draw 4px bars (sparklines); a dashboard with few bars reads better wider.
    for dataset in datasets:
        dataset.setdefault("maxBarThickness", 36)
        dataset.setdefault("borderRadius", 4)
    return json.dumps({"labels": labels, "datasets": datasets})


def build_dashboard(kpis: dict) -> dict:
    """Turn analytics numbers into the cards and chart payloads the template renders."""
    code = kpis["reporting_currency"]
    churn = kpis["churn"]
    churn_value = f"{churn['rate']}%" if churn["rate"] is not None else "—"
    cards = [
        {
            "title": f"MRR (converted to {code})",
            "value": format_amount(kpis["mrr_converted"], code),
            "footer": " · ".join(format_amount(v, c) for c, v in kpis["mrr_by_currency"].items()) or "No subscriptions",
            "icon": "trending_up",
            "href": reverse("admin:billing_subscription_changelist"),
        },
        {
            "title": f"ARR (converted to {code})",
            "value": format_amount(kpis["arr_converted"], code),
            "footer": "MRR × 12 at the staff-set exchange rates",
            "icon": "calendar_month",
            "href": reverse("admin:billing_subscription_changelist"),
        },
        {
            "title": "Active services",
            "value": str(kpis["active_services"]),
            "footer": f"{sum(kpis['services_by_status'].values())} services in total",
            "icon": "dns",
            "href": reverse("admin:provisioning_service_changelist") + "?status=active",
        },
        {
            "title": "Overdue invoices",
            "value": str(kpis["overdue_invoices"]),
            "footer": "Issued and past their due date",
            "icon": "warning",
            # The same rule as Invoice.is_overdue: issued and due before today.
            "href": reverse("admin:billing_invoice_changelist")
            + f"?status__exact=issued&due_date_to={clock.today() - dt.timedelta(days=1):%Y-%m-%d}",
        },
        {
            "title": "Open tickets",
            "value": str(kpis["open_tickets"]),
            "footer": "Not closed or resolved in SupportPal",
            "icon": "support_agent",
            "href": reverse("admin:support_supportticket_changelist"),
        },
        {
            "title": "Churn, last 30 days",
            "value": churn_value,
            "footer": f"{churn['churned']} of {churn['base']} subscriptions ended or cancelled",
            "icon": "trending_down",
            "href": reverse("admin:billing_subscription_changelist") + "?status=cancelled",
        },
    ]

    revenue = kpis["revenue"]
    revenue_chart = chart_json(
        [m.strftime("%b %Y") for m in revenue["months"]],
        [
            # Side by side: Unfold's default draws datasets on top of each other, hiding the smaller currency.
            {"label": currency, "data": [_number(v) for v in values], "backgroundColor": PALETTE[i % len(PALETTE)],
             "grouped": True}
            for i, (currency, values) in enumerate(revenue["by_currency"].items())
        ],
    )  # fmt: skip
    # Unfold hides Chart.js legends; the template prints this one so colours can be read.
    revenue_legend = [
        {"label": currency, "color": PALETTE[i % len(PALETTE)]} for i, currency in enumerate(revenue["by_currency"])
    ]
    mrr = kpis["mrr_by_currency"]
    mrr_chart = chart_json(
        list(mrr),
        [{"label": "MRR (each in its own currency)", "data": [_number(v) for v in mrr.values()],
          "backgroundColor": PALETTE[: len(mrr)] or PALETTE[0]}],
    )  # fmt: skip
    statuses = kpis["services_by_status"]
    ordered = [s for s in STATUS_ORDER if s in statuses] + sorted(set(statuses) - set(STATUS_ORDER))
    services_chart = chart_json(
        [s.replace("_", " ").capitalize() for s in ordered],
        [{"label": "Services", "data": [statuses[s] for s in ordered], "backgroundColor": PALETTE[1]}],
    )
    return {
        "kpi_cards": cards,
        "revenue_chart": revenue_chart,
        "revenue_has_data": bool(revenue["by_currency"]),
        "revenue_legend": revenue_legend,
        "mrr_chart": mrr_chart,
        "services_chart": services_chart,
        "reporting_currency": code,
        "exchange_rates": kpis["rates"],
    }


def dashboard_callback(request, context):
    from core.analytics.queries import dashboard_kpis

    context.update(build_dashboard(dashboard_kpis()))
    return context
