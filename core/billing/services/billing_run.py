"""The daily billing run: renew, roll periods, charge, mark past due, apply the suspension policy.

Every step is idempotent and safe to run twice, in parallel, or again after a crash:
- renewals are issued in batches; each batch locks its subscriptions (skipping rows another
  run holds), re-checks that the period has no renewal invoice yet, takes one block of numbers
  from the sequence and bulk-inserts invoices and lines in one transaction. The unique
  constraint `invoice_one_renewal_per_period` is the backstop;
- pending bandwidth overage goes onto the renewal invoice of its subscription and is marked
  billed in the same transaction (once);
- periods move at period end (see subscriptions.roll_subscription_period);
- renewals and period moves repeat until nothing is left for the day (at most MAX_PERIODS_PER_RUN
  rounds), so one run catches up a subscription several periods behind (missed days, a date far
  ahead) and a second run for the same day finds nothing to do;
- charges use the dunning schedule and per-attempt idempotency keys (dunning.py);
- the suspension policy holds large runs for approval (suspension.py).
Each item is handled on its own: one bad subscription is logged and the run goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, FilteredRelation, OuterRef, Q, Sum

from core import clock, money
from core.accounts.models import Customer
from core.audit.services import record
from core.billing.models import Coupon, CreditEntry, Invoice, InvoiceLine, Subscription
from core.billing.services import coupons as coupon_service
from core.billing.services import dunning, numbering, suspension
from core.billing.services.bulk_invoices import BulkInvoice, FrozenLine, freeze_lines, issue_invoices_in_bulk
from core.billing.services.imported import billed_here_q
from core.billing.services.invoices import Totals, build_line, price_lines
from core.billing.services.subscriptions import add_cycles, period_after, roll_subscription_period
from core.billing.services.tax import customer_tax_details, get_tax_calculator, tax_cache_key
from core.catalog.models import Price, Product

log = logging.getLogger(__name__)
ZERO = Decimal("0")
BATCH_SIZE = 1000
# Rounds of renew-then-advance per run: each round moves a subscription by at most one period, so this
# bounds how far one run catches a subscription up (5 years of monthly periods) and keeps a broken row
# from looping.
MAX_PERIODS_PER_RUN = 60
RUNNING = (Subscription.Status.ACTIVE, Subscription.Status.TRIALING, Subscription.Status.PAST_DUE)
# What a renewal reads of a subscription (and re-checks once the row is locked).
LOCKED_COLUMNS = (
    "pk", "customer_id", "currency_id", "cycle", "amount", "current_period_end", "coupon_id",
    "coupon_cycles_remaining", "price_id", "status", "cancel_at_period_end",
)  # fmt: skip
CUSTOMER_FIELDS = (
    "id", "user_id", "company", "address_line1", "address_line2", "city", "region", "postal_code", "country",
    "vat_id", "is_tax_exempt", "auto_apply_credit", "currency_id", "user__id", "user__email", "user__first_name",
    "user__last_name",
)  # fmt: skip
CHANGE_REASON = "billing run"


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
    # Subscriptions that failed a step in this run: later catch-up rounds leave them alone.
    failed_subscriptions: set = field(default_factory=set)
    # Filled by the preview only: what each step would touch.
    renewals: list = field(default_factory=list)
    charges: list = field(default_factory=list)
    policy: list = field(default_factory=list)

    def add_total(self, bucket: dict, currency: str, amount: Decimal) -> None:
        bucket[currency] = str(Decimal(bucket.get(currency, "0")) + amount)

    def as_dict(self) -> dict:
        data = asdict(self)
        for key in ("renewals", "charges", "policy", "failed_subscriptions"):
            data.pop(key)
        data["errors"] = data["errors"][:50]
        return data

    @property
    def has_failures(self) -> bool:
        return bool(self.errors or self.charges_failed)


# --- Renewals -----------------------------------------------------------------------------


def _renewal_horizon(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(days=settings.BILLING["RENEWAL_DAYS_BEFORE"])


def _renewal_due_q(now: dt.datetime) -> Q:
    """Due for renewal: running, not cancelling, period ending within RENEWAL_DAYS_BEFORE days; imported
    (WHMCS) subscriptions only once WHMCS has stopped billing them (imported.billed_here_q)."""
    due = Q(status__in=RUNNING, cancel_at_period_end=False, current_period_end__lte=_renewal_horizon(now))
    return due & billed_here_q(now)


def _is_renewal_due(status: str, cancel_at_period_end: bool, period_end: dt.datetime, now: dt.datetime) -> bool:
    """_renewal_due_q for a row already in memory (the batch re-checks its locked rows with it)."""
    return status in RUNNING and not cancel_at_period_end and period_end <= _renewal_horizon(now)


class RenewalRow(NamedTuple):
    """What a renewal reads of one locked subscription, without a model instance."""

    pk: int
    customer_id: int
    currency_id: str
    cycle: str
    amount: Decimal
    current_period_end: dt.datetime
    coupon_id: int | None
    coupon_cycles_remaining: int | None
    price_id: int
    product_id: int
    product_name: str


def lock_renewal_rows(ids: list[int], now: dt.datetime) -> list[RenewalRow]:
    """Lock the subscriptions among `ids` that still need this period's renewal invoice (call in a transaction).

    Rows another run holds are skipped (it renews them). The lock takes rows by primary key only and
    the conditions are checked on the locked rows: with the period-end condition in the locking query
    MariaDB chose the period-end index and read every due subscription for each batch.
    """
    locked = list(
        Subscription.objects.select_for_update(skip_locked=True).filter(pk__in=ids).order_by("pk")
        .values_list(*LOCKED_COLUMNS)
    )  # fmt: skip
    due = [r for r in locked if _is_renewal_due(r[9], r[10], r[5], now)]
    if not due:
        return []
    renewed = set(
        Invoice.objects.filter(subscription_id__in=[r[0] for r in due], renewal_period_start__gte=min(r[5] for r in due))
        .values_list("subscription_id", "renewal_period_start")
    )  # fmt: skip
    due = [r for r in due if (r[0], r[5]) not in renewed]
    products = {
        pk: (product_id, name)
        for pk, product_id, name in Price.objects.filter(pk__in={r[8] for r in due}).values_list(
            "pk", "product_id", "product__name"
        )
    }
    return [RenewalRow(*r[:9], *products[r[8]]) for r in due]


def _without_renewal(subscriptions):
    """Subscriptions whose next period has no renewal invoice yet.

    A LEFT JOIN on the unique (subscription, renewal_period_start) index rather than NOT EXISTS:
    MariaDB turns NOT EXISTS into a materialised anti-join that reads every renewal invoice of the
    window on each batch, which makes a 100k run quadratic.
    """
    return subscriptions.annotate(
        renewal=FilteredRelation("invoices", condition=Q(invoices__renewal_period_start=F("current_period_end")))
    ).filter(renewal__isnull=True)


def renewal_candidates(now: dt.datetime):
    return _without_renewal(Subscription.objects.filter(_renewal_due_q(now)))


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
    return period_line_specs(sub) + overage_line_specs(sub, overage)


def period_line_specs(sub: Subscription) -> list[dict]:
    """The next period's line and its coupon discount."""
    start, end = period_after(sub)
    product = sub.price.product
    specs = [{
        "description": period_line_description(product.name, start, end, sub.cycle),
        "unit_amount": sub.amount, "amount": sub.amount, "product": product, "subscription": sub,
        "period_start": start, "period_end": end,
    }]  # fmt: skip
    if _coupon_applies(sub.coupon_id, sub.coupon_cycles_remaining):
        # A redeemed coupon keeps its cycles even if it expires or is deactivated for new customers.
        specs += coupon_service.discount_lines(sub.coupon, specs[:1], sub.currency_id)
    return specs


