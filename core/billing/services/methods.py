"""Saved payment methods and gateway customers: save, list, remove, choose the default.

Invariants: a customer has at most one default method among those not removed; a method
belongs to exactly one customer (the gateway id is unique); a removed method is never
charged again (subscriptions that used it lose it and fall back to the customer default).
Network calls to the gateway happen before our transaction, never inside it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction

from core import clock
from core.audit.services import record
from core.billing.errors import PaymentError
from core.billing.gateways import GatewayError, SavedMethod, SetupSession, get_gateway
from core.billing.models import GatewayCustomer, Invoice, PaymentMethod, Subscription

log = logging.getLogger(__name__)


def remember_gateway_customer(customer, gateway: str, gateway_customer_id: str) -> GatewayCustomer:
    """Store the gateway's id for our customer once; a concurrent second writer gets the first row."""
    try:
        with transaction.atomic():
            return GatewayCustomer.objects.create(
                customer=customer, gateway=gateway, gateway_customer_id=gateway_customer_id
            )
    except IntegrityError:
        return GatewayCustomer.objects.get(customer=customer, gateway=gateway)


def gateway_customer_id(customer, gateway: str) -> str | None:
    return (
        GatewayCustomer.objects.filter(customer=customer, gateway=gateway)
        .values_list("gateway_customer_id", flat=True)
        .first()
    )


def customer_for_gateway_ref(gateway: str, gateway_customer_id: str):
    row = GatewayCustomer.objects.select_related("customer").filter(
        gateway=gateway, gateway_customer_id=gateway_customer_id
    )
    found = row.first()
    return found.customer if found else None


def active_payment_methods(customer):
    """The customer's usable methods, default first."""
    return PaymentMethod.objects.filter(customer=customer, removed_at__isnull=True).order_by(
        "-is_default", "-created_at"
    )


def default_payment_method(customer) -> PaymentMethod | None:
    return active_payment_methods(customer).filter(is_default=True).first()


def payment_method_for_subscription(subscription: Subscription) -> PaymentMethod | None:
    """The method a renewal of `subscription` is charged to: its own if still usable, else the customer default."""
    method = subscription.payment_method
    if method is not None and method.removed_at is None:
        return method
    return default_payment_method(subscription.customer)


def begin_saving_method(customer, gateway_name: str, *, return_url: str = "") -> SetupSession:
    """Start saving a method at `gateway_name` (Stripe SetupIntent, sandbox card form)."""
    gateway = get_gateway(gateway_name)
    if not gateway.supports_saved_methods:
        raise PaymentError(f"{gateway_name} cannot save a payment method; pay each invoice with it instead.")
    return gateway.begin_save_method(customer, return_url=return_url)


def save_payment_method(customer, gateway_name: str, reference: str, *, make_default: bool | None = None, actor=None):
    """Finish saving a method the customer set up at the gateway and store it for `customer`.

    Idempotent: completing the same setup twice returns the same PaymentMethod. The first method a
    customer saves becomes their default.
    """
    gateway = get_gateway(gateway_name)
    saved = gateway.complete_save_method(customer, reference)
    return store_saved_method(customer, saved, make_default=make_default, actor=actor)


