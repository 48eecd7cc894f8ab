"""The daily billing run: renew, roll periods, charge, mark past due, apply the suspension policy.

Every step is idempotent and safe to run twice, in parallel, or again after a crash:
- renewals are issued in batches; each batch locks its subscriptions (skipping rows another
  run holds), re-checks that the period has no renewal invoice yet, takes one block of numbers
  from the sequence and bulk-inserts invoices and lines in one transaction. The unique
  constraint `invoice_one_renewal_per_period` is the backstop;
- pending bandwidth overage goes onto the renewal invoice of its subscription and is marked
  billed in the same transaction (once);
- periods move at period end (see subscriptions.roll_subscription_period);
- charges use the dunning schedule and per-attempt idempotency keys (dunning.py);
- the suspension policy holds large runs for approval (suspension.py).
Each item is handled on its own: one bad subscription is logged and the run goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Sum

from core import clock, money
from core.audit.services import record
from core.billing.models import CreditEntry, Invoice, InvoiceLine, Subscription
from core.billing.services import coupons as coupon_service
from core.billing.services import dunning, numbering, suspension
from core.billing.services.invoices import build_line, freeze_invoice, price_lines
from core.billing.services.subscriptions import period_after, roll_subscription_period
from core.billing.services.tax import customer_tax_details, get_tax_calculator

log = logging.getLogger(__name__)
ZERO = Decimal("0")
BATCH_SIZE = 1000
RUNNING = (Subscription.Status.ACTIVE, Subscription.Status.TRIALING, Subscription.Status.PAST_DUE)
# What a renewal reads; loading only this keeps the 100k-subscription run's per-row cost down.
RENEWAL_FIELDS = (
    "id", "customer_id", "price_id", "currency_id", "cycle", "amount", "status", "current_period_start",
    "current_period_end", "coupon_id", "coupon_cycles_remaining",
    "customer__id", "customer__user_id", "customer__company", "customer__address_line1", "customer__address_line2",
    "customer__city", "customer__region", "customer__postal_code", "customer__country", "customer__vat_id",
    "customer__is_tax_exempt", "customer__auto_apply_credit", "customer__currency_id",
    "customer__user__id", "customer__user__email", "customer__user__first_name", "customer__user__last_name",
    "price__id", "price__product_id", "price__product__id", "price__product__name", "coupon",
)  # fmt: skip


@dataclass
class RunSummary:
    date: str
    dry_run: bool = False
    renewals_issued: int = 0
    renewal_totals: dict = field(default_factory=dict)
    overage_lines: int = 0
    periods_advanced: int = 0
    subscriptions_ended: int = 0
    charges_attempted: int = 0
    charges_succeeded: int = 0
    charges_failed: int = 0
    charges_action_required: int = 0
    charges_unknown: int = 0
    charged_totals: dict = field(default_factory=dict)
    marked_past_due: int = 0
    suspended: int = 0
    terminated: int = 0
    held_for_approval: int = 0
    errors: list = field(default_factory=list)
    # Filled by the preview only: what each step would touch.
    renewals: list = field(default_factory=list)
    charges: list = field(default_factory=list)
    policy: list = field(default_factory=list)

    def add_total(self, bucket: dict, currency: str, amount: Decimal) -> None:
        bucket[currency] = str(Decimal(bucket.get(currency, "0")) + amount)

    def as_dict(self) -> dict:
        data = asdict(self)
        for key in ("renewals", "charges", "policy"):
            data.pop(key)
        data["errors"] = data["errors"][:50]
        return data

    @property
    def has_failures(self) -> bool:
        return bool(self.errors or self.charges_failed)


# --- Renewals -----------------------------------------------------------------------------


def _renewal_due_q(now: dt.datetime) -> Q:
    horizon = now + dt.timedelta(days=settings.BILLING["RENEWAL_DAYS_BEFORE"])
    return Q(status__in=RUNNING, cancel_at_period_end=False, current_period_end__lte=horizon)


def _has_renewal():
    return Exists(
        Invoice.objects.filter(subscription_id=OuterRef("pk"), renewal_period_start=OuterRef("current_period_end"))
    )


def renewal_candidates(now: dt.datetime):
    return Subscription.objects.filter(_renewal_due_q(now)).exclude(_has_renewal())


def _pending_overage(subscription_ids) -> dict[int, list]:
    from core.usage.models import BandwidthPeriod

    found = defaultdict(list)
    rows = BandwidthPeriod.objects.filter(
        service__subscription_id__in=subscription_ids, closed_at__isnull=False, overage_amount__gt=0,
        overage_invoice__isnull=True,
    ).select_related("service")  # fmt: skip
    for row in rows:
        found[row.service.subscription_id].append(row)
    return found


def renewal_line_specs(sub: Subscription, overage: list) -> list[dict]:
    """Lines of a subscription's renewal invoice: the next period, its coupon discount, pending overage."""
    start, end = period_after(sub)
    product = sub.price.product
    specs = [{
        "description": f"{product.name}: {start:%Y-%m-%d} to {end:%Y-%m-%d} ({sub.get_cycle_display()})",
        "unit_amount": sub.amount, "amount": sub.amount, "product": product, "subscription": sub,
        "period_start": start, "period_end": end,
    }]  # fmt: skip
    if sub.coupon_id and (sub.coupon_cycles_remaining is None or sub.coupon_cycles_remaining > 0):
        # A redeemed coupon keeps its cycles even if it expires or is deactivated for new customers.
        specs += coupon_service.discount_lines(sub.coupon, specs[:1], sub.currency_id)
    for period in overage:
        gb = Decimal(period.overage_bytes) / Decimal(10**9)
        specs.append({
            "description": f"Bandwidth overage {period.period_start:%Y-%m-%d} to {period.period_end:%Y-%m-%d} "
                           f"({gb.quantize(Decimal('0.01'))} GB over quota)",
            "unit_amount": period.overage_amount, "amount": period.overage_amount, "kind": InvoiceLine.Kind.OVERAGE,
            "product": product, "subscription": sub, "service": period.service,
        })  # fmt: skip
    return specs


