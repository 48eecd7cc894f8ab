"""Services: list, detail, power, usage, reinstall, plan change (preview, confirm), cancel at period end and its undo.

Plan changes and cancellation act on the service's subscription through core.billing.services
(proration.preview_change_plan / change_plan, subscriptions.cancel_subscription / resume_subscription).
"""

import datetime as dt
import uuid
from contextlib import contextmanager
from typing import Literal

from ninja import Router, Status
from ninja.pagination import paginate

from core.billing.errors import SubscriptionError
from core.billing.services.proration import change_plan, preview_change_plan
from core.billing.services.subscriptions import cancel_subscription, resume_subscription
from core.catalog.models import Price
from core.provisioning.drivers import PowerAction
from core.provisioning.models import Service
from core.provisioning.services import power_service, reinstall_service, service_usage
from core.usage.queries import period_usage

from .. import auth
from ..errors import ApiError, responses
from ..idempotency import IdempotencyKeyHeader, idempotent
from ..pagination import Mapped, Page
from ..query import known_query
from ..schemas.services import (
    AcceptedOut,
    CancelIn,
    ChangePlanIn,
    PlanChangeOut,
    PlanChangePreviewOut,
    PowerIn,
    ReinstallIn,
    ServiceDetailOut,
    ServiceOut,
    UsageOut,
)
from .common import amount, date_range, own, plain

router = Router(tags=["services"])
ServiceStatus = Literal["pending", "provisioning", "active", "suspended", "terminated", "failed", "awaiting_stock"]


def _services():
    return Service.objects.select_related("product", "subscription")


def _own_service(customer, service_id) -> Service:
    return own(_services().select_related("connection", "subscription__price"), customer, "service", uuid=service_id)


def service_out(service: Service) -> dict:
    sub = service.subscription
    return {
        "id": service.uuid, "label": service.label, "hostname": service.hostname, "status": service.status,
        "service_type": service.product.service_type, "product": service.product.name,
        "product_slug": service.product.slug, "primary_ip": service.primary_ip, "created_at": service.created_at,
        "next_due_date": sub.current_period_end if sub else None,
        "cancel_at_period_end": bool(sub and sub.cancel_at_period_end),
    }  # fmt: skip


# The list reads plain rows (no model instances): the benchmarked hot path of the API.
LIST_FIELDS = ("uuid", "label", "hostname", "status", "product__service_type", "product__name", "product__slug",
               "primary_ip", "created_at", "subscription__current_period_end",
               "subscription__cancel_at_period_end")  # fmt: skip


def service_row_out(row: dict) -> dict:
    return {
        "id": row["uuid"], "label": row["label"], "hostname": row["hostname"], "status": row["status"],
        "service_type": row["product__service_type"], "product": row["product__name"],
        "product_slug": row["product__slug"], "primary_ip": row["primary_ip"], "created_at": row["created_at"],
        "next_due_date": row["subscription__current_period_end"],
        "cancel_at_period_end": bool(row["subscription__cancel_at_period_end"]),
    }  # fmt: skip


def service_detail_out(service: Service) -> dict:
    sub = service.subscription
    return {
        **service_out(service),
        "ip_addresses": service.ip_addresses or [], "pending_action": service.pending_action,
        "suspension_reason": service.suspension_reason, "price_id": sub.price_id if sub else None,
        "cycle": sub.cycle if sub else None, "amount": amount(sub.amount, sub.currency_id) if sub else None,
        "currency": sub.currency_id if sub else None, "subscription_status": sub.status if sub else None,
        "provisioned_at": service.provisioned_at, "terminated_at": service.terminated_at,
    }  # fmt: skip


def _subscription(service: Service):
    if service.subscription is None:
        raise ApiError(422, "no_subscription", "This service is not billed by a subscription; contact support "
                       "to change or cancel it.")  # fmt: skip
    return service.subscription


@contextmanager
def _price_field_is_price_id():
    """Billing names the new plan `price`; this API's input calls it `price_id`."""
    try:
        yield
    except SubscriptionError as exc:
        if exc.field == "price":
            exc.field = "price_id"
        raise


def _price(price_id: int) -> Price:
    price = Price.objects.select_related("product").filter(pk=price_id).first()
    if price is None:
        raise ApiError(422, "invalid_request", "No such price.", fields={"price_id": ["No such price."]})
    return price


@router.get("/services", response=responses({200: list[ServiceOut]}), auth=auth.read, summary="Your services")
@known_query("status", "date_from", "date_to")
@paginate(Page)
def list_services(request, status: ServiceStatus | None = None, date_from: dt.date | None = None,
                  date_to: dt.date | None = None):  # fmt: skip
    """Newest first. `date_from`/`date_to` filter on the creation date (both included)."""
    services = Service.objects.filter(customer_id=auth.caller(request).customer_id)
    if status:
        services = services.filter(status=status)
    services = date_range(services, "created_at", date_from, date_to)
    return Mapped(services.order_by("-created_at", "-id"), service_row_out, fields=LIST_FIELDS)


@router.get("/services/{service_id}", response=responses({200: ServiceDetailOut}, 404), auth=auth.read,
            summary="One service")  # fmt: skip
def get_service(request, service_id: uuid.UUID):
    return service_detail_out(_own_service(auth.caller(request).customer_id, service_id))


@router.post("/services/{service_id}/power", response=responses({202: AcceptedOut}, 404, 503), auth=auth.services,
             summary="Start, shut down or restart")  # fmt: skip