def store_saved_method(customer, saved: SavedMethod, *, make_default: bool | None = None, actor=None) -> PaymentMethod:
    """Persist a method the gateway confirmed. Refuses a method already owned by another customer."""
    with transaction.atomic():
        # Lock the customer's methods so two saves cannot both become the default.
        list(PaymentMethod.objects.select_for_update().filter(customer=customer))
        method = (
            PaymentMethod.objects.select_for_update()
            .filter(gateway=saved.gateway, gateway_method_id=saved.method_id)
            .first()
        )
        if method is not None and method.customer_id != customer.pk:
            raise PaymentError("This payment method belongs to another account.")
        if method is None and (same := _same_card(customer, saved)) is not None:
            return same  # the card is saved already (under another gateway id): never twice
        has_default = PaymentMethod.objects.filter(customer=customer, removed_at__isnull=True, is_default=True).exists()
        fields = {
            "kind": saved.kind, "brand": saved.brand, "last4": saved.last4, "exp_month": saved.exp_month,
            "exp_year": saved.exp_year, "label": saved.label[:100], "removed_at": None,
            "fingerprint": saved.fingerprint[:64],
        }  # fmt: skip
        created = method is None
        if created:
            method = PaymentMethod.objects.create(
                customer=customer, gateway=saved.gateway, gateway_method_id=saved.method_id, **fields
            )
        else:
            for name, value in fields.items():
                setattr(method, name, value)
            method.save()
        if make_default or (make_default is None and not has_default):
            _flag_default(customer, method)
        if created:
            record("payment_method.saved", method, actor=actor, data={"gateway": saved.gateway})
    return method


def _same_card(customer, saved: SavedMethod) -> PaymentMethod | None:
    """The customer's saved method for the same card, if any: by the gateway's card fingerprint where it
    gives one (Stripe's card.fingerprint), else by brand, last 4 digits and expiry. Methods without card
    details (PayPal subscriptions) never match."""
    if saved.kind != "card":
        return None
    mine = PaymentMethod.objects.filter(customer=customer, gateway=saved.gateway, removed_at__isnull=True)
    if saved.fingerprint and (same := mine.filter(fingerprint=saved.fingerprint).order_by("created_at").first()):
        return same
    if not saved.last4:
        return None
    # Rows saved before fingerprints were stored (or from a gateway without them) compare by card details.
    details = {"kind": "card", "brand": saved.brand, "last4": saved.last4, "exp_month": saved.exp_month,
               "exp_year": saved.exp_year}  # fmt: skip
    return mine.filter(**details, fingerprint__in=["", saved.fingerprint]).order_by("created_at").first()


def _flag_default(customer, method: PaymentMethod) -> None:
    PaymentMethod.objects.filter(customer=customer, is_default=True).exclude(pk=method.pk).update(is_default=False)
    if not method.is_default:
        method.is_default = True
        method.save(update_fields=["is_default"])


def set_default_payment_method(customer, method: PaymentMethod, *, actor=None) -> PaymentMethod:
    """Make `method` the customer's only default (here and, where the gateway has one, at the gateway)."""
    _check_owner(customer, method)
    if method.removed_at is not None:
        raise PaymentError("This payment method was removed; add it again to use it.")
    get_gateway(method.gateway).set_default_method(customer, method.gateway_method_id)
    with transaction.atomic():
        list(PaymentMethod.objects.select_for_update().filter(customer=customer))
        method.refresh_from_db()
        _flag_default(customer, method)
        record("payment_method.default_set", method, actor=actor)
    return method


def remove_payment_method(customer, method: PaymentMethod, *, actor=None) -> None:
    """Remove a saved method: detach it at the gateway, stop every subscription from using it,
    and promote the newest remaining method to default if it was the default."""
    _check_owner(customer, method)
    if method.removed_at is not None:
        return
    get_gateway(method.gateway).remove_method(customer, method.gateway_method_id)
    _mark_removed(method, actor=actor)


def forget_payment_method(gateway: str, gateway_method_id: str) -> PaymentMethod | None:
    """The gateway says a method is gone (e.g. detached in Stripe's dashboard): stop using it."""
    method = PaymentMethod.objects.filter(gateway=gateway, gateway_method_id=gateway_method_id).first()
    if method is None or method.removed_at is not None:
        return method
    _mark_removed(method, actor=None)
    return method


