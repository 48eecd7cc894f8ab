"""django-q2 entry points for billing (thin wrappers over the services)."""

from __future__ import annotations

import datetime as dt

from core.billing.models import Invoice

DAILY_RUN_SCHEDULE = "billing-daily-run"


def daily_billing_run() -> dict:
    """The scheduled run for today (UTC)."""
    from core.billing.services.billing_run import run_billing
    from core.billing.services.reminders import send_invoice_notices

    result = run_billing().as_dict()
    result["notices"] = send_invoice_notices()
    return result


def email_invoices(invoice_ids: list[int]) -> int:
    """Queue the issue email (PDF attached) of each invoice; the notification dedupe key makes reruns harmless."""
    from core.billing.services.invoices import queue_invoice_email

    count = 0
    for invoice in Invoice.objects.filter(pk__in=invoice_ids).select_related("customer__user"):
        queue_invoice_email(invoice)
        count += 1
    return count


def ensure_schedules() -> None:
    """Create or update the daily billing run schedule (idempotent; call from a deploy step or migration)."""
    from django_q.models import Schedule

    first = dt.datetime.combine(dt.date.today() + dt.timedelta(days=1), dt.time(3, 0), tzinfo=dt.UTC)
    Schedule.objects.update_or_create(
        name=DAILY_RUN_SCHEDULE,
        defaults={
            "func": "core.billing.tasks.daily_billing_run",
            "schedule_type": Schedule.CRON,
            "cron": "0 3 * * *",
            "repeats": -1,
            "next_run": first,
        },
    )
