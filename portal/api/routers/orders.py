"""Orders: a price preview (nothing written) and placing an order, which issues its first invoice.

Items are checked by core.billing.services.orders (validate_product_options, preview_order,
place_order); this module only turns ids into objects and errors into field paths.
"""

import uuid

from ninja import Router, Status
from ninja.pagination import paginate

from core.billing.models import Order
from core.billing.services import orders as order_service
from core.catalog.models import Price

from .. import auth
from ..errors import ApiError, responses
from ..idempotency import IdempotencyKeyHeader, idempotent
from ..pagination import Mapped, Page
from ..query import known_query
from ..schemas.orders import OrderIn, OrderOut, OrderPreviewOut
from .common import amount, own, plain

router = Router(tags=["orders"])


def _items(payload: OrderIn) -> list[dict]:
    """Order items as the order services take them; every item's problems at once, as field errors."""
    fields: dict[str, list[str]] = {}
    items = []
    prices = Price.objects.select_related("product").in_bulk([i.price_id for i in payload.items])
    for n, item in enumerate(payload.items):
        price = prices.get(item.price_id)
        if price is None:
            fields[f"items.{n}.price_id"] = ["No such price."]
            continue
        try:
            chosen = order_service.validate_product_options(price.product, item.options)
        except order_service.ProductOptionsError as exc:
            for name, messages in exc.field_errors.items():
                fields[f"items.{n}.options.{name}"] = list(messages)
            continue
        items.append({"price": price, "quantity": item.quantity, **chosen})
    if fields:
        raise ApiError(422, "invalid_request", next(iter(fields.values()))[0], fields=fields)
    return items


def order_out(order: Order) -> dict:
    invoice = order.invoice
    return {
        "id": order.uuid, "status": order.status, "currency": order.currency_id, "created_at": order.created_at,
        "invoice_id": invoice.uuid if invoice else None, "invoice_number": invoice.number if invoice else None,
        "total": amount(invoice.total, invoice.currency_id) if invoice else None,
    }  # fmt: skip


@router.post("/orders/preview", response=responses({200: OrderPreviewOut}), auth=auth.billing,
             summary="Price an order before placing it")  # fmt: skip
def preview_order(request, payload: OrderIn):
    """Lines, tax and total the order's first invoice would have now; an invalid coupon is reported in
    `coupon`, items that cannot be fulfilled in `unavailable`. Nothing is written."""
    customer = auth.caller(request).customer
    preview = order_service.preview_order(customer, _items(payload), coupon_code=payload.coupon_code)
    cur = preview.currency
    return {
        "currency": cur,
        "lines": [{"description": ln["description"], "kind": ln["kind"], "quantity": plain(ln["quantity"]),
                   "unit_amount": plain(ln["unit_amount"]), "amount": amount(ln["amount"], cur),
                   "tax_rate": plain(ln["tax_rate"]), "tax_name": ln["tax_name"],
                   "tax_amount": amount(ln["tax_amount"], cur)} for ln in preview.lines],
        "subtotal": amount(preview.subtotal, cur), "discount_total": amount(preview.discount_total, cur),
        "tax_total": amount(preview.tax_total, cur), "total": amount(preview.total, cur),
        "tax_note": preview.tax_note, "reverse_charge": preview.reverse_charge,
        "coupon": None if preview.coupon is None else vars(preview.coupon),
        "unavailable": preview.unavailable, "can_be_ordered": preview.can_be_ordered,
    }  # fmt: skip


@router.post("/orders", response=responses({201: OrderOut}, 409), auth=auth.billing, summary="Place an order")
@idempotent
def place_order(request, payload: OrderIn, idempotency_key: str = IdempotencyKeyHeader):
    """Places the order and issues its first invoice (pay it with POST /invoices/{invoice_id}/pay).
    Refused with 422 and nothing written when an item cannot be sold or fulfilled or the coupon is invalid.
    Send an Idempotency-Key: a retry then returns this order instead of placing a second one."""
    caller = auth.caller(request)
    order = order_service.place_order(caller.customer, _items(payload), coupon_code=payload.coupon_code,
                                      ip_address=request.META.get("REMOTE_ADDR"), actor=caller.user)  # fmt: skip
    return Status(201, order_out(order))


@router.get("/orders", response=responses({200: list[OrderOut]}), auth=auth.read, summary="Your orders")
@known_query()
@paginate(Page)
def list_orders(request):
    customer = auth.caller(request).customer
    return Mapped(Order.objects.filter(customer=customer).select_related("invoice").order_by("-created_at", "-id"),
                  order_out)  # fmt: skip


@router.get("/orders/{order_id}", response=responses({200: OrderOut}, 404), auth=auth.read, summary="One order")
def get_order(request, order_id: uuid.UUID):
    customer = auth.caller(request).customer
    return order_out(own(Order.objects.select_related("invoice"), customer, "order", uuid=order_id))
