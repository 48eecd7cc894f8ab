"""core.support.backend.SupportBackend implemented on SupportPal's REST API."""

from __future__ import annotations

import functools
import logging

from django.conf import settings

from core.support.backend import Department, Message, SupportUser, Ticket
from core.support.errors import SupportError, SupportUnavailable, TicketNotFound
from integrations.http import ApiError

from .client import SupportPalClient, from_unix

log = logging.getLogger(__name__)

# Message `by` and `type` numbering is UNCONFIRMED (services.md §3.2): 0 = operator / message.
BY_OPERATOR = 0
TYPE_MESSAGE = 0
CLOSED_STATUSES = {"closed", "resolved"}


def _conf(name, default=None):
    return (getattr(settings, "SUPPORTPAL", {}) or {}).get(name, default)


def _name(value) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or "")
    return str(value or "")


def to_user(row: dict) -> SupportUser:
    return SupportUser(id=str(row["id"]), email=row.get("email", ""), firstname=row.get("firstname") or "",
                       lastname=row.get("lastname") or "")  # fmt: skip


def service_ref(row: dict) -> str:
    field_id = str(_conf("SERVICE_CUSTOM_FIELD_ID", "") or "")
    if not field_id:
        return ""
    for value in row.get("customfields") or []:
        if str(value.get("field_id")) == field_id:
            return str(value.get("value") or "")
    return ""


def to_ticket(row: dict) -> Ticket:
    status = _name(row.get("status"))
    last_reply = row.get("last_reply") or {}
    return Ticket(
        id=str(row["id"]), number=str(row.get("number") or row["id"]), subject=row.get("subject") or "",
        status=status or str(row.get("status_id") or ""), user_id=str(row.get("user_id") or ""),
        department=_name(row.get("department")), priority=_name(row.get("priority")),
        created_at=from_unix(row.get("created_at")), updated_at=from_unix(row.get("updated_at")),
        last_reply_at=from_unix(last_reply.get("created_at")) or from_unix(row.get("updated_at")),
        last_reply_by_staff=last_reply.get("by") == BY_OPERATOR if last_reply else False,
        is_closed=status.lower() in CLOSED_STATUSES or bool(row.get("resolved_time")),
        service_ref=service_ref(row), raw=row,
    )  # fmt: skip


def to_message(row: dict) -> Message:
    user = row.get("user") or {}
    return Message(
        id=str(row["id"]), text=row.get("purified_text") or row.get("text") or "",
        by_staff=row.get("by") == BY_OPERATOR, author=user.get("formatted_name") or user.get("firstname") or "",
        created_at=from_unix(row.get("created_at")),
    )  # fmt: skip


def is_public(row: dict) -> bool:
    """Allow-list: a customer sees only plain messages that are not drafts (never notes or other types)."""
    return row.get("type") == TYPE_MESSAGE and not row.get("is_draft")


def _guarded(method):
    """An answer we cannot read (a field missing or of another type after a SupportPal upgrade) is
    reported like an outage, so portal pages show their message instead of an error page."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.exception("SupportPal answered in a shape we do not understand (%s)", method.__name__)
            raise SupportUnavailable("Our help desk gave an answer we could not read. Please try again later.") from exc

    return wrapper


class SupportPalBackend:
    def __init__(self, client: SupportPalClient | None = None):
        if client is None:
            base, token = _conf("BASE_URL", ""), _conf("API_TOKEN", "")
            if not base or not token:
                raise SupportUnavailable("Support tickets are not set up yet (SupportPal URL or token missing).")
            client = SupportPalClient(base, token, timeout=float(_conf("TIMEOUT", 15.0)))
        self.client = client

    def _call(self, func, *args, **kw):
        try:
            return func(*args, **kw)
        except ApiError as exc:
            if exc.status_code == 404:
                raise TicketNotFound("Not found in the help desk.") from exc
            if exc.retryable or exc.status_code in (None, 401, 403):
                raise SupportUnavailable(
                    "Our help desk cannot be reached right now. Please try again in a few minutes."
                ) from exc
            raise SupportError(str(exc)) from exc

    @_guarded
    def find_user_by_email(self, email):
        row = self._call(self.client.find_user_by_email, email)
        return to_user(row) if row else None

    @_guarded
    def create_user(self, *, email, firstname, lastname):
        row = self._call(self.client.create_user, email=email, firstname=firstname or email.split("@")[0],
                         lastname=lastname, brand_id=int(_conf("BRAND_ID", 1)))  # fmt: skip
        return to_user(row)

    @_guarded
    def update_user(self, user_id, *, email, firstname, lastname):
        return to_user(
            self._call(self.client.update_user, user_id, email=email, firstname=firstname, lastname=lastname)
        )

    @_guarded
    def departments(self):
        rows = self._call(self.client.departments)
        return [Department(id=str(r["id"]), name=r.get("name", "")) for r in rows if r.get("public", 1)]

    @_guarded
    def list_tickets(self, user_id):
        return [to_ticket(r) for r in self._call(self.client.list_tickets, user_id)]

    @_guarded
    def get_ticket(self, ticket_id):
        return to_ticket(self._call(self.client.get_ticket, ticket_id))

    @_guarded
    def messages(self, ticket_id):
        rows = self._call(self.client.messages, ticket_id)
        return [to_message(r) for r in rows if is_public(r)]

    @_guarded
    def create_ticket(self, *, user_id, department_id, subject, text, service_ref="", ip=""):
        payload = {"user": int(user_id), "department": int(department_id), "subject": subject, "text": text,
                   "brand": int(_conf("BRAND_ID", 1)), "send_user_email": True}  # fmt: skip
        if ip:
            payload["user_ip_address"] = ip
        field_id = _conf("SERVICE_CUSTOM_FIELD_ID", "")
        if service_ref and field_id:
            payload["customfield"] = {str(field_id): service_ref}
        return to_ticket(self._call(self.client.create_ticket, payload))

    @_guarded
    def reply(self, ticket_id, *, user_id, text, ip=""):
        payload = {"ticket_id": int(ticket_id), "user_id": int(user_id), "message_type": TYPE_MESSAGE,
                   "text": text}  # fmt: skip
        if ip:
            payload["user_ip_address"] = ip
        return to_message(self._call(self.client.reply, payload))

    @_guarded
    def sso_url(self, user, *, redirect=""):
        key = _conf("SIMPLEAUTH_KEY", "")
        if not key:
            return ""
        return self.client.simpleauth_url(key, email=user.email, firstname=user.firstname, lastname=user.lastname,
                                          redirect=redirect)  # fmt: skip