_CYCLE_LABELS = dict(Subscription._meta.get_field("cycle").flatchoices)


def period_line_description(product_name: str, start: dt.datetime, end: dt.datetime, cycle: str) -> str:
    return f"{product_name}: {start:%Y-%m-%d} to {end:%Y-%m-%d} ({_CYCLE_LABELS.get(cycle, cycle)})"


def _coupon_applies(coupon_id, cycles_remaining) -> bool:
    return bool(coupon_id) and (cycles_remaining is None or cycles_remaining > 0)


def overage_line_specs(sub: Subscription, overage: list) -> list[dict]:
    from core.usage.services import overage_line_description

    specs = []
    for period in overage:
        specs.append({
            # The ledger total, quota, billable GB and price per GB, so the line explains itself.
            "description": overage_line_description(period),
            "unit_amount": period.overage_amount, "amount": period.overage_amount, "kind": InvoiceLine.Kind.OVERAGE,
            "product": sub.price.product, "subscription": sub, "service": period.service,
        })  # fmt: skip
    return specs


class RenewalPricer:
    """Priced renewal lines per subscription row, computed once per distinct (plan, amount, coupon, tax
    treatment) for the whole run: a fleet of 100,000 subscriptions has a few dozen of those.

    The period is not part of the key (subscriptions start at any second, so nearly every row has its
    own): the cached lines are priced once and each row gets its own period dates and description on
    the period line. Rows with pending overage are priced on their own. Calculators that do not declare
    what they read (tax.tax_cache_key is None) are asked for every invoice.
    """

    MAX_ENTRIES = 5000  # bounded even for a fleet where every row is different

    def __init__(self, calculator):
        self.calculator = calculator
        self.coupons: dict[int, Coupon] = {}
        self._priced: dict[tuple, tuple] = {}

    def load_coupons(self, coupon_ids: set[int]) -> None:
        missing = coupon_ids - set(self.coupons)
        if missing:
            self.coupons.update(Coupon.objects.in_bulk(missing))

    def _stub(self, row) -> Subscription:
        """An unsaved Subscription carrying what the line specs read, so preview and run share one definition."""
        sub = Subscription(
            pk=row.pk, customer_id=row.customer_id, currency_id=row.currency_id, cycle=row.cycle, amount=row.amount,
            current_period_end=row.current_period_end, coupon_id=row.coupon_id,
            coupon_cycles_remaining=row.coupon_cycles_remaining,
            price=Price(pk=row.price_id, product=Product(pk=row.product_id, name=row.product_name)),
        )  # fmt: skip
        if row.coupon_id:
            sub.coupon = self.coupons[row.coupon_id]
        return sub

    def price(self, row, details: dict, overage: list) -> tuple[tuple[FrozenLine, ...], Totals]:
        coupon = row.coupon_id if _coupon_applies(row.coupon_id, row.coupon_cycles_remaining) else None
        plan = (row.product_id, row.product_name, row.currency_id, row.cycle, row.amount, coupon)
        tax_key = tax_cache_key(self.calculator, details)
        key = None if overage or tax_key is None else (plan, tax_key)
        if key is None or (priced := self._priced.get(key)) is None:
            stub = self._stub(row)
            specs = period_line_specs(stub) + overage_line_specs(stub, overage)
            lines = [build_line(row.currency_id, spec, pos) for pos, spec in enumerate(specs)]
            totals = price_lines(lines, details, row.currency_id, self.calculator)
            priced = (freeze_lines(lines), totals)
            if key is not None:
                if len(self._priced) >= self.MAX_ENTRIES:
                    self._priced.clear()
                self._priced[key] = priced
            return priced
        lines, totals = priced
        start = row.current_period_end
        if lines[0].period_start == start:  # cached from a row of the same period
            return priced
        end = add_cycles(start, row.cycle)
        period_line = replace(
            lines[0], period_start=start, period_end=end,
            description=period_line_description(row.product_name, start, end, row.cycle),
        )  # fmt: skip
        return (period_line, *lines[1:]), totals


