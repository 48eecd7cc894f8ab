"""Provider tracking events (Mailgun, SendGrid) via django-anymail's `tracking` signal.

anymail's webhook views at /anymail/<esp>/tracking/ verify the request first (Mailgun HMAC
with MAILGUN_WEBHOOK_SIGNING_KEY, SendGrid ECDSA with SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY,
basic auth with WEBHOOK_SECRET) and only then send the signal; an unverified request never
reaches this module. Hard bounces, complaints and rejections suppress the address; staff
are told once per address. Events are matched to the outbox row by provider message id.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from core import clock

from .models import EmailSuppression, Notification

log = logging.getLogger(__name__)

SUPPRESSING = {
    "bounced": EmailSuppression.Reason.BOUNCED,
    "complained": EmailSuppression.Reason.COMPLAINED,
    "rejected": EmailSuppression.Reason.REJECTED,
    "unsubscribed": EmailSuppression.Reason.UNSUBSCRIBED,
}


def suppress_address(address: str, *, reason: str, esp: str = "", detail: str = "", event_id: str = ""):
    """Record an undeliverable address (idempotent: a repeated event changes nothing) and tell staff once."""
    from .services import discord_alert

    address = (address or "").strip().lower()
    if not address:
        return None
    with transaction.atomic():
        existing = EmailSuppression.objects.select_for_update().filter(address=address).first()
        if existing and existing.lifted_at is None:
            return existing
        if existing:  # bounced again after staff lifted it
            existing.reason, existing.esp, existing.detail = reason, esp, detail[:2000]
            existing.event_id, existing.lifted_at, existing.created_at = event_id[:200], None, clock.now()
            existing.save()
            suppression = existing
        else:
            try:
                with transaction.atomic():
                    suppression = EmailSuppression.objects.create(
                        address=address, reason=reason, esp=esp, detail=detail[:2000], event_id=event_id[:200]
                    )
            except IntegrityError:
                return EmailSuppression.objects.get(address=address)
        discord_alert(
            "Customer email address bounced",
            f"**{address}**: {suppression.get_reason_display()} ({esp or 'provider'}). "
            "Non-essential mail to it is stopped; ask the customer for a working address.",
            level="warning", fields=[("Detail", detail[:200] or "—")], channel="security",
            dedupe_key=f"email_bounced:{address}:{suppression.created_at.isoformat()}",
        )  # fmt: skip
    return suppression


def lift_suppression(suppression: EmailSuppression, *, actor=None) -> EmailSuppression:
    from core.audit.services import record

    with transaction.atomic():
        suppression.lifted_at = clock.now()
        suppression.save(update_fields=["lifted_at"])
        record("notification.suppression_lifted", suppression, actor=actor, data={"address": suppression.address})
    return suppression


def handle_tracking_event(event, esp_name: str = "") -> None:
    message_id = getattr(event, "message_id", None) or ""
    event_type = getattr(event, "event_type", "")
    if message_id and event_type in SUPPRESSING:
        Notification.objects.filter(provider_message_id=message_id).exclude(status=Notification.Status.FAILED).update(
            error=f"Provider reported: {event_type} {getattr(event, 'reject_reason', '') or ''}".strip()[:2000]
        )
    if event_type not in SUPPRESSING:
        return
    detail = getattr(event, "mta_response", None) or getattr(event, "description", None) or ""
    reject_reason = getattr(event, "reject_reason", None) or ""
    # anymail maps soft/temporary failures to "deferred"; a "rejected" for a reason other than a
    # known bad address (e.g. a provider-side policy) still suppresses: the ESP will not send to it.
    suppress_address(
        getattr(event, "recipient", "") or "", reason=SUPPRESSING[event_type], esp=esp_name,
        detail=f"{reject_reason} {detail}".strip(), event_id=getattr(event, "event_id", None) or "",
    )  # fmt: skip


def on_tracking(sender, event, esp_name, **kwargs) -> None:
    handle_tracking_event(event, esp_name)


def connect() -> None:
    from anymail.signals import tracking

    tracking.connect(on_tracking, dispatch_uid="core.notifications.bounces")
