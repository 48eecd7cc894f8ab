"""Orders: what a customer asks to buy, its first invoice, and fulfilment once that invoice is paid."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
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
        _email_order_received(order, invoice)
    return order


def _email_order_received(order: Order, invoice: Invoice) -> None:
    """Tell the customer the order arrived (queued in the order's transaction, sent after commit; once per order)."""
    from core.billing.services.invoices import portal_pay_url
    from core.billing.services.pdf import format_money
    from core.notifications.services import notify

    items = [
        f"{i.price.product.name} ({i.price.get_cycle_display()})" for i in order.items.select_related("price__product")
    ]
    notify(
        "order_received",
        to=order.customer.user.email,
        context={
            "customer_name": order.customer.display_name,
            "order_number": order.pk,
            "items": items,
            "total": format_money(invoice.total, invoice.currency_id),
            "pay_url": portal_pay_url(invoice),
        },
        key=f"order_received:{order.uuid}",
        customer=order.customer,
    )


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
        # Items imported from WHMCS (whmcs_ref) already have their services: never start them again.
        items = order.items.select_related("price__product").filter(subscription__isnull=True, whmcs_ref__isnull=True)
        for item in items:
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


# --- Before money moves: the customer's choices and the price they will pay ----------------------

HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")
# Where each platform's driver reads the customer's location and OS choice in ProvisionRequest.config.
LOCATION_KEYS = {
    "virtfusion": "hypervisor_group_id", "pterodactyl": "location_id", "enhance": "server_group_id",
    "synergycp": "location",
}  # fmt: skip
OS_KEYS = {"virtfusion": "os_template_id", "synergycp": "os"}
MAX_VARIABLE_LENGTH = 255


class ProductOptionsError(OrderError):
    """The customer's choices for a product are not allowed. `field_errors` maps each field
    (hostname, location, os_template, variables.<NAME>) to the messages about it."""

    def __init__(self, field_errors: dict[str, list[str]]):
        self.field_errors = field_errors
        first = next(iter(field_errors.values()))[0]
        super().__init__(first, field=next(iter(field_errors)))


def hostname_rule(product: Product) -> str:
    """required, optional or none: servers are named by the customer, game servers and hosting need not be."""
    options = product.order_options or {}
    default = "required" if product.service_type in ("vps", "dedicated") else "optional"
    return options.get("hostname", default)


def _choice(choices: list[dict], value, label: str, errors: dict, field: str):
    if value in (None, ""):
        if choices:
            errors.setdefault(field, []).append(f"Choose a {label}.")
        return None
    for choice in choices:
        if str(choice["id"]) == str(value).strip():
            return choice["id"]
    errors.setdefault(field, []).append(f"That {label} is not offered for this plan; choose one from the list.")
    return None


def chosen_egg(product: Product, egg) -> dict | None:
    """The product's egg entry (order_options "eggs") whose id is `egg`, or None."""
    for choice in (product.order_options or {}).get("eggs") or []:
        if egg not in (None, "") and str(choice["id"]) == str(egg).strip():
            return choice
    return None


def declared_variables(product: Product, egg=None) -> list[dict]:
    """The variables a customer fills in: the product's, then those of the chosen egg (an egg's
    variable replaces the product's of the same name)."""
    declared = {v["name"]: v for v in (product.order_options or {}).get("variables") or []}
    chosen = chosen_egg(product, egg)
    for spec in (chosen or {}).get("variables") or []:
        declared[spec["name"]] = spec
    return list(declared.values())


def validate_product_options(product: Product, options: dict) -> dict:
    """Check what a customer chose for `product` against Product.order_options, before any money moves.

    `options` holds hostname, location, os_template, egg and variables ({NAME: value}); anything else
    is refused. Returns {"hostname": str, "config": dict} ready for an order item: config uses the keys
    the product's platform driver reads (e.g. VirtFusion's os_template_id, Pterodactyl's
    location_id, egg_id/nest_id and environment). A game product that lists eggs needs one chosen, and
    that egg's variables are checked with the product's. Raises ProductOptionsError with every
    field's problem at once.
    """
    allowed = product.order_options or {}
    options = dict(options or {})
    errors: dict[str, list[str]] = {}
    unknown = set(options) - {"hostname", "location", "os_template", "egg", "variables"}
    for key in sorted(unknown):
        errors.setdefault(key, []).append(f"{product.name} has no option {key!r}.")

    rule = hostname_rule(product)
    hostname = str(options.get("hostname") or "").strip().lower().rstrip(".")
    if rule == "none":
        hostname = ""
    elif not hostname and rule == "required":
        errors.setdefault("hostname", []).append("Enter a hostname, e.g. server1.example.com.")
    elif hostname and not HOSTNAME_RE.match(hostname):
        errors.setdefault("hostname", []).append(
            "A hostname has letters, digits and hyphens in dot-separated parts (e.g. server1.example.com), "
            "no part starting or ending with a hyphen, 253 characters at most."
        )

    config: dict = {}
    location = _choice(allowed.get("locations") or [], options.get("location"), "location", errors, "location")
    if location is not None:
        config[LOCATION_KEYS.get(product.platform, "location")] = location
    os_template = _choice(
        allowed.get("os_templates") or [], options.get("os_template"), "operating system", errors, "os_template"
    )
    if os_template is not None:
        config[OS_KEYS.get(product.platform, "os_template")] = os_template

    egg = _choice(allowed.get("eggs") or [], options.get("egg"), "game", errors, "egg")
    if egg is not None:
        config["egg_id"] = egg
        nest_id = (chosen_egg(product, egg) or {}).get("nest_id")
        if nest_id not in (None, ""):
            config["nest_id"] = nest_id

    given = options.get("variables") or {}
    if not isinstance(given, dict):
        errors.setdefault("variables", []).append("Variables must be given as name: value pairs.")
        given = {}
    declared = {v["name"]: v for v in declared_variables(product, egg)}
    for name in sorted(set(given) - set(declared)):
        errors.setdefault(f"variables.{name}", []).append(f"{product.name} has no setting {name!r}.")
    environment = {}
    for name, spec in declared.items():
        label = spec.get("label") or name
        value = given.get(name)
        value = "" if value is None else str(value).strip()
        if not value:
            value = str(spec.get("default") or "")
        if not value:
            if spec.get("required"):
                errors.setdefault(f"variables.{name}", []).append(f"{label} is required.")
            continue
        if len(value) > MAX_VARIABLE_LENGTH:
            errors.setdefault(f"variables.{name}", []).append(
                f"{label} is longer than {MAX_VARIABLE_LENGTH} characters."
            )
        elif spec.get("pattern") and not re.fullmatch(spec["pattern"], value):
            errors.setdefault(f"variables.{name}", []).append(f"{label} is not in the expected format.")
        environment[name] = value
    if environment:
        config["environment"] = environment
    if errors:
        raise ProductOptionsError(errors)
    return {"hostname": hostname, "config": config}


@dataclass
class CouponCheck:
    code: str
    is_valid: bool
    message: str


@dataclass
class OrderPreview:
    """What an order would cost now: the first invoice's lines with tax, before anything is written."""

    currency: str
    lines: list[dict] = field(default_factory=list)  # description, quantity, unit_amount, amount, kind, tax_*
    subtotal: Decimal = ZERO
    discount_total: Decimal = ZERO
    tax_total: Decimal = ZERO
    total: Decimal = ZERO
    tax_note: str = ""
    reverse_charge: bool = False
    coupon: CouponCheck | None = None
    # Items that cannot be fulfilled now (sold out, no panel): the order would be refused.
    unavailable: list[str] = field(default_factory=list)

    @property
    def can_be_ordered(self) -> bool:
        return not self.unavailable and (self.coupon is None or self.coupon.is_valid)


def preview_order(customer, items: list[dict], *, coupon_code: str | None = None, check_capacity: bool = True):
    """The priced lines, subtotal, tax and total `place_order` would invoice for the same items now.

    Items are as for place_order ({"price", "quantity", "hostname", "config"}). An unknown or unusable
    coupon does not fail the preview: it is reported (coupon.is_valid False, with the reason) and the
    lines are priced without it. Item problems (not for sale, wrong currency) raise OrderError.
    Writes nothing.
    """
    from core.billing.errors import CouponError
    from core.billing.services.invoices import build_line, price_lines
    from core.billing.services.tax import customer_tax_details, get_tax_calculator

    checked = _check_items(customer, items)
    currency = customer.currency_id
    coupon, coupon_check = None, None
    if coupon_code and coupon_code.strip():
        try:
            found = coupon_service.find_coupon(coupon_code)
            coupon_service.check_coupon(found, customer, products=[i["price"].product for i in checked],
                                        currency=currency)  # fmt: skip
        except CouponError as exc:
            coupon_check = CouponCheck(code=coupon_code.strip().upper(), is_valid=False, message=str(exc))
        else:
            coupon = found
            coupon_check = CouponCheck(code=found.code, is_valid=True, message=_coupon_summary(found, currency))
    now = clock.now().replace(microsecond=0)
    specs = first_invoice_lines(checked, coupon, currency, now)
    built = [build_line(currency, spec, pos) for pos, spec in enumerate(specs)]
    totals = price_lines(built, customer_tax_details(customer), currency, get_tax_calculator())
    lines = [
        {"description": ln.description, "quantity": ln.quantity, "unit_amount": ln.unit_amount, "amount": ln.amount,
         "kind": ln.kind, "tax_rate": ln.tax_rate, "tax_name": ln.tax_name, "tax_amount": ln.tax_amount}
        for ln in built
    ]  # fmt: skip
    unavailable = []
    if check_capacity:
        try:
            _check_capacity(checked)
        except OrderError as exc:
            unavailable.append(str(exc))
    return OrderPreview(
        currency=currency, lines=lines, subtotal=totals.subtotal, discount_total=totals.discount_total,
        tax_total=totals.tax_total, total=totals.total, tax_note=totals.tax_note,
        reverse_charge=totals.reverse_charge, coupon=coupon_check, unavailable=unavailable,
    )  # fmt: skip


def _coupon_summary(coupon: Coupon, currency: str) -> str:
    if coupon.kind == Coupon.Kind.PERCENT:
        what = f"{coupon.percent.normalize()}% off"
    elif coupon.kind == Coupon.Kind.TRIAL:
        what = f"{coupon.trial_extension_days} extra free days"
    else:
        fixed = coupon.amounts.filter(currency_id=currency).values_list("amount", flat=True).first()
        what = f"{money.format_amount(fixed, currency)} off" if fixed is not None else "a discount"
    return f"Coupon {coupon.code} applied: {what}."
