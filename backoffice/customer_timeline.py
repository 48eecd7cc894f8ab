"""The customer 360 timeline: audit events, emails sent, payments and refunds, provisioning jobs and
ticket activity of one customer, merged newest first and paginated.

Each source is asked for at most `page * per_page + 1` newest rows (an indexed ORDER BY ... LIMIT),
so a page costs one query per source whatever the size of the account; the rows are merged in
Python. Deep pages cost more rows read, never more queries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from heapq import merge

from django.urls import reverse

from .admin.base import money

PER_PAGE = 25
MAX_PAGE = 200


@dataclass(frozen=True)
class Event:
    when: dt.datetime
    kind: str  # audit, email, payment, refund, provisioning, ticket
    title: str
    detail: str = ""
    href: str = ""
    variant: str = "info"  # Unfold label colour

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind.title())


KIND_LABELS = {
    "audit": "Audit",
    "email": "Email",
    "payment": "Payment",
    "refund": "Refund",
    "provisioning": "Provisioning",
    "ticket": "Ticket",
}
JOB_VARIANT = {"succeeded": "success", "failed": "danger", "retrying": "warning"}
MAIL_VARIANT = {"sent": "success", "failed": "danger"}


@dataclass(frozen=True)
class TimelinePage:
    events: list[Event]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _admin(name: str, pk) -> str:
    return reverse(f"admin:{name}_change", args=[pk])


def _audit(customer, limit: int):
    from core.audit.models import AuditLog

    rows = AuditLog.objects.filter(customer=customer).select_related("actor", "impersonator")
    for row in rows.order_by("-created_at", "-id")[:limit]:
        who = row.actor.email if row.actor_id else "system"
        if row.impersonator_id:
            who += f" (impersonated by {row.impersonator.email})"
        detail = f"{who} · {row.source}"
        if row.before or row.after:
            detail += " · changed " + ", ".join(row.changed_fields)
        yield Event(row.created_at, "audit", row.message or row.action, detail, _admin("audit_auditlog", row.pk))


def _emails(customer, limit: int):
    from core.notifications.models import Notification

    rows = Notification.objects.filter(customer=customer, channel="email")
    for row in rows.order_by("-created_at", "-id")[:limit]:
        yield Event(
            row.sent_at or row.created_at,
            "email",
            row.subject or row.event,
            f"{row.event} → {row.recipient} · {row.get_status_display()}",
            _admin("notifications_notification", row.pk),
            MAIL_VARIANT.get(row.status, "info"),
        )


def _payments(customer, limit: int):
    from core.billing.models import Payment

    rows = Payment.objects.filter(customer=customer).select_related("currency", "invoice")
    for row in rows.order_by("-received_at", "-id")[:limit]:
        kind = "payment" if row.kind == "payment" else "refund"
        title = f"{row.get_kind_display()} {money(row.signed_amount, row.currency)}"
        detail = f"{row.gateway} · {row.get_status_display()}" + (f" · {row.invoice}" if row.invoice_id else "")
        if row.failure_reason:
            detail += f" · {row.failure_reason}"
        variant = "danger" if row.status == "failed" or row.kind == "chargeback" else (
            "warning" if kind == "refund" else "success")  # fmt: skip
        yield Event(row.received_at, kind, title, detail, _admin("billing_payment", row.pk), variant)


def _jobs(customer, limit: int):
    from core.provisioning.models import ProvisioningJob

    rows = ProvisioningJob.objects.filter(service__customer=customer).select_related("service")
    for row in rows.order_by("-created_at", "-id")[:limit]:
        service = row.service.label or row.service.hostname or f"Service {row.service_id}"
        detail = f"{service} · attempt {row.attempt} · {row.get_outcome_display()}"
        if row.error:
            detail += f" · {row.error[:120]}"
        yield Event(
            row.created_at,
            "provisioning",
            f"{row.get_action_display()} {service}",
            detail,
            _admin("provisioning_provisioningjob", row.pk),
            JOB_VARIANT.get(row.outcome, "info"),
        )


def _tickets(customer, limit: int):
    from core.support.models import SupportTicket

    for row in SupportTicket.objects.filter(customer=customer).order_by("-updated_at", "-id")[:limit]:
        who = "staff replied" if row.last_reply_by_staff else "customer wrote"
        yield Event(
            row.updated_at,
            "ticket",
            str(row),
            f"{row.status} · {row.department} · {who}".strip(" ·"),
            _admin("support_supportticket", row.pk),
        )


SOURCES = (_audit, _emails, _payments, _jobs, _tickets)


def customer_timeline(customer, *, page: int = 1, per_page: int = PER_PAGE) -> TimelinePage:
    """One page of the customer's timeline, newest first (five queries for any page)."""
    page = max(1, min(int(page), MAX_PAGE))
    need = page * per_page + 1
    streams = [list(source(customer, need)) for source in SOURCES]
    merged = list(merge(*streams, key=lambda e: e.when, reverse=True))
    start = (page - 1) * per_page
    return TimelinePage(events=merged[start : start + per_page], page=page, has_next=len(merged) > start + per_page)