def _renew_batch(ids: list[int], now: dt.datetime, calculator, summary: RunSummary, pricer=None) -> list[int]:
    """Issue the renewal invoices of one batch in one transaction. Returns the new invoice ids.

    Invariant: exactly one renewal invoice per subscription period. The batch's subscriptions are
    locked (rows another run holds are skipped) and re-checked for an existing renewal inside the
    transaction; the unique constraint invoice_one_renewal_per_period is the backstop.
    """
    today = now.date()
    pricer = pricer or RenewalPricer(calculator)
    with transaction.atomic():
        rows = lock_renewal_rows(ids, now)
        if not rows:
            return []
        locked = [row.pk for row in rows]
        customers = (
            Customer.objects.select_related("user").only(*CUSTOMER_FIELDS).in_bulk({row.customer_id for row in rows})
        )
        details = {pk: customer_tax_details(c) for pk, c in customers.items()}
        billing_details = {pk: {k: v for k, v in d.items() if k != "is_tax_exempt"} for pk, d in details.items()}
        pricer.load_coupons({row.coupon_id for row in rows if row.coupon_id})
        overage = _pending_overage(locked)
        items = []
        for row in rows:
            lines, totals = pricer.price(row, details[row.customer_id], overage.get(row.pk, ()))
            items.append(BulkInvoice(
                customer_id=row.customer_id, currency_id=row.currency_id,
                billing_details=billing_details[row.customer_id], due_date=max(row.current_period_end.date(), today),
                totals=totals, lines=lines, subscription_id=row.pk, renewal_period_start=row.current_period_end,
            ))  # fmt: skip
        numbers = numbering.take_numbers(numbering.INVOICE, today, len(items))
        pks = issue_invoices_in_bulk(
            items, numbers=numbers, series=numbering.INVOICE, issue_date=today, purpose=Invoice.Purpose.RENEWAL,
            change_reason=CHANGE_REASON,
        )  # fmt: skip
        invoice_of = {item.subscription_id: pk for item, pk in zip(items, pks, strict=True)}
        _mark_overage_billed(overage, invoice_of, now, summary)
        _count_coupon_cycles([row.pk for row in rows if row.coupon_id and row.coupon_cycles_remaining], now)
        _apply_credit_where_wanted(items, pks, customers)
        batch_totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for item in items:
            batch_totals[item.currency_id] += item.totals.total
        for currency, total in batch_totals.items():
            summary.add_total(summary.renewal_totals, currency, total)
        record("billing.renewals", None, data={"count": len(items), "first": numbers[0], "last": numbers[-1]})
        transaction.on_commit(lambda: queue_renewal_emails(pks))
    return pks


