"""A help desk in the cache, so the local demo can list, open and answer tickets without SupportPal."""

from __future__ import annotations

from django.core.cache import cache

from core import clock
from core.support.backend import Department, Message, SupportUser, Ticket
from core.support.errors import TicketNotFound

_KEY = "support-sandbox:state"
DEPARTMENTS = [Department("1", "Technical support"), Department("2", "Billing"), Department("3", "Sales")]


def _state() -> dict:
    return cache.get(_KEY) or {"users": {}, "tickets": {}, "messages": {}, "seq": 1000}


def _save(state: dict) -> None:
    cache.set(_KEY, state, None)


def _next(state: dict) -> str:
    state["seq"] += 1
    return str(state["seq"])


class SandboxSupportBackend:
    def find_user_by_email(self, email):
        for user in _state()["users"].values():
            if user["email"].lower() == email.lower():
                return SupportUser(**user)
        return None

    def create_user(self, *, email, firstname, lastname):
        state = _state()
        user = {"id": _next(state), "email": email, "firstname": firstname, "lastname": lastname}
        state["users"][user["id"]] = user
        _save(state)
        return SupportUser(**user)

    def update_user(self, user_id, *, email, firstname, lastname):
        state = _state()
        state["users"][user_id] = {"id": user_id, "email": email, "firstname": firstname, "lastname": lastname}
        _save(state)
        return SupportUser(**state["users"][user_id])

    def departments(self):
        return list(DEPARTMENTS)

    def list_tickets(self, user_id):
        tickets = [Ticket(**t) for t in _state()["tickets"].values() if t["user_id"] == user_id]
        return sorted(tickets, key=lambda t: t.updated_at, reverse=True)

    def get_ticket(self, ticket_id):
        row = _state()["tickets"].get(str(ticket_id))
        if row is None:
            raise TicketNotFound("Not found in the help desk.")
        return Ticket(**row)

    def messages(self, ticket_id):
        return [Message(**m) for m in _state()["messages"].get(str(ticket_id), [])]

    def create_ticket(self, *, user_id, department_id, subject, text, service_ref="", ip=""):
        state = _state()
        now = clock.now()
        ticket_id = _next(state)
        department = next((d.name for d in DEPARTMENTS if d.id == str(department_id)), "Technical support")
        state["tickets"][ticket_id] = {
            "id": ticket_id, "number": f"5{ticket_id}", "subject": subject, "status": "Open", "user_id": user_id,
            "department": department, "priority": "Low", "created_at": now, "updated_at": now,
            "last_reply_at": now, "last_reply_by_staff": False, "is_closed": False, "service_ref": service_ref,
            "raw": {},
        }  # fmt: skip
        state["messages"][ticket_id] = []
        _save(state)
        self._add(ticket_id, text, by_staff=False)
        # The demo's "operator" answers at once, so a reply thread is visible.
        self._add(ticket_id, "Thanks, we are looking into it. (Sandbox help desk: this is an automatic reply.)",
                  by_staff=True, author="Sandbox support")  # fmt: skip
        return self.get_ticket(ticket_id)

    def reply(self, ticket_id, *, user_id, text, ip=""):
        self.get_ticket(ticket_id)
        return self._add(str(ticket_id), text, by_staff=False)

    def _add(self, ticket_id, text, *, by_staff, author=""):
        state = _state()
        now = clock.now()
        message = {"id": _next(state), "text": text, "by_staff": by_staff, "author": author, "created_at": now}
        state["messages"].setdefault(ticket_id, []).append(message)
        ticket = state["tickets"][ticket_id]
        ticket.update(updated_at=now, last_reply_at=now, last_reply_by_staff=by_staff,
                      status="Awaiting reply" if by_staff else "Open")  # fmt: skip
        _save(state)
        return Message(**message)

    def sso_url(self, user, *, redirect=""):
        return ""