def _mark_removed(method: PaymentMethod, *, actor) -> None:
    with transaction.atomic():
        list(PaymentMethod.objects.select_for_update().filter(customer_id=method.customer_id))
        method.refresh_from_db()
        was_default = method.is_default
        method.removed_at = clock.now()
        method.is_default = False
        method.save(update_fields=["removed_at", "is_default"])
        Subscription.objects.filter(payment_method=method).update(payment_method=None)
        if was_default:
            successor = active_payment_methods(method.customer).first()
            if successor is not None:
                _flag_default(method.customer, successor)
        record("payment_method.removed", method, actor=actor)


def set_subscription_payment_method(subscription: Subscription, method: PaymentMethod | None, *, actor=None):
    """Charge `subscription`'s renewals to `method` (None: the customer's default).

    Invariant: one thing collects a subscription's renewals. Choosing a saved card for a
    subscription that a PayPal subscription was paying cancels that PayPal subscription first,
    so the customer is never charged twice for the same period.
    """
    if method is not None:
        _check_owner(subscription.customer, method)
        if method.removed_at is not None:
            raise PaymentError("This payment method was removed; add it again to use it.")
        if method.kind == "subscription" and method.gateway_method_id != subscription.gateway_subscription_id:
            raise PaymentError("That PayPal subscription pays another subscription; start a new one for this one.")
    replaced = subscription.gateway_subscription_id and (
        method is None or method.gateway_method_id != subscription.gateway_subscription_id
    )
    if replaced:
        cancel_gateway_subscription(subscription, reason="Customer chose another payment method", actor=actor)
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        locked.payment_method = method
        locked.gateway = method.gateway if method else ""
        locked.save(update_fields=["payment_method", "gateway", "updated_at"])
        record("subscription.payment_method_set", locked, actor=actor, data={"method": method.pk if method else None})
    subscription.refresh_from_db()
    return subscription


def card_methods_for_subscriptions(customer):
    """Saved methods a customer may pick for a subscription's renewals (PayPal subscriptions pay only their own)."""
    return active_payment_methods(customer).exclude(kind="subscription")


def _check_owner(customer, method: PaymentMethod) -> None:
    if method.customer_id != customer.pk:
        raise PaymentError("This payment method belongs to another account.")


# --- Gateway-billed subscriptions (PayPal) ---------------------------------------------------------


def _subscription_gateway(gateway_name: str):
    gateway = get_gateway(gateway_name)
    if not hasattr(gateway, "begin_subscription"):
        raise PaymentError(f"{gateway_name} does not bill subscriptions itself.")
    return gateway


@dataclass(frozen=True)
class RecurringCharge:
    """What a gateway that bills on its own schedule (PayPal) should take each cycle for a subscription."""

    amount: Decimal  # tax included, coupon applied: the total of the renewal invoice it pays
    currency: str
    first_charge_at: dt.datetime | None  # None: at once (a renewal invoice is already waiting)


def _renewal_total(subscription: Subscription) -> Decimal:
    """The total of the next renewal invoice, built exactly as the billing run builds it (lines, coupon, tax)."""
    from core.billing.services.billing_run import renewal_line_specs
    from core.billing.services.invoices import build_line, price_lines
    from core.billing.services.tax import customer_tax_details, get_tax_calculator

    currency = subscription.currency_id
    lines = [build_line(currency, spec, pos) for pos, spec in enumerate(renewal_line_specs(subscription, []))]
    totals = price_lines(lines, customer_tax_details(subscription.customer), currency, get_tax_calculator())
    return totals.total


@dataclass(frozen=True)
class RenewalState:
    """What every portal page says about a subscription's next renewal (one definition, so they agree).

    `date`: when the next unpaid period starts (the renewal it bills is charged then); `invoice`: an issued
    invoice of the subscription still waiting for money; `due_now`: that invoice is due today or overdue,
    so the page offers its pay link.
    """

    date: dt.datetime
    invoice: Invoice | None = None
    due_now: bool = False


_RUNNING = (Subscription.Status.ACTIVE, Subscription.Status.TRIALING, Subscription.Status.PAST_DUE)