def _renew_batch(ids: list[int], now: dt.datetime, calculator, summary: RunSummary) -> list[int]:
    """Issue the renewal invoices of one batch in one transaction. Returns the new invoice ids."""
    today = now.date()
    with transaction.atomic():
        locked = list(
            Subscription.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids).filter(_renewal_due_q(now)).exclude(_has_renewal())
            .values_list("pk", flat=True)
        )  # fmt: skip
        if not locked:
            return []
        subs = list(
            Subscription.objects.filter(pk__in=locked)
            .select_related("customer__user", "price__product", "coupon")
            .only(*RENEWAL_FIELDS)
        )
        overage = _pending_overage(locked)
        built = []
        for sub in subs:
            specs = renewal_line_specs(sub, overage.get(sub.pk, []))
            lines = [build_line(sub.currency_id, spec, pos) for pos, spec in enumerate(specs)]
            start, _ = period_after(sub)
            invoice = Invoice(
                customer=sub.customer, currency_id=sub.currency_id, purpose=Invoice.Purpose.RENEWAL,
                subscription=sub, renewal_period_start=start,
            )  # fmt: skip
            built.append((sub, invoice, lines))
        numbers = numbering.take_numbers(numbering.INVOICE, today, len(built))
        for (sub, invoice, lines), number in zip(built, numbers, strict=True):
            due = max(sub.current_period_end.date(), today)
            freeze_invoice(
                invoice, lines, number=number, series=numbering.INVOICE, issue_date=today, due_date=due,
                details=customer_tax_details(sub.customer), calculator=calculator,
            )  # fmt: skip
        invoices = Invoice.objects.bulk_create([inv for _, inv, _ in built])
        if any(inv.pk is None for inv in invoices):  # backends without RETURNING on bulk insert
            by_number = dict(Invoice.objects.filter(number__in=numbers).values_list("number", "pk"))
            for inv in invoices:
                inv.pk = by_number[inv.number]
        all_lines = []
        for _, invoice, lines in built:
            for line in lines:
                line.invoice = invoice
                all_lines.append(line)
        InvoiceLine.objects.bulk_create(all_lines, batch_size=2000)
        _mark_overage_billed(overage, built, now, summary)
        _count_coupon_cycles([sub for sub, _, _ in built if sub.coupon_id and sub.coupon_cycles_remaining])
        _apply_credit_where_wanted([inv for _, inv, _ in built])
        for _, invoice, _ in built:
            summary.add_total(summary.renewal_totals, invoice.currency_id, invoice.total)
        record("billing.renewals", None, data={"count": len(built), "first": numbers[0], "last": numbers[-1]})
        ids_created = [inv.pk for _, inv, _ in built]
        transaction.on_commit(lambda: queue_renewal_emails(ids_created))
    return ids_created


