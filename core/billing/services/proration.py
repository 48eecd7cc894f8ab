"""Plan changes mid-period, prorated by the exact remaining fraction of the period in seconds.

An upgrade invoices the difference for the rest of the period at once; a downgrade gives the
difference back as credit (settings.BILLING["DOWNGRADE_GIVES_CREDIT"]) or nothing. The new
package is applied to the services immediately; an unpaid upgrade invoice then follows the
usual dunning and suspension policy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from core import clock, money
from core.audit.services import record
from core.billing.errors import SubscriptionError
from core.billing.models import CreditEntry, Invoice, InvoiceLine, Subscription
from core.billing.services.provisioning_bridge import provisioning
from core.billing.services.subscriptions import unused_fraction

ZERO = Decimal("0")


@dataclass
class PlanChangePreview:
    subscription_id: int
    new_price_id: int
    at: dt.datetime
    fraction: Decimal
    lines: list[dict] = field(default_factory=list)
    net: Decimal = ZERO  # before tax: > 0 is charged, < 0 is given back
    tax: Decimal = ZERO
    total: Decimal = ZERO
    currency: str = ""

    @property
    def is_upgrade(self) -> bool:
        return self.net > 0


def _check(subscription: Subscription, new_price) -> None:
    if subscription.status not in (
        Subscription.Status.ACTIVE,
        Subscription.Status.TRIALING,
        Subscription.Status.PAST_DUE,
    ):
        raise SubscriptionError("Only a running subscription can change plan.")
    if new_price.pk == subscription.price_id:
        raise SubscriptionError("The subscription is already on this plan.")
    if new_price.currency_id != subscription.currency_id:
        raise SubscriptionError(f"The new plan must be priced in {subscription.currency_id}.", field="price")
    if new_price.cycle != subscription.cycle:
        raise SubscriptionError(
            "A plan change keeps the billing cycle; change the cycle at renewal instead.", field="price"
        )
    if not new_price.is_active:
        raise SubscriptionError(f"{new_price.product.name} is not for sale at the moment.", field="price")


def preview_change_plan(subscription: Subscription, new_price, *, at: dt.datetime | None = None) -> PlanChangePreview:
    """The exact lines a plan change would produce now, before the customer confirms."""
    from core.billing.services.invoices import build_line, price_lines
    from core.billing.services.tax import customer_tax_details, get_tax_calculator

    _check(subscription, new_price)
    at = (at or clock.now()).replace(microsecond=0)
    currency = subscription.currency_id
    trialing = subscription.status == Subscription.Status.TRIALING
    fraction = ZERO if trialing else unused_fraction(subscription, at)
    end = subscription.current_period_end
    pct = (fraction * 100).quantize(Decimal("0.01"))
    old = money.quantize(subscription.amount * fraction, currency)
    new = money.quantize(new_price.amount * fraction, currency)
    lines = [
        {"description": f"Unused time on {subscription.price.product.name} ({pct}% of period, to {end:%Y-%m-%d})",
         "unit_amount": -old, "amount": -old, "kind": InvoiceLine.Kind.PRORATION,
         "product": subscription.price.product, "subscription": subscription, "period_start": at, "period_end": end},
        {"description": f"{new_price.product.name} for the rest of the period ({pct}%, to {end:%Y-%m-%d})",
         "unit_amount": new, "amount": new, "kind": InvoiceLine.Kind.PRORATION,
         "product": new_price.product, "subscription": subscription, "period_start": at, "period_end": end},
    ]  # fmt: skip
    built = [build_line(currency, spec, pos) for pos, spec in enumerate(lines)]
    totals = price_lines(built, customer_tax_details(subscription.customer), currency, get_tax_calculator())
    for spec, line in zip(lines, built, strict=True):
        spec["tax_amount"] = line.tax_amount
    return PlanChangePreview(
        subscription_id=subscription.pk, new_price_id=new_price.pk, at=at, fraction=fraction, lines=lines,
        net=new - old, tax=totals.tax_total, total=totals.total, currency=currency,
    )  # fmt: skip


@dataclass
class PlanChangeResult:
    subscription: Subscription
    invoice: Invoice | None = None
    credit: Decimal = ZERO


def change_plan(
    subscription: Subscription, new_price, *, actor=None, at: dt.datetime | None = None
) -> PlanChangeResult:
    """Move a subscription to another plan now: invoice or credit the prorated difference, change the package.

    Invariant: what is charged or credited equals what `preview_change_plan` showed for the same moment.
    """
    from core.billing.services.credit import add_credit
    from core.billing.services.invoices import create_draft_invoice, issue_invoice

    with transaction.atomic():
        # Lock the subscription row only: joining price__product/customer under FOR UPDATE would
        # lock the shared Price and Product rows too (MariaDB has no FOR UPDATE OF), serialising
        # every plan change and checkout of that product.
        Subscription.objects.select_for_update().filter(pk=subscription.pk).values_list("pk", flat=True).get()
        sub = Subscription.objects.select_related("price__product", "customer").get(pk=subscription.pk)
        preview = preview_change_plan(sub, new_price, at=at)
        old_price = sub.price
        result = PlanChangeResult(subscription=sub)
        if preview.net > 0:
            specs = [{k: v for k, v in spec.items() if k != "tax_amount"} for spec in preview.lines]
            draft = create_draft_invoice(sub.customer, lines=specs, purpose=Invoice.Purpose.UPGRADE, subscription=sub)
            result.invoice = issue_invoice(draft, actor=actor, due_date=clock.today())
        elif preview.total < 0 and settings.BILLING.get("DOWNGRADE_GIVES_CREDIT", True):
            result.credit = -preview.total
            add_credit(sub.customer, result.credit, reason=CreditEntry.Reason.DOWNGRADE, actor=actor,
                       description=f"Downgrade from {old_price.product.name} to {new_price.product.name}")  # fmt: skip
        sub.price = new_price
        sub.amount = money.quantize(new_price.amount, sub.currency_id)
        sub.save(update_fields=["price", "amount", "updated_at"])
        record("subscription.change_plan", sub, actor=actor, data={
            "from": old_price.pk, "to": new_price.pk, "net": str(preview.net), "fraction": str(preview.fraction),
            "invoice": getattr(result.invoice, "number", None), "credit": str(result.credit)})  # fmt: skip
        from core.provisioning.models import Service

        for service in sub.services.exclude(status=Service.Status.TERMINATED):
            provisioning().change_service_package(service, new_price.product, actor=actor)
        _email_plan_changed(sub, old_price, new_price, preview, result)
    return result


def _email_plan_changed(sub: Subscription, old_price, new_price, preview: PlanChangePreview, result) -> None:
    """Tell the customer the plan changed (queued in the change's transaction; one message per change)."""
    from core.billing.services.pdf import format_money
    from core.notifications.services import notify

    service = sub.services.order_by("pk").first()
    amount = ""
    if result.invoice is not None:
        amount = format_money(result.invoice.total, sub.currency_id)
    elif result.credit:
        amount = format_money(result.credit, sub.currency_id)
    notify(
        "plan_changed",
        to=sub.customer.user.email,
        context={
            "product": new_price.product.name,
            "label": str(service) if service else new_price.product.name,
            "service_path": f"/services/{service.uuid}/" if service else "",
            "old_plan": old_price.product.name,
            "new_plan": new_price.product.name,
            "direction": "upgrade" if preview.net > 0 else "downgrade",
            "amount": amount,
        },
        key=f"plan_changed:{sub.uuid}:{old_price.pk}:{new_price.pk}:{preview.at.isoformat()}",
        customer=sub.customer,
    )
