"""Support tickets for customers: the SupportPal user link, listing, reading, opening and replying,
and the SupportTicket mirror staff see in the admin.

Every call goes through the backend found in settings (core.support.backend.get_backend). A
customer reaches only tickets whose help desk user is theirs (TicketNotFound otherwise, which
the portal turns into 404). When the help desk is down, SupportUnavailable carries a message
the portal shows instead of a broken page.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from core import clock

from .backend import Message, SupportUser, Ticket, get_backend
from .errors import SupportError, SupportUnavailable, TicketNotFound
from .models import SupportTicket

log = logging.getLogger(__name__)

MAX_SUBJECT = 200
MAX_TEXT = 20000


def _names(customer) -> tuple[str, str]:
    user = customer.user
    return (user.first_name or "").strip(), (user.last_name or "").strip()


def link_customer(customer) -> SupportUser:
    """The customer's help desk user, found by email or created, remembered on the customer (once)."""
    from core.accounts.models import Customer

    backend = get_backend()
    first, last = _names(customer)
    if customer.supportpal_user_id:
        return SupportUser(id=customer.supportpal_user_id, email=customer.user.email, firstname=first, lastname=last)
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if locked.supportpal_user_id:  # linked by a concurrent request
            customer.supportpal_user_id = locked.supportpal_user_id
            return link_customer(customer)
        user = backend.find_user_by_email(customer.user.email) or backend.create_user(
            email=customer.user.email, firstname=first, lastname=last
        )
        Customer.objects.filter(pk=customer.pk).update(supportpal_user_id=user.id)
        customer.supportpal_user_id = user.id
    return user


def sync_customer(customer) -> SupportUser | None:
    """Push the customer's current name and email to their help desk user (when linked)."""
    if not customer.supportpal_user_id:
        return None
    first, last = _names(customer)
    return get_backend().update_user(customer.supportpal_user_id, email=customer.user.email, firstname=first,
                                     lastname=last)  # fmt: skip


def departments():
    return get_backend().departments()


def customer_tickets(customer) -> list[Ticket]:
    """The customer's tickets, newest activity first; the mirror is refreshed on the way."""
    user = link_customer(customer)
    tickets = get_backend().list_tickets(user.id)
    tickets = [t for t in tickets if t.user_id == user.id]  # never trust a filter we cannot verify
    for ticket in tickets:
        mirror_ticket(customer, ticket)
    return tickets


def get_customer_ticket(customer, ticket_id: str) -> tuple[Ticket, list[Message]]:
    """One ticket and its public thread, only if it is the customer's own (TicketNotFound otherwise)."""
    if not str(ticket_id).isdigit() or not customer.supportpal_user_id:
        raise TicketNotFound("Not found.")
    backend = get_backend()
    ticket = backend.get_ticket(str(ticket_id))
    if ticket.user_id != customer.supportpal_user_id:
        raise TicketNotFound("Not found.")
    mirror_ticket(customer, ticket)
    return ticket, backend.messages(ticket.id)


def _clean_text(subject: str | None, text: str) -> tuple[str, str]:
    text = (text or "").strip()
    if not text:
        raise SupportError("Please write a message.")
    if len(text) > MAX_TEXT:
        raise SupportError(f"The message is too long (at most {MAX_TEXT} characters).")
    if subject is not None:
        subject = " ".join((subject or "").split())
        if not subject:
            raise SupportError("Please give the ticket a subject.")
        if len(subject) > MAX_SUBJECT:
            raise SupportError(f"The subject is too long (at most {MAX_SUBJECT} characters).")
    return subject or "", text


def open_ticket(customer, *, department_id: str, subject: str, text: str, service=None, ip: str = "", actor=None):
    """Open a ticket in a public department, optionally about one of the customer's services."""
    from core.audit.services import record

    subject, text = _clean_text(subject, text)
    if service is not None and service.customer_id != customer.pk:
        raise SupportError("Choose one of your own services.")
    backend = get_backend()
    if str(department_id) not in {d.id for d in backend.departments()}:
        raise SupportError("Choose a department.")
    user = link_customer(customer)
    ticket = backend.create_ticket(
        user_id=user.id, department_id=str(department_id), subject=subject, text=text,
        service_ref=str(service.pk) if service is not None else "", ip=ip,
    )  # fmt: skip
    mirror_ticket(customer, ticket, service=service)
    record("support.ticket_opened", customer, actor=actor, customer=customer,
           data={"ticket": ticket.id, "service": service.pk if service else None})  # fmt: skip
    return ticket


def reply_to_ticket(customer, ticket_id: str, *, text: str, ip: str = "") -> Message:
    _, text = _clean_text(None, text)
    ticket, _ = get_customer_ticket(customer, ticket_id)  # ownership first
    message = get_backend().reply(ticket.id, user_id=customer.supportpal_user_id, text=text, ip=ip)
    SupportTicket.objects.filter(external_id=ticket.id).update(
        last_reply_at=message.created_at or clock.now(), last_reply_by_staff=False, updated_at=clock.now()
    )
    return message


def sso_url(customer, redirect: str = "") -> str:
    """Single sign-on link into the help desk's own client area ("" when SSO is not configured)."""
    return get_backend().sso_url(link_customer(customer), redirect=redirect)


# --- the mirror -----------------------------------------------------------------


