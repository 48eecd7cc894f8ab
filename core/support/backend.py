"""The support protocol core talks to; the implementation (SupportPal, or the demo sandbox)
is found by name through settings.SUPPORT_BACKEND / SUPPORT_BACKEND_CLASSES.

Backends return these plain dataclasses and raise core.support.errors; SupportPal's field
names and status codes stay in integrations/supportpal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from .errors import SupportUnavailable


@dataclass
class SupportUser:
    id: str
    email: str
    firstname: str = ""
    lastname: str = ""


@dataclass
class Department:
    id: str
    name: str


@dataclass
class Ticket:
    id: str
    number: str
    subject: str
    status: str
    user_id: str
    department: str = ""
    priority: str = ""
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    last_reply_at: dt.datetime | None = None
    last_reply_by_staff: bool = False
    is_closed: bool = False
    service_ref: str = ""  # our service UUID from the ticket's custom field
    raw: dict = field(default_factory=dict)


@dataclass
class Message:
    id: str
    text: str
    by_staff: bool
    author: str = ""
    created_at: dt.datetime | None = None


class SupportBackend(Protocol):
    def find_user_by_email(self, email: str) -> SupportUser | None: ...

    def create_user(self, *, email: str, firstname: str, lastname: str) -> SupportUser: ...

    def update_user(self, user_id: str, *, email: str, firstname: str, lastname: str) -> SupportUser: ...

    def departments(self) -> list[Department]: ...

    def list_tickets(self, user_id: str) -> list[Ticket]: ...

    def get_ticket(self, ticket_id: str) -> Ticket: ...

    def messages(self, ticket_id: str) -> list[Message]:
        """Only what the customer may read: public replies, no internal notes, no drafts."""
        ...

    def create_ticket(
        self, *, user_id: str, department_id: str, subject: str, text: str, service_ref: str = "", ip: str = ""
    ) -> Ticket: ...

    def reply(self, ticket_id: str, *, user_id: str, text: str, ip: str = "") -> Message: ...

    def sso_url(self, user: SupportUser, *, redirect: str = "") -> str:
        """Single sign-on link into the help desk's client area ("" when not configured)."""
        ...


def get_backend() -> SupportBackend:
    name = getattr(settings, "SUPPORT_BACKEND", "")
    if not name:
        raise SupportUnavailable("Support tickets are not set up yet. Please email us instead.")
    try:
        path = settings.SUPPORT_BACKEND_CLASSES[name]
    except KeyError as exc:
        raise SupportUnavailable(f"Unknown support backend {name!r}.") from exc
    return import_string(path)()


def is_configured() -> bool:
    return bool(getattr(settings, "SUPPORT_BACKEND", ""))
