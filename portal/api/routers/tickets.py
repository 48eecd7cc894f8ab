"""Support tickets: list, read, open (optionally about a service) and reply, through core.support.services.

A ticket that is not the caller's answers 404 like a missing one; a help desk that cannot be
reached answers 503 (`support_unavailable`) with Retry-After, and nothing was sent.
"""

import uuid

from ninja import Router, Status
from ninja.pagination import paginate

from core.provisioning.models import Service
from core.support import services as support
from core.support.errors import SupportError, SupportUnavailable, TicketNotFound

from .. import auth
from ..errors import ApiError, NotFound, responses
from ..idempotency import IdempotencyKeyHeader, idempotent
from ..pagination import Page
from ..schemas.tickets import DepartmentOut, MessageOut, ReplyIn, TicketCreateIn, TicketDetailOut, TicketOut

router = Router(tags=["tickets"])


def _call(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except TicketNotFound as exc:
        raise NotFound("ticket") from exc
    except SupportUnavailable as exc:
        raise ApiError(503, "support_unavailable", str(exc) or "The help desk cannot be reached; try again shortly.",
                       headers={"Retry-After": "60"}) from exc  # fmt: skip
    except SupportError as exc:
        raise ApiError(422, "support", str(exc)) from exc


def _service_uuids(customer, tickets) -> dict[str, str]:
    refs = {int(t.service_ref) for t in tickets if t.service_ref.isdigit()}
    if not refs:
        return {}
    rows = Service.objects.filter(customer=customer, pk__in=refs).values_list("pk", "uuid")
    return {str(pk): str(value) for pk, value in rows}


def ticket_out(ticket, services: dict[str, str]) -> dict:
    return {
        "id": ticket.id, "number": ticket.number, "subject": ticket.subject, "status": ticket.status,
        "department": ticket.department, "priority": ticket.priority, "is_closed": ticket.is_closed,
        "created_at": ticket.created_at, "updated_at": ticket.updated_at, "last_reply_at": ticket.last_reply_at,
        "last_reply_by_staff": ticket.last_reply_by_staff, "service_id": services.get(ticket.service_ref),
    }  # fmt: skip


def message_out(message) -> dict:
    return {"id": message.id, "text": message.text, "by_staff": message.by_staff, "author": message.author,
            "created_at": message.created_at}  # fmt: skip


def _detail(customer, ticket_id: str) -> dict:
    if not ticket_id.isdigit():
        raise NotFound("ticket")
    ticket, thread = _call(support.get_customer_ticket, customer, ticket_id)
    return {**ticket_out(ticket, _service_uuids(customer, [ticket])), "messages": [message_out(m) for m in thread]}


@router.get("/tickets", response=responses({200: list[TicketOut]}, 503), auth=auth.read, summary="Your tickets")
@paginate(Page)
def list_tickets(request):
    """Newest activity first."""
    customer = auth.caller(request).customer
    tickets = _call(support.customer_tickets, customer)
    services = _service_uuids(customer, tickets)
    return [ticket_out(t, services) for t in tickets]


@router.get("/tickets/departments", response=responses({200: list[DepartmentOut]}, 503), auth=auth.read,
            summary="Departments a ticket can be opened in")  # fmt: skip
@paginate(Page)
def list_departments(request):
    return [{"id": d.id, "name": d.name} for d in _call(support.departments)]


@router.get("/tickets/{ticket_id}", response=responses({200: TicketDetailOut}, 404, 503), auth=auth.read,
            summary="One ticket and its replies")  # fmt: skip
def get_ticket(request, ticket_id: str):
    return _detail(auth.caller(request).customer, ticket_id)


@router.post("/tickets", response=responses({201: TicketDetailOut}, 503), auth=auth.write,
             summary="Open a ticket")  # fmt: skip
@idempotent
def create_ticket(request, payload: TicketCreateIn, idempotency_key: str = IdempotencyKeyHeader):
    caller = auth.caller(request)
    service = None
    if payload.service_id:
        try:
            service_uuid = uuid.UUID(payload.service_id)
        except ValueError:
            service_uuid = None
        service = Service.objects.filter(customer=caller.customer, uuid=service_uuid).first() if service_uuid else None
        if service is None:
            raise ApiError(422, "invalid_request", "No such service, or it is not yours.",
                           fields={"service_id": ["No such service, or it is not yours."]})  # fmt: skip
    ticket = _call(support.open_ticket, caller.customer, department_id=payload.department_id,
                   subject=payload.subject, text=payload.text, service=service,
                   ip=request.META.get("REMOTE_ADDR", ""), actor=caller.user)  # fmt: skip
    return Status(201, _detail(caller.customer, ticket.id))


@router.post("/tickets/{ticket_id}/replies", response=responses({201: MessageOut}, 404, 503), auth=auth.write,
             summary="Reply to a ticket")  # fmt: skip
def reply(request, ticket_id: str, payload: ReplyIn):
    caller = auth.caller(request)
    if not ticket_id.isdigit():
        raise NotFound("ticket")
    message = _call(support.reply_to_ticket, caller.customer, ticket_id, text=payload.text,
                    ip=request.META.get("REMOTE_ADDR", ""))  # fmt: skip
    return Status(201, message_out(message))
