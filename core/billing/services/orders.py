"""Orders: what a customer asks to buy, its first invoice, and fulfilment once that invoice is paid."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.db import transaction

from core import clock, money
from core.audit.services import record
from core.billing.errors import OrderError
from core.billing.models import Coupon, Invoice, Order, OrderItem
from core.billing.services import coupons as coupon_service
from core.billing.services.provisioning_bridge import provisioning
from core.catalog.models import Price, Product

log = logging.getLogger(__name__)
ZERO = Decimal("0")


def _trial_days(price: Price, coupon: Coupon | None) -> int:
    days = price.trial_days or 0
    if coupon is not None and coupon.kind == Coupon.Kind.TRIAL:
        days += coupon.trial_extension_days
    return days


def _check_items(customer, items: list[dict]) -> list[dict]:
    if not items:
        raise OrderError("An order needs at least one item.", field="items")
    checked = []
    for n, item in enumerate(items, start=1):
        price = item.get("price")
        if not isinstance(price, Price):
            raise OrderError(f"Item {n} has no price.", field="items")
        product = price.product
        if not price.is_active or product.status != Product.Status.ACTIVE:
            raise OrderError(f"{product.name} is not for sale at the moment.", field="items")
        if price.currency_id != customer.currency_id:
            raise OrderError(
                f"{product.name} is priced in {price.currency_id}; your account is billed in {customer.currency_id}.",
                field="items",
            )
        quantity = int(item.get("quantity", 1) or 1)
        if quantity < 1:
            raise OrderError("Quantities must be at least 1.", field="items")
        if product.stock_quantity is not None and product.stock_quantity < quantity:
            raise OrderError(f"{product.name} is out of stock.", field="items")
        checked.append({"price": price, "quantity": quantity, "hostname": item.get("hostname", "") or "",
                        "config": item.get("config") or {}})  # fmt: skip
    return checked


def _check_capacity(items: list[dict]) -> None:
    from core.provisioning.errors import CapacityError

    for item in items:
        try:
            provisioning().check_capacity(item["price"].product)
        except CapacityError as exc:
            raise OrderError(
                f"We cannot take an order for {item['price'].product.name} right now: {exc}", field="items"
            ) from exc


def first_invoice_lines(items: list[dict], coupon: Coupon | None, currency: str, now: dt.datetime) -> list[dict]:
    """Lines of an order's first invoice: first period (nothing during a trial), setup fees, coupon discount."""
    from core.billing.services.subscriptions import add_cycles

    lines = []
    for item in items:
        price, qty = item["price"], item["quantity"]
        product = price.product
        label = f"{product.name}" + (f" ({item['hostname']})" if item["hostname"] else "")
        trial = _trial_days(price, coupon)
        if trial:
            end = now + dt.timedelta(days=trial)
            lines.append({"description": f"{label}: free trial until {end:%Y-%m-%d}", "quantity": qty,
                          "unit_amount": ZERO, "product": product, "period_start": now, "period_end": end})  # fmt: skip
        else:
            end = add_cycles(now, price.cycle)
            lines.append({"description": f"{label}: {now:%Y-%m-%d} to {end:%Y-%m-%d} ({price.get_cycle_display()})",
                          "quantity": qty, "unit_amount": price.amount, "product": product,
                          "amount": money.quantize(price.amount * qty, currency),
                          "period_start": now, "period_end": end})  # fmt: skip
        if price.setup_fee > 0:
            lines.append({"description": f"{product.name}: setup fee", "quantity": qty, "unit_amount": price.setup_fee,
                          "amount": money.quantize(price.setup_fee * qty, currency), "kind": "setup",
                          "product": product})  # fmt: skip
    if coupon is not None:
        lines += coupon_service.discount_lines(coupon, lines, currency)
    return lines


