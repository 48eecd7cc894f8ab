"""The admin's home page: what needs staff today, KPIs, MRR movement, receivables, charts (Unfold components).

Numbers come from core.analytics (queries.dashboard_kpis); this module only shapes them into
cards, tables and Chart.js payloads. Every converted figure says so and the page states the rates.
"""

import datetime as dt
import json
from decimal import Decimal

from django.urls import reverse
from django.utils.html import format_html

from core import clock
from core.money import format_amount

# One colour per currency series / status bar (Unfold's palette is CSS variables; Chart.js needs values).
PALETTE = ["#9333ea", "#0ea5e9", "#22c55e", "#f59e0b", "#ef4444", "#64748b", "#14b8a6", "#ec4899"]
STATUS_ORDER = ["active", "provisioning", "pending", "awaiting_stock", "suspended", "failed", "terminated"]
MOVEMENT_COLOURS = {
    "new": "#22c55e", "reactivated": "#14b8a6", "expansion": "#0ea5e9", "contraction": "#f59e0b", "churned": "#ef4444",
}  # fmt: skip
MOVEMENT_LABELS = {
    "new": "New", "expansion": "Expansion", "contraction": "Contraction", "churned": "Churned",
    "reactivated": "Reactivated",
}  # fmt: skip


def _number(value: Decimal) -> str:
    # Chart.js reads numbers; a JSON string of the Decimal keeps it exact (never float()).
    return str(value)


def chart_json(labels: list[str], datasets: list[dict]) -> str:
    # Unfold's chart defaults draw 4px bars (sparklines); a dashboard with few bars reads better wider.
    for dataset in datasets:
        dataset.setdefault("maxBarThickness", 36)
        dataset.setdefault("borderRadius", 4)
    return json.dumps({"labels": labels, "datasets": datasets})


def parse_month(value: str | None) -> dt.date:
    """'2026-02' or '2026-02-01' -> 2026-02-01; anything else (or a future month) -> this month."""
    this_month = clock.today().replace(day=1)
    try:
        month = dt.date.fromisoformat(f"{value}-01" if value and len(value) == 7 else (value or "")).replace(day=1)
    except ValueError:
        return this_month
    return min(month, this_month)


def movement_href(month: dt.date, kind: str) -> str:
    """The list of customers behind one movement figure."""
    return reverse("admin:analytics_customermrr_changelist") + f"?month={month:%Y-%m-%d}&movement__exact={kind}"


def _percent(value) -> str:
    return f"{value}%" if value is not None else "—"


def _movement_section(kpis: dict) -> dict:
    code = kpis["reporting_currency"]
    move = kpis["movement"]
    cards = []
    for kind, label in MOVEMENT_LABELS.items():
        entry = move["kinds"][kind]
        cards.append({
            "key": kind, "title": label, "value": format_amount(entry["converted"], code),
            "footer": f"{entry['customers']} customer(s) · "
            + (" · ".join(format_amount(v, c) for c, v in entry["by_currency"].items()) or "none"),
            "href": movement_href(move["month"], kind), "customers": entry["customers"],
        })  # fmt: skip
    rates = [
        {"title": "Logo churn", "value": _percent(move["logo_churn_rate"]),
         "footer": f"{move['kinds']['churned']['customers']} of {move['opening_customers']} paying customers left"},
        {"title": "Revenue churn", "value": _percent(move["revenue_churn_rate"]),
         "footer": "MRR lost to churn and contraction / opening MRR"},
        {"title": "Net revenue retention", "value": _percent(move["net_revenue_retention"]),
         "footer": f"Opening {format_amount(move['opening_converted'], code)} → closing "
                   f"{format_amount(move['closing_converted'], code)}"},
    ]  # fmt: skip
    history = kpis["movement_history"]
    chart = chart_json(
        [m.strftime("%b %Y") for m in history["months"]],
        [{"label": MOVEMENT_LABELS[k], "data": [_number(v) for v in values], "backgroundColor": MOVEMENT_COLOURS[k],
          "stack": "movement"}
         for k, values in history["series"].items()],
    )  # fmt: skip
    refreshed = move["refreshed_at"]
    return {
        "movement_month": move["month"],
        "movement_cards": cards,
        "movement_rates": rates,
        "movement_chart": chart,
        "movement_chart_options": json.dumps({"scales": {"x": {"stacked": True}, "y": {"stacked": True}}}),
        "movement_legend": [{"label": MOVEMENT_LABELS[k], "color": c} for k, c in MOVEMENT_COLOURS.items()],
        "movement_refreshed": refreshed,
        "movement_closing": [(m, format_amount(v, code)) for m, v in zip(history["months"], history["closing"],
                                                                          strict=True)],
    }  # fmt: skip


def _receivables_table(kpis: dict) -> dict:
    rows = []
    today = clock.today()
    base = reverse("admin:billing_invoice_changelist") + "?status__exact=issued"
    for code, r in kpis["receivables"].items():
        overdue_href = f"{base}&currency__code__exact={code}&due_date_to={today - dt.timedelta(days=1):%Y-%m-%d}"
        rows.append([
            code, format_amount(r["outstanding"], code), format_amount(r["not_due"], code),
            format_html('<a class="text-primary-600" href="{}">{}</a>', overdue_href, format_amount(r["overdue"], code)),
            format_amount(r["0-30"], code), format_amount(r["31-60"], code), format_amount(r["61-90"], code),
            format_amount(r["90+"], code), r["overdue_count"],
        ])  # fmt: skip
    return {"headers": ["Currency", "Outstanding", "Not yet due", "Overdue", "0-30 days", "31-60 days", "61-90 days",
                        "90+ days", "Overdue invoices"], "rows": rows}  # fmt: skip