def _mark_overage_billed(overage: dict, built, now, summary: RunSummary) -> None:
    from core.usage.models import BandwidthPeriod

    invoice_of = {sub.pk: invoice for sub, invoice, _ in built}
    for sub_id, periods in overage.items():
        invoice = invoice_of.get(sub_id)
        if invoice is None:
            continue
        pks = [p.pk for p in periods]
        marked = BandwidthPeriod.objects.filter(pk__in=pks, overage_invoice__isnull=True).update(
            overage_invoice=invoice, overage_billed_at=now
        )
        if marked != len(pks):
            raise IntegrityError(f"Overage of subscription {sub_id} was billed by someone else meanwhile")
        summary.overage_lines += marked


def _count_coupon_cycles(subs: list[Subscription]) -> None:
    for sub in subs:
        sub.coupon_cycles_remaining -= 1
        if sub.coupon_cycles_remaining == 0:
            sub.coupon = None
    if subs:
        Subscription.objects.bulk_update(subs, ["coupon_cycles_remaining", "coupon"])


def _apply_credit_where_wanted(invoices: list[Invoice]) -> None:
    from core.billing.services.credit import apply_credit

    customer_ids = {inv.customer_id for inv in invoices if inv.customer.auto_apply_credit}
    if not customer_ids:
        return
    with_credit = set(
        CreditEntry.objects.filter(customer_id__in=customer_ids)
        .values("customer_id").annotate(balance=Sum("amount")).filter(balance__gt=0)
        .values_list("customer_id", flat=True)
    )  # fmt: skip
    for inv in invoices:
        if inv.customer_id in with_credit and inv.total > 0 and inv.currency_id == inv.customer.currency_id:
            apply_credit(inv)


def queue_renewal_emails(invoice_ids: list[int]) -> None:
    """One queued task per batch; the worker sends one email (with PDF) per invoice."""
    from django_q.tasks import async_task

    async_task("core.billing.tasks.email_invoices", invoice_ids, group="notifications")