def renew_subscriptions(subscription_ids: list[int], *, now: dt.datetime | None = None) -> list[int]:
    """Issue the due renewal invoices of these subscriptions now (what the run's renewal step does for them).

    For callers outside the daily run (seed_demo plays a history with it). Returns the new invoice ids.
    """
    now = now or clock.now()
    return _renew_batch(list(subscription_ids), now, get_tax_calculator(), RunSummary(date=str(now.date())))


def _mark_overage_billed(overage: dict, invoice_of: dict[int, int], now, summary: RunSummary) -> None:
    from core.usage.models import BandwidthPeriod

    for sub_id, periods in overage.items():
        invoice_id = invoice_of.get(sub_id)
        if invoice_id is None:
            continue
        pks = [p.pk for p in periods]
        marked = BandwidthPeriod.objects.filter(pk__in=pks, overage_invoice__isnull=True).update(
            overage_invoice_id=invoice_id, overage_billed_at=now
        )
        if marked != len(pks):
            raise IntegrityError(f"Overage of subscription {sub_id} was billed by someone else meanwhile")
        summary.overage_lines += marked


def _count_coupon_cycles(sub_ids: list[int], now: dt.datetime) -> None:
    """One coupon cycle used by each renewed subscription; the last one takes the coupon off.

    The rows are locked by the batch, so the decrement cannot race another run.
    """
    if not sub_ids:
        return
    Subscription.objects.filter(pk__in=sub_ids).update(
        coupon_cycles_remaining=F("coupon_cycles_remaining") - 1, updated_at=now
    )
    Subscription.objects.filter(pk__in=sub_ids, coupon_cycles_remaining=0).update(coupon=None)


def _apply_credit_where_wanted(items: list[BulkInvoice], pks: list[int], customers: dict) -> None:
    from core.billing.services.credit import apply_credit

    wanting = {pk for pk, c in customers.items() if c.auto_apply_credit}
    if not wanting:
        return
    with_credit = set(
        CreditEntry.objects.filter(customer_id__in=wanting)
        .values("customer_id").annotate(balance=Sum("amount")).filter(balance__gt=0)
        .values_list("customer_id", flat=True)
    )  # fmt: skip
    for item, pk in zip(items, pks, strict=True):
        customer = customers[item.customer_id]
        if item.customer_id in with_credit and item.totals.total > 0 and item.currency_id == customer.currency_id:
            apply_credit(Invoice(pk=pk, customer=customer))


def queue_renewal_emails(invoice_ids: list[int]) -> None:
    """One queued task per batch; the worker sends one email (with PDF) per invoice."""
    from django_q.tasks import async_task

    async_task("core.billing.tasks.email_invoices", invoice_ids, group="notifications")