def _service_for(customer, ticket: Ticket, service=None):
    if service is not None:
        return service
    if ticket.service_ref.isdigit():
        return customer.services.filter(pk=int(ticket.service_ref)).first()
    return None


def mirror_ticket(customer, ticket: Ticket, service=None) -> SupportTicket:
    """Upsert the mirror row; a new staff reply since the last look emails the customer (once per reply)."""
    existing = SupportTicket.objects.filter(external_id=ticket.id).first()
    service = _service_for(customer, ticket, service)
    values = {
        "customer": customer, "number": ticket.number, "subject": ticket.subject[:255], "status": ticket.status[:64],
        "priority": ticket.priority[:64], "department": ticket.department[:100], "last_reply_at": ticket.last_reply_at,
        "last_reply_by_staff": ticket.last_reply_by_staff, "updated_at": ticket.updated_at or clock.now(),
        "raw": _jsonable(ticket.raw),
    }  # fmt: skip
    if ticket.created_at:
        values["opened_at"] = ticket.created_at
    if service is not None:
        values["service"] = service
    row, _ = SupportTicket.objects.update_or_create(external_id=ticket.id, defaults=values)
    if (
        existing is not None
        and ticket.last_reply_by_staff
        and ticket.last_reply_at
        and (existing.last_reply_at is None or ticket.last_reply_at > existing.last_reply_at)
    ):
        _email_staff_reply(customer, ticket)
    return row


def _jsonable(raw: dict) -> dict:
    import json

    try:
        return json.loads(json.dumps(raw, default=str))
    except (TypeError, ValueError):
        return {}


def _reply_excerpt(ticket: Ticket) -> str:
    from django.utils.html import strip_tags

    try:
        replies = [m for m in get_backend().messages(ticket.id) if m.by_staff]
    except SupportError:  # the mail still goes out, without the excerpt
        return ""
    if not replies:
        return ""
    text = " ".join(strip_tags(replies[-1].text).split())
    return text if len(text) <= 400 else text[:399] + "…"


def _email_staff_reply(customer, ticket: Ticket) -> None:
    from django.urls import reverse

    from core.notifications.services import notify

    notify(
        "ticket_reply", to=customer.user.email, customer=customer,
        key=f"ticket_reply:{ticket.id}:{ticket.last_reply_at.isoformat()}",
        context={"name": customer.user.first_name or customer.user.email, "ticket_number": ticket.number,
                 "ticket_subject": ticket.subject, "excerpt": _reply_excerpt(ticket),
                 "ticket_url": settings.SITE_URL.rstrip("/") + reverse("portal:ticket_detail", args=[ticket.id])},
    )  # fmt: skip


def refresh_customer_mirror(customer) -> int:
    if not customer.supportpal_user_id:
        return 0
    return len(customer_tickets(customer))


def refresh_all_mirrors() -> dict:
    """Refresh every linked customer's tickets (the scheduled task). Stops early when the help desk is down."""
    from core.accounts.models import Customer

    done = failed = 0
    for customer in Customer.objects.exclude(supportpal_user_id="").select_related("user").iterator():
        try:
            refresh_customer_mirror(customer)
            done += 1
        except SupportUnavailable:
            log.warning("Help desk unavailable; mirror refresh stopped after %s customers", done)
            return {"refreshed": done, "failed": failed, "stopped": True}
        except SupportError as exc:
            log.warning("Mirror refresh failed for customer %s: %s", customer.pk, exc)
            failed += 1
    return {"refreshed": done, "failed": failed, "stopped": False}


def refresh_ticket(ticket_id: str) -> SupportTicket | None:
    """Re-read one ticket from the help desk into the mirror (a help desk event named it).

    The ticket's user decides the customer; a ticket of a user we do not know is ignored.
    """
    from core.accounts.models import Customer

    if not str(ticket_id).isdigit():
        return None
    ticket = get_backend().get_ticket(str(ticket_id))
    customer = Customer.objects.select_related("user").filter(supportpal_user_id=ticket.user_id).first()
    if customer is None or not ticket.user_id:
        return None
    return mirror_ticket(customer, ticket)


# --- The WHMCS support archive (tickets imported by integrations/whmcs) -----------------------------


def is_imported_archive(ticket: SupportTicket) -> bool:
    return (ticket.raw or {}).get("source") == "whmcs"


def archive_entries(ticket: SupportTicket) -> list[dict]:
    """An imported ticket's WHMCS history as one list, oldest first: the opening message, the replies and
    the staff notes, each {kind, date, by, staff, message, attachments} (attachment dicts are copies)."""
    raw = ticket.raw or {}
    if raw.get("source") != "whmcs":
        return []

    def entry(kind: str, item: dict, *, staff: bool) -> dict:
        return {"kind": kind, "date": item.get("date") or "", "by": item.get("by") or "", "staff": staff,
                "message": item.get("message") or "", "attachments": [dict(a) for a in item.get("attachments", [])]}  # fmt: skip

    opened = f"{ticket.opened_at:%Y-%m-%d %H:%M:%S}" if ticket.opened_at else ""
    guest = raw.get("guest") or {}
    first = entry("message", {**raw, "date": opened, "by": guest.get("name") or ""}, staff=False)
    later = [entry("reply", r, staff=bool(r.get("staff"))) for r in raw.get("replies", [])]
    later += [entry("note", n, staff=True) for n in raw.get("notes", [])]
    return [first, *sorted(later, key=lambda e: e["date"])]