def renewal_state(subscription: Subscription) -> RenewalState | None:
    """The next renewal of a running subscription (None once it is cancelled or ended, or set to end)."""
    from core.billing.services.subscriptions import add_cycles

    if subscription.status not in _RUNNING or subscription.cancel_at_period_end:
        return None
    start = subscription.current_period_end
    if subscription.invoices.filter(renewal_period_start=start, status=Invoice.Status.PAID).exists():
        start = add_cycles(start, subscription.cycle)
    waiting = open_renewal_invoice(subscription)
    if waiting is not None and waiting.amount_due <= 0:
        waiting = None
    due_now = waiting is not None and (waiting.due_date is None or waiting.due_date <= clock.today())
    return RenewalState(start, waiting, due_now)


def open_renewal_invoice(subscription: Subscription) -> Invoice | None:
    """The oldest unpaid renewal invoice: the one a gateway-billed renewal pays first."""
    return (
        subscription.invoices.filter(status=Invoice.Status.ISSUED, kind=Invoice.Kind.INVOICE)
        .order_by("renewal_period_start", "created_at")
        .first()
    )


def next_recurring_charge(subscription: Subscription, *, price=None) -> RecurringCharge:
    """The amount and date of the next renewal a gateway subscription must collect.

    The amount is the customer's real renewal total (their tax, the coupon's remaining cycles),
    not the catalog price; `price` gives the figure after a plan change to that price. The first
    charge waits for the next unpaid period, so approving PayPal never charges a paid period again.
    """
    from core import money
    from core.billing.services.subscriptions import add_cycles

    # A detached copy: the real row (and its cached relations) must not see the hypothetical price.
    sub = Subscription(
        pk=subscription.pk, customer=subscription.customer, price=price or subscription.price,
        currency_id=subscription.currency_id, cycle=subscription.cycle,
        amount=money.quantize(price.amount, subscription.currency_id) if price is not None else subscription.amount,
        current_period_start=subscription.current_period_start, current_period_end=subscription.current_period_end,
        coupon=subscription.coupon, coupon_cycles_remaining=subscription.coupon_cycles_remaining,
    )  # fmt: skip
    waiting = open_renewal_invoice(subscription) if price is None else None
    if waiting is not None and waiting.amount_due > 0:
        return RecurringCharge(waiting.amount_due, waiting.currency_id, None)
    start = subscription.current_period_end
    paid = subscription.invoices.filter(renewal_period_start=start, status=Invoice.Status.PAID).exists()
    if paid:
        start = add_cycles(start, subscription.cycle)
    return RecurringCharge(_renewal_total(sub), subscription.currency_id, start if start > clock.now() else None)


def begin_gateway_subscription(subscription: Subscription, gateway_name: str, *, return_url: str, cancel_url: str):
    """Create the gateway's subscription for `subscription` at its real renewal total; the customer approves
    it at the returned URL."""
    return _subscription_gateway(gateway_name).begin_subscription(
        subscription, return_url=return_url, cancel_url=cancel_url, charge=next_recurring_charge(subscription)
    )


def activate_gateway_subscription(subscription: Subscription, gateway_name: str, reference: str, *, actor=None):
    """After approval: activate it at the gateway and make it the method that pays `subscription`'s renewals.

    Invariant: the gateway subscription carries our subscription's uuid, so one approved for
    another subscription (or another customer) is refused.
    """
    gateway = _subscription_gateway(gateway_name)
    remote = gateway.activate_subscription(reference)
    if remote.get("custom_id") != str(subscription.uuid):
        raise PaymentError("This PayPal subscription was approved for something else.")
    saved = SavedMethod(
        gateway=gateway_name, method_id=reference, kind="subscription",
        label=f"PayPal subscription {reference}",
    )  # fmt: skip
    method = store_saved_method(subscription.customer, saved, make_default=False, actor=actor)
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        previous = locked.gateway_subscription_id if locked.gateway == gateway_name else ""
        locked.payment_method = method
        locked.gateway = gateway_name
        locked.gateway_subscription_id = reference
        locked.save(update_fields=["payment_method", "gateway", "gateway_subscription_id", "updated_at"])
        record("subscription.gateway_subscription_activated", locked, actor=actor, data={"reference": reference})
    if previous and previous != reference:
        transaction.on_commit(lambda: gateway.cancel_subscription(previous, reason="Replaced by a new approval"))
    subscription.refresh_from_db()
    return method


