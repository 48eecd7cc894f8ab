"""Sending notifications: every message is an outbox row, delivered by a queued task, once.

`send_email` / `notify` render the catalogue template now (the row holds exactly what the
customer gets), write the outbox row under its idempotency key and queue delivery after the
surrounding transaction commits. `deliver` sends one row: a failure is recorded and retried
with exponential backoff (`retry_due_notifications` runs every minute) until
NOTIFICATIONS["MAX_ATTEMPTS"], then the row shows as failed and staff are told.

Non-essential mail is skipped (row status "skipped", with the reason) for an address that
hard-bounced or a customer who switched that category off; essential mail always goes out.
Staff alerts go to Discord, to the webhook of their channel (billing, provisioning, security).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.module_loading import import_string

from core import clock

from . import catalogue, templating
from .chat import ChatMessage
from .models import EmailSuppression, Notification, NotificationPreference

log = logging.getLogger(__name__)

DELIVER_TASK = "core.notifications.tasks.deliver"
# Discord rows keep their historic task name and payload (tests and old queued tasks use them).
DELIVER_DISCORD_TASK = "core.notifications.tasks.deliver_discord"
DEFAULTS = {"MAX_ATTEMPTS": 5, "RETRY_BASE_SECONDS": 60, "RETRY_MAX_SECONDS": 3600, "CLAIM_SECONDS": 600}


def conf(name: str):
    return getattr(settings, "NOTIFICATIONS", {}).get(name, DEFAULTS[name])


@dataclass
class Attachment:
    filename: str
    content: bytes
    mimetype: str = "application/pdf"


def _task_args(row: Notification) -> tuple:
    if row.channel == Notification.Channel.DISCORD:
        payload = row.payload or {}
        return DELIVER_DISCORD_TASK, row.pk, {
            "title": row.subject, "description": row.text_body, "level": payload.get("level", "info"),
            "fields": payload.get("fields") or [], "route": payload.get("route", ""),
        }  # fmt: skip
    return DELIVER_TASK, row.pk


def _enqueue(row: Notification) -> None:
    from django_q.tasks import async_task

    args = _task_args(row)
    transaction.on_commit(lambda: async_task(*args, group="notifications"))


# --- who may receive what -------------------------------------------------------


def is_suppressed(address: str) -> bool:
    return EmailSuppression.objects.filter(address__iexact=address, lifted_at__isnull=True).exists()


def wants(customer, category: str) -> bool:
    if customer is None or not category:
        return True
    pref = NotificationPreference.objects.filter(customer=customer).first()
    return pref is None or pref.wants(category)


def _skip_reason(event: catalogue.Event | None, to: str, customer) -> str:
    if not (to or "").strip():
        return "No email address to send to."
    if event is None or event.essential:
        return ""
    if is_suppressed(to):
        return "Address is suppressed after a bounce or complaint (non-essential mail is not sent)."
    if not wants(customer, event.category):
        return f"The customer switched off “{catalogue.CATEGORIES.get(event.category, event.category)}”."
    return ""


# --- queueing -------------------------------------------------------------------


def send_email(
    event: str,
    *,
    to: str,
    subject: str,
    template: str,
    context: dict | None = None,
    dedupe_key: str | None = None,
    customer=None,
    attachment_builder: str | None = None,
    attachment_args: tuple = (),
) -> Notification | None:
    """Queue one email through the outbox. A second call with the same key does nothing (returns None).

    `attachment_builder` is a dotted path called in the task (e.g. to render an invoice PDF),
    so heavy work happens in the worker, not in the caller's request.
    """
    spec = catalogue.event_for_template(template) or catalogue.email_event(event)
    key = (dedupe_key or f"{event}:{to}:{clock.now().isoformat()}")[:200]
    if Notification.objects.filter(dedupe_key=key).exists():
        return None
    skip = _skip_reason(spec, to, customer)
    error = ""
    try:
        rendered = templating.render(template, context or {}, subject=subject)
    except Exception as exc:  # a missing file template: record it, never break the caller
        log.exception("Email %s (template %s) could not be rendered", event, template)
        rendered = templating.Rendered(subject=subject, text="", html="")
        error = f"Template could not be rendered: {exc}"
    status = Notification.Status.SKIPPED if skip else Notification.Status.QUEUED
    if error:
        status = Notification.Status.FAILED
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                channel=Notification.Channel.EMAIL, event=event, template=template, dedupe_key=key,
                recipient=to, subject=rendered.subject[:255], text_body=rendered.text, html_body=rendered.html,
                payload={"attachment_builder": attachment_builder, "attachment_args": list(attachment_args)},
                essential=spec.essential if spec else True, customer=customer, status=status,
                error=skip or error,
            )  # fmt: skip
    except IntegrityError:
        return None
    if status == Notification.Status.QUEUED:
        _enqueue(notification)
    return notification


def notify(
    event: str,
    *,
    to: str,
    context: dict | None = None,
    key: str | None = None,
    customer=None,
    attachment_builder: str | None = None,
    attachment_args: tuple = (),
) -> Notification | None:
    """Send a catalogue email by event name (the catalogue gives the template and default subject).

    `key` names the object the message is about (e.g. f"invoice_reminder:{invoice.uuid}"): one
    message per key, ever.
    """
    spec = catalogue.email_event(event)
    if spec is None:
        raise ValueError(f"Unknown notification event {event!r}; add it to core/notifications/catalogue.py.")
    return send_email(
        event, to=to, subject="", template=spec.template_key, context=context, dedupe_key=key,
        customer=customer, attachment_builder=attachment_builder, attachment_args=attachment_args,
    )  # fmt: skip


def discord_webhook_for(channel: str) -> str:
    """The webhook of a staff channel (DISCORD_WEBHOOKS), falling back to DISCORD_WEBHOOK_URL."""
    routes = getattr(settings, "DISCORD_WEBHOOKS", {}) or {}
    return routes.get(channel) or settings.DISCORD_WEBHOOK_URL


def discord_alert(
    title: str, description: str = "", *, level: str = "info", fields=None, dedupe_key=None, channel: str = ""
):
    """Queue a staff alert to the Discord webhook of its channel (nothing happens when none is configured).

    `channel` is billing, provisioning or security; without it the title and key decide.
    """
    channel = channel or catalogue.discord_channel_for(title, dedupe_key)
    if not discord_webhook_for(channel):
        return None
    key = (dedupe_key or f"discord:{title}:{clock.now().isoformat()}")[:200]
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                channel=Notification.Channel.DISCORD, event="staff_alert", dedupe_key=key,
                recipient=f"discord:{channel}", subject=title[:255], text_body=description,
                payload={"level": level, "fields": [list(f) for f in fields or []], "route": channel},
            )  # fmt: skip
    except IntegrityError:
        return None
    _enqueue(notification)
    return notification


# --- delivery -------------------------------------------------------------------


def backoff_seconds(attempts: int) -> int:
    return min(conf("RETRY_BASE_SECONDS") * 2 ** max(attempts - 1, 0), conf("RETRY_MAX_SECONDS"))


def _claim(notification_id: int) -> Notification | None:
    """Mark the row as being sent by this worker; None when it is sent, skipped, or another worker has it."""
    now = clock.now()
    with transaction.atomic():
        row = Notification.objects.select_for_update().filter(pk=notification_id).first()
        if row is None or row.status in (Notification.Status.SENT, Notification.Status.SKIPPED):
            return None
        if (
            row.status == Notification.Status.SENDING
            and row.claimed_at
            and now - row.claimed_at < dt.timedelta(seconds=conf("CLAIM_SECONDS"))
        ):
            return None
        row.status = Notification.Status.SENDING
        row.claimed_at = now
        row.attempts += 1
        row.save(update_fields=["status", "claimed_at", "attempts"])
        return row


def deliver(notification_id: int) -> str:
    """Send one outbox row at most once; on failure schedule the next attempt or give up."""
    row = _claim(notification_id)
    if row is None:
        return "already sent"
    try:
        message_id = _send_email(row) if row.channel == Notification.Channel.EMAIL else _send_discord(row)
    except Exception as exc:
        log.warning("Notification %s attempt %s failed: %s", row.pk, row.attempts, exc)
        return _record_failure(row, exc)
    Notification.objects.filter(pk=row.pk).update(
        status=Notification.Status.SENT, sent_at=clock.now(), error="", next_attempt_at=None,
        provider_message_id=(message_id or "")[:128],
    )  # fmt: skip
    return "sent"


def _record_failure(row: Notification, exc: Exception) -> str:
    error = f"Attempt {row.attempts}: {exc.__class__.__name__}: {exc}"[:2000]
    if row.attempts >= conf("MAX_ATTEMPTS"):
        Notification.objects.filter(pk=row.pk).update(
            status=Notification.Status.FAILED, error=error, next_attempt_at=None
        )
        if row.channel == Notification.Channel.EMAIL:
            discord_alert(
                "Customer email could not be delivered",
                f"**{row.event}** to {row.recipient} failed after {row.attempts} attempts: {exc}"[:1500],
                level="danger", channel="billing", dedupe_key=f"notification_failed:{row.pk}",
            )  # fmt: skip
        return "failed"
    Notification.objects.filter(pk=row.pk).update(
        status=Notification.Status.RETRYING, error=error,
        next_attempt_at=clock.now() + dt.timedelta(seconds=backoff_seconds(row.attempts)),
    )  # fmt: skip
    return "retrying"


def _send_email(row: Notification) -> str:
    message = EmailMultiAlternatives(
        subject=row.subject, body=row.text_body, from_email=settings.DEFAULT_FROM_EMAIL, to=[row.recipient]
    )
    if row.html_body:
        message.attach_alternative(row.html_body, "text/html")
    builder = (row.payload or {}).get("attachment_builder")
    if builder:
        for attachment in import_string(builder)(*(row.payload.get("attachment_args") or [])):
            message.attach(attachment.filename, attachment.content, attachment.mimetype)
    message.metadata = {"notification": str(row.pk), "event": row.event}  # anymail passes it to the ESP
    message.tags = [row.event]
    message.send()
    status = getattr(message, "anymail_status", None)
    return getattr(status, "message_id", None) or "" if status else ""


def chat_client(channel: str = ""):
    return import_string(settings.CHAT_CLIENT_CLASS)(discord_webhook_for(channel or "billing"))


def _send_discord(row: Notification) -> str:
    payload = row.payload or {}
    message = ChatMessage(
        title=row.subject, description=row.text_body, level=payload.get("level", "info"),
        fields=[tuple(f) for f in payload.get("fields") or []],
    )  # fmt: skip
    return chat_client(payload.get("route", "")).send(message) or ""


def retry_due_notifications(limit: int = 200) -> int:
    """Queue rows whose next attempt is due, plus queued rows whose task was lost and stale claims."""
    now = clock.now()
    stale = now - dt.timedelta(seconds=conf("CLAIM_SECONDS"))
    lost = now - dt.timedelta(minutes=5)
    due = list(
        Notification.objects.only("pk", "channel", "subject", "text_body", "payload")
        .filter(
            Q(status=Notification.Status.RETRYING, next_attempt_at__lte=now)
            | Q(status=Notification.Status.QUEUED, created_at__lte=lost)
            | Q(status=Notification.Status.SENDING, claimed_at__lte=stale)
        )
        .order_by("next_attempt_at", "created_at")[:limit]
    )
    from django_q.tasks import async_task

    for row in due:
        async_task(*_task_args(row), group="notifications")
    return len(due)


def resend(notification: Notification, *, actor=None) -> Notification:
    """Staff resend: a new outbox row with the same rendered message (audited). Credentials mail is refused."""
    from core.audit.services import record

    from .errors import NotificationError

    spec = catalogue.event_for_template(notification.template) or catalogue.email_event(notification.event)
    if spec is not None and not spec.resendable:
        raise NotificationError(
            "This message carried credentials and is sent only once; the customer can see them in the portal."
        )
    notification.refresh_from_db(fields=["status"])
    if notification.status in (Notification.Status.QUEUED, Notification.Status.SENDING, Notification.Status.RETRYING):
        raise NotificationError("This message is still being delivered; wait for it to be sent or to fail.")
    with transaction.atomic():
        copy = Notification.objects.create(
            channel=notification.channel, event=notification.event, template=notification.template,
            dedupe_key=f"{notification.dedupe_key[:150]}:resend:{clock.now().isoformat()}"[:200],
            recipient=notification.recipient, subject=notification.subject, text_body=notification.text_body,
            html_body=notification.html_body, payload=notification.payload, essential=notification.essential,
            customer=notification.customer, resent_from=notification,
        )  # fmt: skip
        record(
            "notification.resent", notification, actor=actor,
            data={"event": notification.event, "recipient": notification.recipient, "new": copy.pk},
        )  # fmt: skip
        _enqueue(copy)
    return copy


# Old task names (rows queued before the outbox); the payload is now on the row.
def deliver_email(notification_id: int, payload: dict | None = None) -> str:
    return deliver(notification_id)


def deliver_discord(notification_id: int, payload: dict | None = None) -> str:
    return deliver(notification_id)


def render_email(template: str, context: dict) -> tuple[str, str]:
    rendered = templating.render(template, context)
    return rendered.text, rendered.html