def power(request, service_id: uuid.UUID, payload: PowerIn):
    caller = auth.caller(request)
    service = _own_service(caller.customer, service_id)
    power_service(service, PowerAction(payload.action), actor=caller.user)
    return Status(202, {"detail": f"{payload.action} sent to {service}."})


@router.post("/services/{service_id}/reinstall", response=responses({202: ServiceDetailOut}, 404),
             auth=auth.services, summary="Erase and reinstall")  # fmt: skip
@idempotent
def reinstall(request, service_id: uuid.UUID, payload: ReinstallIn, idempotency_key: str = IdempotencyKeyHeader):
    """Erases everything on the server and installs `template` (or what it runs now). Queued: the answer
    has `pending_action` "reinstall" until the install finishes; the new root password is in the portal.
    Asking again for the same template while it runs changes nothing. 422 `reinstall_not_allowed` when
    the service is not active, its platform has no reinstall, or the product does not offer the template
    (then `fields.template` says so)."""
    caller = auth.caller(request)
    service = _own_service(caller.customer, service_id)
    reinstall_service(service, template=payload.template, actor=caller.user)
    return Status(202, service_detail_out(_own_service(caller.customer, service_id)))


@router.get("/services/{service_id}/usage", response=responses({200: UsageOut}, 404), auth=auth.read,
            summary="Live usage and this period's bandwidth")  # fmt: skip
def usage(request, service_id: uuid.UUID):
    service = _own_service(auth.caller(request).customer_id, service_id)
    live = service_usage(service)
    bandwidth = period_usage(service)
    return {
        "live": None if live is None else {name: getattr(live, name) for name in (
            "power_state", "cpu_percent", "memory_bytes", "memory_limit_bytes", "disk_bytes", "disk_limit_bytes",
            "traffic_in_bytes", "traffic_out_bytes", "traffic_total_bytes")},
        "bandwidth": {name: getattr(bandwidth, name) for name in (
            "period_start", "period_end", "bytes_in", "bytes_out", "used_bytes", "quota_bytes", "percent",
            "projected_bytes", "counting", "daily")},
    }  # fmt: skip


@router.post("/services/{service_id}/change-plan/preview", response=responses({200: PlanChangePreviewOut}, 404),
             auth=auth.services, summary="Preview a plan change")  # fmt: skip
def change_plan_preview(request, service_id: uuid.UUID, payload: ChangePlanIn):
    """The exact prorated lines confirming would invoice (upgrade) or credit (downgrade) now."""
    service = _own_service(auth.caller(request).customer_id, service_id)
    with _price_field_is_price_id():
        preview = preview_change_plan(_subscription(service), _price(payload.price_id))
    cur = preview.currency
    return {
        "new_price_id": preview.new_price_id, "currency": cur, "fraction": plain(preview.fraction),
        "lines": [{"description": ln["description"], "amount": amount(ln["amount"], cur),
                   "tax_amount": amount(ln.get("tax_amount", 0), cur), "period_start": ln.get("period_start"),
                   "period_end": ln.get("period_end")} for ln in preview.lines],
        "net": amount(preview.net, cur), "tax": amount(preview.tax, cur), "total": amount(preview.total, cur),
        "is_upgrade": preview.is_upgrade,
    }  # fmt: skip


@router.post("/services/{service_id}/change-plan", response=responses({200: PlanChangeOut}, 404, 409),
             auth=auth.services, summary="Change plan now")  # fmt: skip
@idempotent
def confirm_change_plan(request, service_id: uuid.UUID, payload: ChangePlanIn,
                        idempotency_key: str = IdempotencyKeyHeader):  # fmt: skip
    """Moves the service to the new plan now: an upgrade issues an invoice for the prorated difference
    (pay it with POST /invoices/{id}/pay), a downgrade credits it."""
    caller = auth.caller(request)
    service = _own_service(caller.customer, service_id)
    with _price_field_is_price_id():
        result = change_plan(_subscription(service), _price(payload.price_id), actor=caller.user)
    service = _own_service(caller.customer, service_id)
    invoice = result.invoice
    return {
        "service": service_detail_out(service), "invoice_id": invoice.uuid if invoice else None,
        "invoice_number": invoice.number if invoice else None,
        "credit": amount(result.credit, result.subscription.currency_id),
    }  # fmt: skip


@router.post("/services/{service_id}/cancellation", response=responses({200: ServiceDetailOut}, 404, 409),
             auth=auth.services, summary="Cancel at the end of the paid period")  # fmt: skip
@idempotent
def cancel(request, service_id: uuid.UUID, payload: CancelIn, idempotency_key: str = IdempotencyKeyHeader):
    """The service runs until the period you paid for ends, then stops. Undo with DELETE before then."""
    caller = auth.caller(request)
    service = _own_service(caller.customer, service_id)
    cancel_subscription(_subscription(service), reason=payload.reason, comment=payload.comment, actor=caller.user)
    return service_detail_out(_own_service(caller.customer, service_id))


@router.delete("/services/{service_id}/cancellation", response=responses({200: ServiceDetailOut}, 404),
               auth=auth.services, summary="Undo a pending cancellation")  # fmt: skip
def undo_cancel(request, service_id: uuid.UUID):
    caller = auth.caller(request)
    service = _own_service(caller.customer, service_id)
    resume_subscription(_subscription(service), actor=caller.user)
    return service_detail_out(_own_service(caller.customer, service_id))