def cancel_gateway_subscription(subscription: Subscription, *, reason: str, actor=None) -> None:
    """Stop the gateway collecting renewals for `subscription` (our own subscription is unchanged)."""
    if not subscription.gateway_subscription_id:
        return
    gateway = _subscription_gateway(subscription.gateway)
    gateway.cancel_subscription(subscription.gateway_subscription_id, reason=reason)
    method = PaymentMethod.objects.filter(
        gateway=subscription.gateway, gateway_method_id=subscription.gateway_subscription_id
    ).first()
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        reference = locked.gateway_subscription_id
        locked.gateway_subscription_id = ""
        locked.save(update_fields=["gateway_subscription_id", "updated_at"])
        record("subscription.gateway_subscription_cancelled", locked, actor=actor, data={"reference": reference})
    if method is not None:
        _mark_removed(method, actor=actor)
    subscription.refresh_from_db()


def suspend_gateway_subscription(subscription: Subscription, *, reason: str, actor=None) -> None:
    """Pause the gateway's collection (e.g. while the service is suspended)."""
    if subscription.gateway_subscription_id:
        _subscription_gateway(subscription.gateway).suspend_subscription(
            subscription.gateway_subscription_id, reason=reason
        )
        record("subscription.gateway_subscription_suspended", subscription, actor=actor)


def revise_gateway_subscription(subscription: Subscription, new_price, *, actor=None) -> str:
    """Follow a plan change at the gateway. Returns a URL the customer must visit to agree, or ""."""
    if not subscription.gateway_subscription_id:
        return ""
    url = _subscription_gateway(subscription.gateway).revise_subscription(
        subscription.gateway_subscription_id, new_price, charge=next_recurring_charge(subscription, price=new_price)
    )
    record("subscription.gateway_subscription_revised", subscription, actor=actor, data={"price": new_price.pk})
    return url


def sync_gateway_subscription_amount(subscription: Subscription, collected: Decimal) -> bool:
    """After a gateway-billed renewal: make the gateway's next charge equal our next renewal total.

    The total moves when a coupon's cycles run out, tax changes or a plan changes. Returns True when
    the gateway was told a new amount. Network call: run it after the payment is committed.
    """
    if not subscription.gateway_subscription_id:
        return False
    # The next regular renewal, not what is left on an open invoice: PayPal's next charge is a full cycle.
    charge = RecurringCharge(_renewal_total(subscription), subscription.currency_id, None)
    if charge.amount == collected or charge.amount <= 0:
        return False
    gateway = _subscription_gateway(subscription.gateway)
    try:
        gateway.update_subscription_amount(subscription.gateway_subscription_id, charge.amount, charge.currency)
    except GatewayError as exc:
        from core.notifications.services import discord_alert

        log.warning("could not update %s subscription amount: %s", subscription.gateway, exc)
        discord_alert(
            f"{subscription.gateway} subscription amount not updated",
            f"{subscription.customer} · {subscription} · {subscription.gateway_subscription_id}: collects "
            f"{collected}, next renewal is {charge.currency} {charge.amount}. Update it at the gateway. ({exc})",
            level="warning", dedupe_key=f"sub_amount:{subscription.gateway_subscription_id}:{charge.amount}",
        )  # fmt: skip
        return False
    record(
        "subscription.gateway_amount_updated", subscription,
        data={"from": str(collected), "to": str(charge.amount), "reference": subscription.gateway_subscription_id},
    )  # fmt: skip
    return True