def place_order(
    customer,
    items: list[dict],
    *,
    coupon_code: str | None = None,
    ip_address: str | None = None,
    actor=None,
) -> Order:
    """Validate an order, redeem its coupon, and issue its first invoice.

    Invariants: nothing (order, invoice, coupon use) is written when any item is refused
    (inactive, out of stock, no platform capacity) or the coupon cannot be used; the coupon
    is redeemed in the same transaction as the order.
    """
    from core.billing.services.invoices import create_draft_invoice, issue_invoice

    checked = _check_items(customer, items)
    coupon = coupon_service.find_coupon(coupon_code) if coupon_code else None
    if coupon is not None:
        coupon_service.check_coupon(coupon, customer, products=[i["price"].product for i in checked],
                                    currency=customer.currency_id)  # fmt: skip
    _check_capacity(checked)
    now = clock.now().replace(microsecond=0)
    with transaction.atomic():
        order = Order.objects.create(customer=customer, currency_id=customer.currency_id, coupon=coupon,
                                     ip_address=ip_address)  # fmt: skip
        OrderItem.objects.bulk_create(
            [OrderItem(order=order, price=i["price"], quantity=i["quantity"], hostname=i["hostname"][:253],
                       config=i["config"]) for i in checked]
        )  # fmt: skip
        if coupon is not None:
            coupon_service.redeem_coupon(coupon, customer, order=order, products=[i["price"].product for i in checked],
                                         currency=customer.currency_id, actor=actor)  # fmt: skip
        lines = first_invoice_lines(checked, coupon, customer.currency_id, now)
        invoice = create_draft_invoice(customer, lines=lines, purpose=Invoice.Purpose.NEW_ORDER)
        order.invoice = invoice
        order.save(update_fields=["invoice"])
        invoice = issue_invoice(invoice, actor=actor, due_date=clock.today())
        order.invoice = invoice
        record("order.place", order, actor=actor, data={"invoice": invoice.number, "total": str(invoice.total)})
        _alert_new_order(order, invoice)
    return order


def _alert_new_order(order: Order, invoice: Invoice) -> None:
    from core.notifications.services import discord_alert

    discord_alert(
        f"New order #{order.pk}: {money.format_amount(invoice.total, invoice.currency_id)}",
        f"{order.customer.display_name} · invoice {invoice.number}",
        dedupe_key=f"order_placed:{order.uuid}",
    )


def fulfil_order(order: Order) -> Order:
    """Once the order's first invoice is paid: one subscription per item, and its service created.

    Idempotent: an item that already has a subscription is skipped; a fulfilled order is left alone.
    """
    with transaction.atomic():
        # Lock the order row only. select_related here would lock the joined rows too (MariaDB has
        # no FOR UPDATE OF): the coupon, shared by every order using it, would serialise unrelated
        # fulfilments, and the customer/invoice rows would be taken in the opposite order to
        # apply_credit (customer, then invoice) and deadlock. The invoice is read, not changed;
        # record_payment, our usual caller, already holds its lock.
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status in (Order.Status.FULFILLED, Order.Status.CANCELLED, Order.Status.REFUSED):
            return order
        if order.invoice is None or order.invoice.status != Invoice.Status.PAID:
            raise OrderError(f"Order {order.pk} cannot be fulfilled before its first invoice is paid.")
        from core.billing.services.subscriptions import start_subscription

        start = order.invoice.paid_at or clock.now()
        created = []
        for item in order.items.select_related("price__product").filter(subscription__isnull=True):
            coupon = order.coupon
            keep, remaining = (False, None)
            if coupon is not None and coupon_service.applies_to(coupon, item.price.product):
                discounted = _trial_days(item.price, coupon) == 0 and coupon.kind != Coupon.Kind.TRIAL
                keep, remaining = coupon_service.cycles_after_first(coupon, first_invoice_discounted=discounted)
            subscription = start_subscription(
                order.customer, item.price, quantity=item.quantity, start=start,
                trial_days=_trial_days(item.price, coupon), coupon=coupon if keep else None,
                coupon_cycles_remaining=remaining if keep else None,
            )  # fmt: skip
            item.subscription = subscription
            item.save(update_fields=["subscription"])
            created.append((subscription, item))
        order.status = Order.Status.FULFILLED
        order.paid_at = order.paid_at or order.invoice.paid_at
        order.save(update_fields=["status", "paid_at"])
        record("order.fulfil", order, data={"subscriptions": [s.pk for s, _ in created]})
        for subscription, item in created:
            provisioning().create_service(subscription, item)
    return order


def refuse_order(order: Order, *, reason: str, actor=None) -> Order:
    """Staff refuse an unpaid order (fraud, no stock): the order is refused and its invoice voided."""
    from core.billing.services.invoices import void_invoice

    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status != Order.Status.PENDING:
            raise OrderError(f"Order {order.pk} is {order.get_status_display().lower()} and cannot be refused.")
        order.status = Order.Status.REFUSED
        order.refusal_reason = reason[:255]
        order.save(update_fields=["status", "refusal_reason"])
        if order.invoice and order.invoice.status == Invoice.Status.ISSUED:
            void_invoice(order.invoice, reason=f"Order refused: {reason}", actor=actor)
        record("order.refuse", order, actor=actor, message=reason)
    return order