def issue_renewals(now: dt.datetime, summary: RunSummary, *, batch_size: int = BATCH_SIZE, calculator=None) -> None:
    """Renewal invoices for every subscription whose period ends within RENEWAL_DAYS_BEFORE days."""
    calculator = calculator or get_tax_calculator()
    pricer = RenewalPricer(calculator)
    after = None
    while True:
        # Keyset over (period end, id): the period-end index serves both the filter and the order, so each
        # batch reads about batch_size index entries instead of sorting every remaining candidate.
        candidates = renewal_candidates(now)
        if summary.failed_subscriptions:
            candidates = candidates.exclude(pk__in=summary.failed_subscriptions)
        if after is not None:
            candidates = candidates.filter(
                Q(current_period_end__gt=after[0]) | Q(current_period_end=after[0], pk__gt=after[1])
            )
        keys = list(
            candidates.order_by("current_period_end", "pk").values_list("current_period_end", "pk")[:batch_size]
        )
        if not keys:
            return
        after = keys[-1]
        ids = [pk for _, pk in keys]
        try:
            summary.renewals_issued += len(_renew_batch(ids, now, calculator, summary, pricer))
        except Exception as exc:
            log.warning("Renewal batch after %s failed (%s); retrying one by one", ids[0], exc)
            for sub_id in ids:  # isolate the bad subscription; the rest still renew
                try:
                    summary.renewals_issued += len(_renew_batch([sub_id], now, calculator, summary, pricer))
                except Exception as item_exc:
                    log.exception("Renewal of subscription %s failed", sub_id)
                    summary.failed_subscriptions.add(sub_id)
                    summary.errors.append(f"renewal subscription {sub_id}: {item_exc}")


# --- Periods, charges, past due ---------------------------------------------------------------


def roll_periods(now: dt.datetime, summary: RunSummary) -> int:
    """Move every running subscription whose period ended by `now` on by one period (or end it).

    Returns how many moved or ended: the run repeats renewals and this step until it is 0.
    """
    due = Subscription.objects.filter(billed_here_q(now), status__in=RUNNING, current_period_end__lte=now)
    if summary.failed_subscriptions:
        due = due.exclude(pk__in=summary.failed_subscriptions)
    moved = 0
    for sub_id in list(due.order_by("pk").values_list("pk", flat=True)):
        try:
            outcome = roll_subscription_period(Subscription(pk=sub_id), now=now)
        except Exception as exc:
            log.exception("Rolling the period of subscription %s failed", sub_id)
            summary.failed_subscriptions.add(sub_id)
            summary.errors.append(f"period subscription {sub_id}: {exc}")
            continue
        if outcome == "advanced":
            summary.periods_advanced += 1
            moved += 1
        elif outcome == "ended":
            summary.subscriptions_ended += 1
            moved += 1
    return moved


def catch_up(now: dt.datetime, summary: RunSummary, *, batch_size: int = BATCH_SIZE) -> None:
    """Renew, then move ended periods on, until every subscription is up to date for `now`.

    Each round invoices each due period once and moves each ended period by one, so a subscription
    N periods behind is current after N rounds; at most MAX_PERIODS_PER_RUN rounds (a subscription
    still behind after that is reported, the next run goes on from there). A subscription that fails
    a step is left out of the later rounds, so one broken row cannot loop or repeat its error.
    """
    for _ in range(MAX_PERIODS_PER_RUN):
        try:
            issue_renewals(now, summary, batch_size=batch_size)
        except Exception as exc:  # a broken step is reported; periods still move where invoiced
            log.exception("Billing run step renewals failed")
            summary.errors.append(f"step renewals: {exc}")
            roll_periods(now, summary)
            return
        if not roll_periods(now, summary):
            return
    behind = Subscription.objects.filter(billed_here_q(now), status__in=RUNNING, current_period_end__lte=now).count()
    if behind:
        summary.errors.append(
            f"{behind} subscriptions are still behind after {MAX_PERIODS_PER_RUN} periods; the next run goes on"
        )


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
        ("renewals and periods", lambda: catch_up(now, summary, batch_size=batch_size)),
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
        billed_here_q(now), status__in=RUNNING, current_period_end__lte=now, cancel_at_period_end=False
    ).count()
    summary.subscriptions_ended = Subscription.objects.filter(
        billed_here_q(now), status__in=RUNNING, current_period_end__lte=now, cancel_at_period_end=True
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
