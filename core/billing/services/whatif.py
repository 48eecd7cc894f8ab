"""Dunning what-if: replay a suspension policy over real invoices and payments, read-only.

The replay asks, for every service with a subscription, what the daily policy run
(core.billing.services.suspension.plan_policy_actions) would have done on each day of the last
12 months, and what it will do in the next 30 days if nothing more is paid. It follows the run's
rules exactly:

- the run on day D sees an invoice as unpaid when it was not paid (or voided) before D 00:00 UTC;
- it looks at the oldest unpaid invoice of the service's subscription with a due date before D;
- suspend once D >= due + suspend_after + grace (if the service is active), terminate once
  D >= due + terminate_after + grace; grace = customer's + service's extra grace days;
- exempt customers and services are left alone; a suspension made by the policy is lifted once
  nothing of the subscription is overdue any more (unsuspend_after_payment).

Known simplifications (stated on the page): exemption flags and grace days are today's values
(they have no history); the blast-radius guard (holding a big run for approval) is not modelled,
so a held action counts as done; the next 30 days assume no further payments and count only
invoices already issued. Reminders are counted as emails that would go out on each reminder day
(days relative to the due date, negative = before) for invoices still unpaid that day.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import F, Q

from core import clock
from core.billing.models import Invoice, SuspensionPolicy

PAST_DAYS = 365
FUTURE_DAYS = 30


@dataclass(frozen=True)
class PolicyTerms:
    """Days per service type (service types missing from `days` are never acted on)."""

    days: dict[str, tuple[int, int]]  # service type -> (suspend_after_days, terminate_after_days)
    reminder_days: tuple[int, ...] = ()
    exempt_customer_ids: frozenset = frozenset()
    honour_exemptions: bool = True
    label: str = "Proposed policy"

    @classmethod
    def current(cls, reminder_days: tuple[int, ...] = ()) -> PolicyTerms:
        days = {p.service_type: (p.suspend_after_days, p.terminate_after_days)
                for p in SuspensionPolicy.objects.filter(is_enabled=True)}  # fmt: skip
        return cls(days=days, reminder_days=reminder_days, label="Current policy")

    @classmethod
    def uniform(cls, suspend_after: int, terminate_after: int, *, service_types=None, **extra) -> PolicyTerms:
        from core.catalog.models import ServiceType

        if terminate_after <= suspend_after:
            raise ValueError("Terminate after must be more days than suspend after.")
        types = service_types or [value for value, _ in ServiceType.choices]
        return cls(days=dict.fromkeys(types, (suspend_after, terminate_after)), **extra)


@dataclass
class ReplayEvent:
    service_id: int
    customer_id: int
    action: str  # "suspend" or "terminate"
    day: dt.date
    invoice_number: str


@dataclass
class ReplayResult:
    terms: PolicyTerms
    date_from: dt.date
    date_to: dt.date
    events: list[ReplayEvent] = field(default_factory=list)
    reminders: int = 0
    mrr_at_risk: dict[str, Decimal] = field(default_factory=dict)
    mrr_at_risk_converted: Decimal = Decimal("0")
    customers: list[dict] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for e in self.events if e.action == action)

    def services(self, action: str | None = None) -> set[int]:
        return {e.service_id for e in self.events if action is None or e.action == action}

    @property
    def suspensions(self) -> int:
        return self.count("suspend")

    @property
    def terminations(self) -> int:
        return self.count("terminate")


@dataclass
class _Service:
    pk: int
    customer_id: int
    service_type: str
    grace: int
    exempt: bool
    subscription_id: int
    created: dt.date
    invoices: list = field(default_factory=list)  # (due_date, settled_at datetime|None, number)


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _load(date_from: dt.date, lead_days: int) -> dict[int, _Service]:
    """Services with a subscription, and the invoices of those subscriptions that were ever unpaid
    late enough to matter (paid after their due date minus the earliest reminder, or never)."""
    from core.provisioning.models import Service

    services: dict[int, _Service] = {}
    by_subscription = defaultdict(list)
    rows = (
        Service.objects.filter(subscription__isnull=False)
        .exclude(status__in=[Service.Status.PENDING, Service.Status.AWAITING_STOCK, Service.Status.FAILED])
        .values_list("pk", "customer_id", "product__service_type", "extra_grace_days", "suspension_exempt",
                     "customer__extra_grace_days", "customer__suspension_exempt", "subscription_id", "created_at")
    )  # fmt: skip
    for pk, customer_id, stype, grace, exempt, c_grace, c_exempt, sub_id, created in rows.iterator(chunk_size=5000):
        service = _Service(pk, customer_id, stype, grace + c_grace, exempt or c_exempt, sub_id, created.date())
        services[pk] = service
        by_subscription[sub_id].append(service)
    invoices = (
        Invoice.objects.filter(kind=Invoice.Kind.INVOICE, subscription__isnull=False, due_date__isnull=False,
                               due_date__gte=date_from - dt.timedelta(days=400))
        .exclude(status=Invoice.Status.DRAFT)
        .filter(Q(paid_at__isnull=True, voided_at__isnull=True) | Q(paid_at__date__gte=F("due_date") - dt.timedelta(days=lead_days))
                | Q(voided_at__date__gte=F("due_date") - dt.timedelta(days=lead_days)))
        .values_list("subscription_id", "due_date", "paid_at", "voided_at", "number")
    )  # fmt: skip
    for sub_id, due, paid_at, voided_at, number in invoices.iterator(chunk_size=5000):
        settled = paid_at or voided_at
        for service in by_subscription.get(sub_id, ()):
            service.invoices.append((due, settled, number or ""))
    return services


def _unpaid_at(invoices, day: dt.date):
    """The oldest invoice the run on `day` sees as unpaid and past due, or None."""
    moment = _start(day)
    overdue = [
        (due, number) for due, settled, number in invoices if due < day and (settled is None or settled >= moment)
    ]
    return min(overdue) if overdue else None


def _replay_service(service: _Service, terms: PolicyTerms, date_from: dt.date, date_to: dt.date, today: dt.date):
    days = terms.days.get(service.service_type)
    if days is None or not service.invoices:
        return []
    if (terms.honour_exemptions and service.exempt) or service.customer_id in terms.exempt_customer_ids:
        return []
    suspend_after, terminate_after = days
    # Assume no payment after today: the future part of the window sees every open invoice as unpaid.
    candidates = set()
    for due, settled, _number in service.invoices:
        candidates.add(due + dt.timedelta(days=suspend_after + service.grace))
        candidates.add(due + dt.timedelta(days=terminate_after + service.grace))
        if settled is not None:
            candidates.add(settled.date() + dt.timedelta(days=1))
    events, suspended = [], False
    for day in sorted(d for d in candidates if d >= service.created):
        if day > date_to:
            break
        oldest = _unpaid_at(service.invoices, day)
        if oldest is None:
            suspended = False  # paid up: unsuspend_after_payment lifted the policy's suspension
            continue
        due, number = oldest
        if day >= due + dt.timedelta(days=terminate_after + service.grace):
            if day >= date_from:
                events.append(ReplayEvent(service.pk, service.customer_id, "terminate", day, number))
            break  # terminated: nothing more happens to this service
        if day >= due + dt.timedelta(days=suspend_after + service.grace) and not suspended:
            suspended = True
            if day >= date_from:
                events.append(ReplayEvent(service.pk, service.customer_id, "suspend", day, number))
    return events


def _reminders(services, terms: PolicyTerms, date_from: dt.date, date_to: dt.date) -> int:
    if not terms.reminder_days:
        return 0
    sent = 0
    seen = set()
    for service in services.values():
        for due, settled, number in service.invoices:
            if (service.subscription_id, number, due) in seen:
                continue
            seen.add((service.subscription_id, number, due))
            for offset in terms.reminder_days:
                day = due + dt.timedelta(days=offset)
                if date_from <= day <= date_to and (settled is None or settled >= _start(day)):
                    sent += 1
    return sent


def replay_policy(terms: PolicyTerms, date_from: dt.date, date_to: dt.date, *, services=None) -> ReplayResult:
    """What `terms` would have done (or will do) between date_from and date_to, inclusive."""
    from core.analytics.mrr import coupon_terms, subscription_mrr
    from core.analytics.rates import convert, exchange_rates
    from core.money import quantize

    today = clock.today()
    lead = max([0] + [-d for d in terms.reminder_days])
    services = _load(date_from, lead) if services is None else services
    result = ReplayResult(terms, date_from, date_to)
    for service in services.values():
        result.events.extend(_replay_service(service, terms, date_from, date_to, today))
    result.events.sort(key=lambda e: (e.day, e.service_id))
    result.reminders = _reminders(services, terms, date_from, date_to)
    _fill_risk(result, services, coupon_terms, subscription_mrr, convert, exchange_rates(), quantize)
    return result


def _fill_risk(result, services, coupon_terms, subscription_mrr, convert, rates, quantize):
    """MRR of the subscriptions behind the services acted on (each once), and the customers."""
    from core.accounts.models import Customer
    from core.billing.models import Subscription

    sub_ids = {services[pk].subscription_id for pk in result.services()}
    subs = list(Subscription.objects.filter(pk__in=sub_ids).values_list(
        "currency_id", "cycle", "amount", "coupon_id", "coupon_cycles_remaining", "price__product_id"))  # fmt: skip
    terms = coupon_terms({s[3] for s in subs if s[3] and (s[4] is None or s[4] > 0)})
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, cycle, amount, coupon_id, left, product_id in subs:
        coupon = terms.get(coupon_id) if coupon_id and (left is None or left > 0) else None
        totals[currency] += subscription_mrr(amount, cycle, currency, product_id=product_id, coupon=coupon)
    result.mrr_at_risk = {c: quantize(v, c) for c, v in sorted(totals.items())}
    result.mrr_at_risk_converted = quantize(
        sum((convert(v, c, rates) for c, v in totals.items()), Decimal("0")), settings.DEFAULT_CURRENCY
    )
    per_customer = defaultdict(lambda: {"suspend": 0, "terminate": 0})
    for event in result.events:
        per_customer[event.customer_id][event.action] += 1
    names = {c.pk: c for c in Customer.objects.filter(pk__in=per_customer).select_related("user")}
    result.customers = [
        {"id": cid, "name": names[cid].display_name if cid in names else str(cid), "suspensions": n["suspend"],
         "terminations": n["terminate"]}
        for cid, n in sorted(per_customer.items(), key=lambda kv: (-kv[1]["terminate"] - kv[1]["suspend"], kv[0]))
    ]  # fmt: skip


def compare_policies(proposed: PolicyTerms, *, today: dt.date | None = None) -> dict:
    """The current and the proposed policy over the last 12 months and the next 30 days."""
    today = today or clock.today()
    past = (today - dt.timedelta(days=PAST_DAYS), today - dt.timedelta(days=1))
    future = (today, today + dt.timedelta(days=FUTURE_DAYS))
    current = PolicyTerms.current(reminder_days=proposed.reminder_days)
    lead = max([0] + [-d for d in proposed.reminder_days])
    services = _load(past[0], lead)  # loaded once, replayed four times
    return {
        "today": today,
        "past": {"from": past[0], "to": past[1], "current": replay_policy(current, *past, services=services),
                 "proposed": replay_policy(proposed, *past, services=services),
                 "recorded": recorded_policy_suspensions(*past)},
        "future": {"from": future[0], "to": future[1], "current": replay_policy(current, *future, services=services),
                   "proposed": replay_policy(proposed, *future, services=services)},
    }  # fmt: skip


def recorded_policy_suspensions(date_from: dt.date, date_to: dt.date) -> list[tuple[int, dt.date]]:
    """(service id, day) of every suspension the real policy asked for, from the audit log."""
    from core.audit.models import AuditLog
    from core.billing.services.suspension import REASON_PREFIX

    rows = AuditLog.objects.filter(
        action__in=("service.suspend_requested", "service.suspend"), message__startswith=REASON_PREFIX,
        created_at__gte=_start(date_from), created_at__lt=_start(date_to + dt.timedelta(days=1)),
    ).values_list("object_id", "created_at")  # fmt: skip
    return sorted({(int(obj), at.astimezone(dt.UTC).date()) for obj, at in rows})
