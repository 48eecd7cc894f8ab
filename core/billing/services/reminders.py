"""Customer notices about unpaid invoices: a reminder before the due date, an overdue notice per step.

- `invoice_reminder`: an issued, unpaid invoice whose due date is at most
  settings.BILLING["REMINDER_DAYS_BEFORE_DUE"] days away (default 3), once per invoice.
- `overdue_notice`: an issued, unpaid invoice overdue by a step of
  settings.BILLING["OVERDUE_NOTICE_DAYS"] (default 1, 7, 14 days), once per invoice per step. An
  invoice gets only the latest step it has reached (a missed run never sends old steps in a burst),
  and nothing once it is more than a week past the last step (so imported old debts are not mailed).

Both run from the daily billing task (core.billing.tasks.daily_billing_run) and are safe to run
twice: the outbox key (invoice uuid, plus the step) sends each notice once, ever.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from core import clock
from core.billing.models import Invoice
from core.billing.services.imported import billed_here_q

DEFAULT_REMINDER_DAYS = 3
DEFAULT_OVERDUE_STEPS = (1, 7, 14)
LAST_STEP_WINDOW_DAYS = 7


def reminder_days() -> int:
    return int(settings.BILLING.get("REMINDER_DAYS_BEFORE_DUE", DEFAULT_REMINDER_DAYS))


def overdue_steps() -> list[int]:
    return sorted({int(d) for d in settings.BILLING.get("OVERDUE_NOTICE_DAYS", DEFAULT_OVERDUE_STEPS) if int(d) > 0})


def _unpaid(today: dt.date):
    # Imported (WHMCS) invoices: WHMCS sends their reminders until the cutover (imported.billed_here_q).
    end_of_day = dt.datetime.combine(today, dt.time.max, tzinfo=dt.UTC)
    return (
        Invoice.objects.filter(status=Invoice.Status.ISSUED, kind=Invoice.Kind.INVOICE, due_date__isnull=False)
        .filter(billed_here_q(end_of_day))
        .select_related("customer__user", "subscription")
        .order_by("pk")
    )


def _context(invoice: Invoice) -> dict:
    from core.billing.services.dunning import payment_method_for
    from core.billing.services.invoices import invoice_email_context

    return {**invoice_email_context(invoice), "auto_charge": payment_method_for(invoice) is not None}


def send_due_reminders(today: dt.date | None = None) -> int:
    """Queue the before-due reminder of each unpaid invoice due within the reminder window; returns how many."""
    from core.notifications.services import notify

    today = today or clock.today()
    days = reminder_days()
    if days <= 0:
        return 0
    sent = 0
    for invoice in _unpaid(today).filter(due_date__gte=today, due_date__lte=today + dt.timedelta(days=days)):
        if invoice.amount_due <= 0:
            continue
        context = {**_context(invoice), "days_left": (invoice.due_date - today).days}
        if notify("invoice_reminder", to=invoice.customer.user.email, context=context,
                  key=f"invoice_reminder:{invoice.uuid}", customer=invoice.customer):  # fmt: skip
            sent += 1
    return sent


def step_for(days_overdue: int, steps: list[int]) -> int:
    """The 1-based dunning step an invoice `days_overdue` late is at (0: none, or past the last step's window)."""
    reached = [i for i, d in enumerate(steps, start=1) if days_overdue >= d]
    if not reached or days_overdue >= steps[-1] + LAST_STEP_WINDOW_DAYS:
        return 0
    return reached[-1]


def send_overdue_notices(today: dt.date | None = None) -> int:
    """Queue the overdue notice of each unpaid invoice for the step it has reached; returns how many."""
    from core.notifications.services import notify

    today = today or clock.today()
    steps = overdue_steps()
    if not steps:
        return 0
    oldest = today - dt.timedelta(days=steps[-1] + LAST_STEP_WINDOW_DAYS - 1)
    sent = 0
    for invoice in _unpaid(today).filter(due_date__lt=today, due_date__gte=oldest):
        days_overdue = (today - invoice.due_date).days
        step = step_for(days_overdue, steps)
        if step == 0 or invoice.amount_due <= 0:
            continue
        context = {**_context(invoice), "step": step, "days_overdue": days_overdue, "suspend_on": ""}
        if notify("overdue_notice", to=invoice.customer.user.email, context=context,
                  key=f"overdue_notice:{invoice.uuid}:{step}", customer=invoice.customer):  # fmt: skip
            sent += 1
    return sent


def send_invoice_notices(today: dt.date | None = None) -> dict:
    """The daily pass: reminders before due, then overdue notices."""
    return {"reminders": send_due_reminders(today), "overdue_notices": send_overdue_notices(today)}