def issue_renewals(now: dt.datetime, summary: RunSummary, *, batch_size: int = BATCH_SIZE, calculator=None) -> None:
    """Renewal invoices for every subscription whose period ends within RENEWAL_DAYS_BEFORE days."""
    calculator = calculator or get_tax_calculator()
    last = 0
    while True:
        ids = list(renewal_candidates(now).filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return
        last = ids[-1]
        try:
            summary.renewals_issued += len(_renew_batch(ids, now, calculator, summary))
        except Exception as exc:
            log.warning("Renewal batch after %s failed (%s); retrying one by one", ids[0], exc)
            for sub_id in ids:  # isolate the bad subscription; the rest still renew
                try:
                    summary.renewals_issued += len(_renew_batch([sub_id], now, calculator, summary))
                except Exception as item_exc:
                    log.exception("Renewal of subscription %s failed", sub_id)
                    summary.errors.append(f"renewal subscription {sub_id}: {item_exc}")


# --- Periods, charges, past due ---------------------------------------------------------------


def roll_periods(now: dt.datetime, summary: RunSummary) -> None:
    due = Subscription.objects.filter(status__in=RUNNING, current_period_end__lte=now).values_list("pk", flat=True)
    for sub_id in list(due.order_by("pk")):
        try:
            outcome = roll_subscription_period(Subscription(pk=sub_id), now=now)
        except Exception as exc:
            log.exception("Rolling the period of subscription %s failed", sub_id)
            summary.errors.append(f"period subscription {sub_id}: {exc}")
            continue
        if outcome == "advanced":
            summary.periods_advanced += 1
        elif outcome == "ended":
            summary.subscriptions_ended += 1


def charge_due_invoices(today: dt.date, summary: RunSummary) -> None:
    from core.billing.gateways import ChargeStatus

    last = 0
    while True:
        batch = list(dunning.invoices_to_charge(today).filter(pk__gt=last).order_by("pk")[:200])
        if not batch:
            return
        last = batch[-1].pk
        for invoice in batch:
            summary.charges_attempted += 1
            try:
                result = dunning.charge_invoice(invoice)
            except Exception as exc:
                log.exception("Charging invoice %s failed", invoice)
                summary.errors.append(f"charge invoice {invoice.number}: {exc}")
                continue
            status = ChargeStatus(result.status)
            if status == ChargeStatus.SUCCEEDED:
                summary.charges_succeeded += 1
                summary.add_total(summary.charged_totals, invoice.currency_id, invoice.amount_due)
            elif status == ChargeStatus.FAILED:
                summary.charges_failed += 1
            elif status == ChargeStatus.REQUIRES_ACTION:
                summary.charges_action_required += 1
            elif status == ChargeStatus.UNKNOWN:
                summary.charges_unknown += 1


def mark_past_due(today: dt.date, summary: RunSummary) -> None:
    overdue = Invoice.objects.filter(
        subscription_id=OuterRef("pk"), status=Invoice.Status.ISSUED, kind=Invoice.Kind.INVOICE, due_date__lt=today
    )
    summary.marked_past_due += (
        Subscription.objects.filter(status__in=[Subscription.Status.ACTIVE, Subscription.Status.TRIALING])
        .filter(Exists(overdue))
        .update(status=Subscription.Status.PAST_DUE, updated_at=clock.now())
    )


# --- The run ------------------------------------------------------------------------------------


def run_billing(*, batch_size: int = BATCH_SIZE, actor=None) -> RunSummary:
    """Run every step for today (clock.today(); `billing_run --date` moves the clock). Audited and summarised."""
    now = clock.now()
    today = now.date()
    summary = RunSummary(date=str(today))
    steps = (
        ("renewals", lambda: issue_renewals(now, summary, batch_size=batch_size)),
        ("periods", lambda: roll_periods(now, summary)),
        ("charges", lambda: charge_due_invoices(today, summary)),
        ("past_due", lambda: mark_past_due(today, summary)),
        ("policy", lambda: _apply_policy(today, summary, actor)),
    )
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # a broken step is reported; the next steps still run
            log.exception("Billing run step %s failed", name)
            summary.errors.append(f"step {name}: {exc}")
    record("billing.run", None, actor=actor, data=summary.as_dict(), message=_summary_line(summary), source="task")
    if summary.has_failures:
        _alert_failures(summary)
    return summary


def _apply_policy(today: dt.date, summary: RunSummary, actor) -> None:
    outcome = suspension.apply_suspension_policy(today, actor=actor)
    summary.suspended += outcome.suspended
    summary.terminated += outcome.terminated
    summary.held_for_approval += outcome.held_for_approval
    summary.errors += outcome.errors


def _summary_line(s: RunSummary) -> str:
    return (
        f"{s.date}: {s.renewals_issued} renewals, {s.charges_attempted} charges ({s.charges_succeeded} ok, "
        f"{s.charges_failed} failed), {s.suspended} suspended, {s.terminated} terminated, "
        f"{s.held_for_approval} held, {len(s.errors)} errors"
    )


def _alert_failures(summary: RunSummary) -> None:
    from core.notifications.services import discord_alert

    discord_alert(
        f"Billing run {summary.date}: {len(summary.errors)} errors, {summary.charges_failed} failed charges",
        "\n".join(summary.errors[:10]) or _summary_line(summary),
        level="error", fields=[("Renewals", str(summary.renewals_issued)), ("Charges", str(summary.charges_attempted))],
        dedupe_key=f"billing_run_failures:{summary.date}:{clock.now().isoformat()}",
    )  # fmt: skip


# --- Preview (dry run) -------------------------------------------------------------------------------


def preview_billing_run(*, limit: int = 500) -> RunSummary:
    """What today's run would do, computed read-only (nothing is written, no gateway or platform is called).

    Counts and totals cover everything; the item lists show the first `limit` of each step.
    """
    now = clock.now()
    today = now.date()
    summary = RunSummary(date=str(today), dry_run=True)
    calculator = get_tax_calculator()
    candidates = renewal_candidates(now).select_related("customer__user", "price__product", "coupon").order_by("pk")
    last = 0
    while True:
        chunk = list(candidates.filter(pk__gt=last)[:BATCH_SIZE])
        if not chunk:
            break
        last = chunk[-1].pk
        overage = _pending_overage([s.pk for s in chunk])
        for sub in chunk:
            specs = renewal_line_specs(sub, overage.get(sub.pk, []))
            lines = [build_line(sub.currency_id, spec, pos) for pos, spec in enumerate(specs)]
            totals = price_lines(lines, customer_tax_details(sub.customer), sub.currency_id, calculator)
            summary.renewals_issued += 1
            summary.overage_lines += len(overage.get(sub.pk, []))
            summary.add_total(summary.renewal_totals, sub.currency_id, totals.total)
            if len(summary.renewals) < limit:
                summary.renewals.append({"subscription": sub.pk, "customer": sub.customer.display_name,
                                         "product": sub.price.product.name, "period_start": period_after(sub)[0],
                                         "total": totals.total, "currency": sub.currency_id})  # fmt: skip
    for invoice in dunning.invoices_to_charge(today).iterator(chunk_size=500):
        summary.charges_attempted += 1
        summary.add_total(summary.charged_totals, invoice.currency_id, invoice.amount_due)
        if len(summary.charges) < limit:
            summary.charges.append({"invoice": invoice.number, "customer": invoice.customer.display_name,
                                    "amount": invoice.amount_due, "currency": invoice.currency_id,
                                    "attempt": invoice.charge_attempts + 1})  # fmt: skip
    planned = suspension.plan_policy_actions(today)
    held = suspension.blast_radius_exceeded(len(planned))
    for plan in planned:
        if held:
            summary.held_for_approval += 1
        elif plan.action == suspension.SUSPEND:
            summary.suspended += 1
        else:
            summary.terminated += 1
    summary.policy = [asdict(p) for p in planned[:limit]]
    summary.periods_advanced = Subscription.objects.filter(
        status__in=RUNNING, current_period_end__lte=now, cancel_at_period_end=False
    ).count()
    summary.subscriptions_ended = Subscription.objects.filter(
        status__in=RUNNING, current_period_end__lte=now, cancel_at_period_end=True
    ).count()
    summary.marked_past_due = (
        Subscription.objects.filter(status__in=[Subscription.Status.ACTIVE, Subscription.Status.TRIALING])
        .filter(Exists(Invoice.objects.filter(subscription_id=OuterRef("pk"), status=Invoice.Status.ISSUED,
                                              kind=Invoice.Kind.INVOICE, due_date__lt=today)))
        .count()
    )  # fmt: skip
    return summary


def format_totals(totals: dict) -> str:
    return ", ".join(money.format_amount(Decimal(v), k) for k, v in sorted(totals.items())) or "-"
