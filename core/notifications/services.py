"""Sending notifications: every message is a queued task with retries, recorded once per dedupe key.

Email goes through Django's mail backend (django-anymail in production, console locally);
staff alerts go to Discord. Callers use `send_email` and `discord_alert`; both return at
once and queue the work after the surrounding transaction commits.
"""

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils.module_loading import import_string

from core import clock

from .chat import ChatMessage
from .models import Notification

log = logging.getLogger(__name__)


@dataclass
class Attachment:
    filename: str
    content: bytes
    mimetype: str = "application/pdf"


@dataclass
class EmailSpec:
    to: str
    subject: str
    template: str  # base name under templates/emails/, rendered as .txt and .html
    context: dict = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)


def _enqueue(func_path: str, *args) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(func_path, *args, group="notifications"))


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
    """Queue one email. With a dedupe key, a second call for the same key does nothing (returns None).

    `attachment_builder` is a dotted path called in the task (e.g. to render an invoice PDF),
    so heavy work happens in the worker, not in the caller's request.
    """
    key = dedupe_key or f"{event}:{to}:{clock.now().isoformat()}"
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                channel=Notification.Channel.EMAIL,
                event=event,
                dedupe_key=key[:200],
                recipient=to,
                subject=subject[:255],
                customer=customer,
            )
    except IntegrityError:
        return None
    payload = {
        "template": template,
        "context": context or {},
        "attachment_builder": attachment_builder,
        "attachment_args": list(attachment_args),
    }
    _enqueue("core.notifications.tasks.deliver_email", notification.pk, payload)
    return notification


def discord_alert(title: str, description: str = "", *, level: str = "info", fields=None, dedupe_key=None):
    """Queue a staff alert to the Discord webhook (nothing happens when no webhook is configured)."""
    if not settings.DISCORD_WEBHOOK_URL:
        return None
    key = dedupe_key or f"discord:{title}:{clock.now().isoformat()}"
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                channel=Notification.Channel.DISCORD, event="staff_alert", dedupe_key=key[:200],
                recipient="discord", subject=title[:255],
            )  # fmt: skip
    except IntegrityError:
        return None
    payload = {"title": title, "description": description, "level": level, "fields": fields or []}
    _enqueue("core.notifications.tasks.deliver_discord", notification.pk, payload)
    return notification


def render_email(template: str, context: dict) -> tuple[str, str]:
    ctx = {"company": settings.COMPANY, "site_url": settings.SITE_URL, **context}
    text = render_to_string(f"emails/{template}.txt", ctx)
    html = render_to_string(f"emails/{template}.html", ctx)
    return text, html


def deliver_email(notification_id: int, payload: dict) -> str:
    """Send a queued email once. Raises on failure so django-q2 retries it."""
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        if notification.status == Notification.Status.SENT:
            return "already sent"
        notification.attempts += 1
        notification.save(update_fields=["attempts"])
    text, html = render_email(payload["template"], payload.get("context") or {})
    message = EmailMultiAlternatives(
        subject=notification.subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[notification.recipient]
    )
    message.attach_alternative(html, "text/html")
    if payload.get("attachment_builder"):
        for attachment in import_string(payload["attachment_builder"])(*payload.get("attachment_args", [])):
            message.attach(attachment.filename, attachment.content, attachment.mimetype)
    try:
        message.send()
    except Exception as exc:
        Notification.objects.filter(pk=notification_id).update(status=Notification.Status.FAILED, error=str(exc)[:2000])
        raise
    status = getattr(message, "anymail_status", None)
    Notification.objects.filter(pk=notification_id).update(
        status=Notification.Status.SENT, sent_at=clock.now(), error="",
        provider_message_id=(getattr(status, "message_id", None) or "")[:128] if status else "",
    )  # fmt: skip
    return "sent"


def chat_client():
    return import_string(settings.CHAT_CLIENT_CLASS)(settings.DISCORD_WEBHOOK_URL)


def deliver_discord(notification_id: int, payload: dict) -> str:
    notification = Notification.objects.get(pk=notification_id)
    if notification.status == Notification.Status.SENT:
        return "already sent"
    Notification.objects.filter(pk=notification_id).update(attempts=notification.attempts + 1)
    message = ChatMessage(
        title=payload["title"], description=payload.get("description", ""), level=payload.get("level", "info"),
        fields=[tuple(f) for f in payload.get("fields") or []],
    )  # fmt: skip
    try:
        message_id = chat_client().send(message)
    except Exception as exc:
        Notification.objects.filter(pk=notification_id).update(status=Notification.Status.FAILED, error=str(exc)[:2000])
        raise
    Notification.objects.filter(pk=notification_id).update(
        status=Notification.Status.SENT, sent_at=clock.now(), provider_message_id=message_id or "", error=""
    )
    return "sent"