def _refunds_table(kpis: dict) -> dict:
    refunds = kpis["refunds"]
    rows = []
    for i, month in enumerate(refunds["months"]):
        parts = []
        for label, key in (("refunded", "refunds"), ("charged back", "chargebacks"), ("disputed", "disputed")):
            amounts = [format_amount(series[i], c) for c, series in refunds[key].items() if series[i]]
            if amounts:
                parts.append(f"{label} {', '.join(amounts)}")
        if parts:
            rows.append([month.strftime("%b %Y"), refunds["counts"]["refunds"][i], refunds["counts"]["disputes"][i],
                         "; ".join(parts)])  # fmt: skip
    return {"headers": ["Month", "Refunds", "Disputes", "Amounts"], "rows": list(reversed(rows))}


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
            "title": f"ARPU (converted to {code})",
            "value": format_amount(kpis["arpu"], code) if kpis.get("arpu") is not None else "—",
            "footer": f"MRR per paying customer · {kpis.get('paying_customers', 0)} paying customers",
            "icon": "person",
            "href": reverse("admin:accounts_customer_changelist"),
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
    context = {
        "kpi_cards": cards,
        "revenue_chart": revenue_chart,
        "revenue_has_data": bool(revenue["by_currency"]),
        "revenue_legend": revenue_legend,
        "mrr_chart": mrr_chart,
        "services_chart": services_chart,
        "reporting_currency": code,
        "exchange_rates": kpis["rates"],
        "rates_note": kpis.get("rates_note", ""),
    }
    if "movement" in kpis:
        context.update(_movement_section(kpis))
        context.update(
            attention=kpis["attention"],
            attention_total=sum(item["count"] for item in kpis["attention"]),
            receivables_table=_receivables_table(kpis),
            top_products_table={
                "headers": ["Product", f"MRR ({code})", "Per currency"],
                "rows": [
                    [
                        p["name"],
                        format_amount(p["converted"], code),
                        " · ".join(format_amount(v, c) for c, v in p["by_currency"].items()),
                    ]
                    for p in kpis["top_products"]
                ],
            },  # fmt: skip
            cancellations_table={"headers": ["Reason", "Subscriptions"], "rows": kpis["cancellation_reasons"]},
            refunds_table=_refunds_table(kpis),
            customers_by_status=sorted(kpis["customers_by_status"].items()),
        )
    return context


def cached_kpis(month: dt.date, *, refresh: bool = False) -> dict:
    """dashboard_kpis for `month`, kept in the cache for settings.DASHBOARD_CACHE_SECONDS (60; 0 = off).

    The whole-table figures come from the newest dashboard snapshot (core.analytics.snapshot,
    refreshed hourly by a task); the cache key carries the snapshot's id, so a new snapshot is
    shown at once. Many staff opening the home page within a minute share one read of the live
    figures (receivables, attention, counts); `?refresh=1` re-reads them.
    """
    from django.conf import settings
    from django.core.cache import cache

    from core.analytics.queries import dashboard_kpis
    from core.analytics.snapshot import latest_snapshot_id

    seconds = int(getattr(settings, "DASHBOARD_CACHE_SECONDS", 60))
    snapshot_id = latest_snapshot_id()
    key = f"dashboard:kpis:{month:%Y-%m}:{snapshot_id}"
    kpis = None if refresh or not seconds or snapshot_id is None else cache.get(key)
    if kpis is None:
        kpis = dashboard_kpis(month)
        kpis["computed_at"] = clock.now()
        if seconds:
            cache.set(f"dashboard:kpis:{month:%Y-%m}:{kpis['snapshot_id']}", kpis, seconds)
    return kpis


def _freshness(kpis: dict) -> dict:
    from core.analytics.snapshot import refresh_queued_since

    refreshed = kpis.get("snapshot_refreshed_at")
    age = clock.now() - refreshed if refreshed else None
    minutes = max(0, int(age.total_seconds() // 60)) if age is not None else None
    return {
        "snapshot_refreshed_at": refreshed,
        "snapshot_age_minutes": minutes,
        "snapshot_duration_ms": kpis.get("snapshot_duration_ms"),
        "snapshot_refresh_queued": refresh_queued_since(),
        "snapshot_refresh_url": reverse("admin:analytics_refresh_snapshots"),
    }


def dashboard_callback(request, context):
    month = parse_month(request.GET.get("month"))
    kpis = cached_kpis(month, refresh=request.GET.get("refresh") == "1")
    context.update(build_dashboard(kpis))
    context.update(_freshness(kpis))
    context["month_value"] = f"{month:%Y-%m}"
    context["computed_at"] = kpis.get("computed_at")
    return context


def refresh_snapshots_view(request):
    """Staff's "Refresh now": queue the snapshot task (MRR movement + dashboard) and go back to the dashboard."""
    from django.contrib import messages
    from django.http import HttpResponseNotAllowed
    from django.shortcuts import redirect

    from core.analytics.snapshot import queue_refresh

    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if queue_refresh():
        messages.success(request, "Snapshot refresh queued: the figures update when the task has run (usually "
                                  "within a minute). Reload the page to see them.")  # fmt: skip
    else:
        messages.info(request, "A snapshot refresh is already queued.")
    return redirect("admin:index")
