"""Dunning what-if: replay a suspension policy over real invoices and payments, read-only.

The replay asks, for every service with a subscription, what the daily policy run
(core.billing.services.suspension.plan_policy_actions + apply_suspension_policy) would have done
on each day of the last 12 months, and what it will do in the next 30 days if nothing more is
paid. It follows the run's rules:

- the run on day D sees an invoice as unpaid when it was not paid (or voided) before D 00:00 UTC;
- it looks at the oldest unpaid invoice of the service's subscription with a due date before D;
- suspend once D >= due + suspend_after + grace (if the service is active), terminate once
  D >= due + terminate_after + grace; grace = customer's + service's extra grace days;
- exempt customers and services are left alone; a suspension made by the policy is lifted once
  nothing of the subscription is overdue any more (unsuspend_after_payment);
- exemptions and grace days are taken as they were at D 00:00 UTC, from the change history of
  customers and services (django-simple-history). Before an object's first history row its
  earliest recorded values count; an object with no history row at all counts with today's
  values; a change made without a history row (a bulk QuerySet.update) is not seen;
- the blast-radius guard, the same rule (suspension.blast_radius_exceeded, the same settings):
  when one day's actions are more than BLAST_RADIUS_MAX_COUNT, or more than BLAST_RADIUS_MAX_SHARE
  of the active services (from BLAST_RADIUS_MIN_COUNT actions on), none of them is done: they are
  held for approval. A held action is counted as held, not done; the service stays as it was, the
  run does not propose the same action again while it waits, and a payment on the subscription
  drops it (as unsuspend_after_payment rejects it). Replaying the current policy, a held action
  that staff approved (PendingPolicyAction) is done on the day they approved it; a proposed
  policy's held actions stay held (whether staff would approve them is a person's decision). "Active services" on a past day = services created before it and not terminated by
  then (Service.terminated_at), less those the replay has suspended or terminated.

Also assumed: the next 30 days see no further payments and only invoices already issued.
Reminders are counted as emails that would go out on each reminder day (days relative to the due
date, negative = before) for invoices still unpaid that day.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import F, Q

from core import clock
from core.billing.models import Invoice, PendingPolicyAction, SuspensionPolicy

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
    replay_approvals: bool = False  # the current policy: held actions staff approved are done on that day

    @classmethod
    def current(cls, reminder_days: tuple[int, ...] = ()) -> PolicyTerms:
        days = {p.service_type: (p.suspend_after_days, p.terminate_after_days)
                for p in SuspensionPolicy.objects.filter(is_enabled=True)}  # fmt: skip
        return cls(days=days, reminder_days=reminder_days, label="Current policy", replay_approvals=True)

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
    events: list[ReplayEvent] = field(default_factory=list)  # actions done
    held: list[ReplayEvent] = field(default_factory=list)  # actions the blast-radius guard held for approval
    reminders: int = 0
    mrr_at_risk: dict[str, Decimal] = field(default_factory=dict)
    mrr_at_risk_converted: Decimal = Decimal("0")
    customers: list[dict] = field(default_factory=list)
    held_days: list[dt.date] = field(default_factory=list)

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


class _Flags:
    """One customer's or service's (exempt, grace days) over time, from its history rows."""

    __slots__ = ("moments", "values", "today")

    def __init__(self, today: tuple[bool, int], rows=()):
        self.today = today
        self.moments = [at for at, _ in rows]
        self.values = [value for _, value in rows]

    def at(self, moment: dt.datetime) -> tuple[bool, int]:
        if not self.values:
            return self.today
        i = bisect.bisect_right(self.moments, moment)
        return self.values[max(i - 1, 0)]  # before the first row: the earliest recorded values

    def change_days(self) -> set[dt.date]:
        return {at.astimezone(dt.UTC).date() + dt.timedelta(days=n) for at in self.moments[1:] for n in (0, 1)}

    def graces(self) -> set[int]:
        return {grace for _, grace in self.values} | {self.today[1]}


NO_FLAGS = _Flags((False, 0))


@dataclass
class _Service:
    pk: int
    customer_id: int
    service_type: str
    grace: int  # today's customer + service grace days
    exempt: bool  # today's
    subscription_id: int
    created: dt.date
    invoices: list = field(default_factory=list)  # (due_date, settled_at datetime|None, number)
    own: _Flags = NO_FLAGS
    customer: _Flags = NO_FLAGS

    def flags_on(self, day: dt.date) -> tuple[bool, int]:
        """(exempt, grace days) as the run on `day` saw them."""
        moment = _start(day)
        s_exempt, s_grace = self.own.at(moment)
        c_exempt, c_grace = self.customer.at(moment)
        return s_exempt or c_exempt, s_grace + c_grace

    def graces(self) -> set[int]:
        return {a + b for a in self.own.graces() for b in self.customer.graces()}


@dataclass
class _Fleet:
    """Every service's creation and termination day: how many were active on a past day."""

    created: list = field(default_factory=list)  # sorted datetimes
    terminated: list = field(default_factory=list)  # sorted datetimes
    terminated_of: dict = field(default_factory=dict)  # service id -> terminated_at

    def active_on(self, day: dt.date) -> int:
        moment = _start(day)
        return bisect.bisect_left(self.created, moment) - bisect.bisect_left(self.terminated, moment)


@dataclass
class _Loaded:
    services: dict[int, _Service]
    fleet: _Fleet
    approvals: dict = field(default_factory=dict)  # (service id, action, run day) -> day staff approved it

    def values(self):
        return self.services.values()

    def __getitem__(self, pk):
        return self.services[pk]


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _flag_history(model, current: dict[int, tuple[bool, int]]) -> dict[int, _Flags]:
    """Flags over time for the objects that ever had an exemption or grace days (others: never)."""
    history = model.history
    flagged = Q(suspension_exempt=True) | Q(extra_grace_days__gt=0)
    ids = set(history.filter(flagged).values_list("id", flat=True).distinct())
    ids |= {pk for pk, (exempt, grace) in current.items() if exempt or grace}
    timelines: dict[int, _Flags] = {}
    rows = defaultdict(list)
    id_list = sorted(ids)
    for i in range(0, len(id_list), 1000):
        for pk, at, exempt, grace in (
            history.filter(id__in=id_list[i : i + 1000])
            .order_by("id", "history_date", "history_id")
            .values_list("id", "history_date", "suspension_exempt", "extra_grace_days")
        ):  # fmt: skip
            rows[pk].append((at, (bool(exempt), int(grace or 0))))
    for pk in id_list:
        timelines[pk] = _Flags(current.get(pk, (False, 0)), rows.get(pk, ()))
    return timelines


def _load(date_from: dt.date, lead_days: int) -> _Loaded:
    """Services with a subscription, their exemption and grace history, and the invoices of those
    subscriptions that were ever unpaid late enough to matter (paid after their due date minus the
    earliest reminder, or never); plus every service's creation and termination (active counts)."""
    from core.accounts.models import Customer
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
    flagged = Q(suspension_exempt=True) | Q(extra_grace_days__gt=0)
    service_flags = _flag_history(Service, {
        pk: (e, g) for pk, e, g in Service.objects.filter(flagged).values_list("pk", "suspension_exempt",
                                                                               "extra_grace_days")
    })  # fmt: skip
    customer_flags = _flag_history(Customer, {
        pk: (e, g) for pk, e, g in Customer.objects.filter(flagged).values_list("pk", "suspension_exempt",
                                                                                "extra_grace_days")
    })  # fmt: skip
    for service in services.values():
        service.own = service_flags.get(service.pk, NO_FLAGS)
        service.customer = customer_flags.get(service.customer_id, NO_FLAGS)
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
    fleet = _Fleet()
    for pk, created, terminated in Service.objects.values_list("pk", "created_at", "terminated_at").iterator(
        chunk_size=10000
    ):
        fleet.created.append(created)
        if terminated is not None:
            fleet.terminated.append(terminated)
            fleet.terminated_of[pk] = terminated
    fleet.created.sort()
    fleet.terminated.sort()
    approvals = {
        (service_id, action, run_date): decided.astimezone(dt.UTC).date()
        for service_id, action, run_date, decided in PendingPolicyAction.objects.filter(
            status=PendingPolicyAction.Status.APPROVED, decided_at__isnull=False, service_id__in=services
        ).values_list("service_id", "action", "run_date", "decided_at")
    }
    return _Loaded(services, fleet, approvals)


def _unpaid_at(invoices, day: dt.date):
    """The oldest invoice the run on `day` sees as unpaid and past due, or None."""
    moment = _start(day)
    overdue = [
        (due, number) for due, settled, number in invoices if due < day and (settled is None or settled >= moment)
    ]
    return min(overdue) if overdue else None


def _candidate_days(service: _Service, terms: PolicyTerms) -> set[dt.date]:
    """The days on which the run's answer for this service can change (nothing else needs replaying)."""
    suspend_after, terminate_after = terms.days[service.service_type]
    graces = service.graces()
    days = service.own.change_days() | service.customer.change_days()
    for due, settled, _number in service.invoices:
        for grace in graces:
            days.add(due + dt.timedelta(days=suspend_after + grace))
            days.add(due + dt.timedelta(days=terminate_after + grace))
        if settled is not None:
            days.add(settled.astimezone(dt.UTC).date() + dt.timedelta(days=1))
    return days


@dataclass
class _State:
    suspended: bool = False  # by the policy, in the replay
    terminated: bool = False
    waiting: dict = field(default_factory=dict)  # action -> the day it was held for approval


def _carry_out(state: _State, event: ReplayEvent, result, date_from: dt.date) -> None:
    """The replayed run suspends or terminates; inside the replayed window it is listed."""
    if event.action == "suspend":
        state.suspended = True
    else:
        state.terminated = True
    if event.day >= date_from:
        result.events.append(event)


def _plan(service: _Service, state: _State, terms: PolicyTerms, day: dt.date):
    """What the run on `day` plans for the service: (action, invoice number) or None."""
    moment = _start(day)
    if state.waiting:
        held_on = min(state.waiting.values())
        # A payment on the subscription drops its held actions (unsuspend_after_payment rejects them).
        if any(settled is not None and _start(held_on) <= settled < moment for _, settled, _ in service.invoices):
            state.waiting.clear()
    oldest = _unpaid_at(service.invoices, day)
    if oldest is None:
        state.suspended = False  # paid up: unsuspend_after_payment lifted the policy's suspension
        return None
    exempt, grace = service.flags_on(day)
    if exempt and terms.honour_exemptions:
        return None
    suspend_after, terminate_after = terms.days[service.service_type]
    due, number = oldest
    if day >= due + dt.timedelta(days=terminate_after + grace):
        return None if "terminate" in state.waiting else ("terminate", number)
    if day >= due + dt.timedelta(days=suspend_after + grace) and not state.suspended and "suspend" not in state.waiting:
        return "suspend", number
    return None


def _approve(service: _Service, state: _State, approvals: dict, day: dt.date, result, date_from: dt.date):
    """Held actions staff approved on `day` (recorded PendingPolicyAction): done then, as
    approve_policy_actions does them (nothing when the invoice was paid meanwhile)."""
    for action, held_on in sorted(state.waiting.items()):
        if approvals.get((service.pk, action, held_on)) != day:
            continue
        del state.waiting[action]
        oldest = _unpaid_at(service.invoices, day + dt.timedelta(days=1))  # approved during the day
        if oldest is None:
            continue
        _carry_out(state, ReplayEvent(service.pk, service.customer_id, action, day, oldest[1]), result, date_from)


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
    """What `terms` would have done (or will do) between date_from and date_to, inclusive.

    Every service is replayed from its first overdue invoice (up to 400 days before date_from), day by
    day across the fleet, because the blast-radius guard looks at all of one day's actions at once.
    """
    from core.analytics.mrr import coupon_terms, subscription_mrr
    from core.analytics.rates import convert, exchange_rates
    from core.money import quantize

    from .suspension import blast_radius_exceeded

    lead = max([0] + [-d for d in terms.reminder_days])
    loaded = _load(date_from, lead) if services is None else services
    result = ReplayResult(terms, date_from, date_to)
    agenda: dict[dt.date, list[_Service]] = defaultdict(list)
    for service in loaded.values():
        if service.service_type not in terms.days or not service.invoices:
            continue
        if service.customer_id in terms.exempt_customer_ids:
            continue
        gone_at = loaded.fleet.terminated_of.get(service.pk)  # the real run leaves terminated services alone
        days = _candidate_days(service, terms)
        if terms.replay_approvals:
            days |= {d for (pk, _action, _run), d in loaded.approvals.items() if pk == service.pk}
        for day in days:
            if service.created <= day <= date_to and (gone_at is None or _start(day) <= gone_at):
                agenda[day].append(service)
    states: dict[int, _State] = defaultdict(_State)
    for day in sorted(agenda):
        planned = []
        for service in sorted(agenda[day], key=lambda s: s.pk):
            state = states[service.pk]
            if state.terminated:
                continue
            if terms.replay_approvals and state.waiting:
                _approve(service, state, loaded.approvals, day, result, date_from)
                if state.terminated:
                    continue
            plan = _plan(service, state, terms, day)
            if plan is not None:
                planned.append((service, *plan))
        if not planned:
            continue

        def active(day=day):
            moment = _start(day)
            gone = sum(1 for pk, st in states.items() if (st.suspended or st.terminated)
                       and (loaded.fleet.terminated_of.get(pk) is None or loaded.fleet.terminated_of[pk] >= moment))  # fmt: skip
            return max(loaded.fleet.active_on(day) - gone, 0)

        held = blast_radius_exceeded(len(planned), active_services=active)
        if held and day >= date_from:
            result.held_days.append(day)
        for service, action, number in planned:
            state = states[service.pk]
            event = ReplayEvent(service.pk, service.customer_id, action, day, number)
            if held:
                state.waiting[action] = day
                if day >= date_from:
                    result.held.append(event)
                continue
            _carry_out(state, event, result, date_from)
    result.events.sort(key=lambda e: (e.day, e.service_id))
    result.held.sort(key=lambda e: (e.day, e.service_id))
    result.reminders = _reminders(loaded, terms, date_from, date_to)
    _fill_risk(result, loaded, coupon_terms, subscription_mrr, convert, exchange_rates(), quantize)
    return result


def _fill_risk(result, services, coupon_terms, subscription_mrr, convert, rates, quantize):
    """MRR of the subscriptions behind the services acted on or held (each once), and the customers."""
    from core.accounts.models import Customer
    from core.billing.models import Subscription

    acted = result.services() | {e.service_id for e in result.held}
    sub_ids = {services[pk].subscription_id for pk in acted}
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
    per_customer = defaultdict(lambda: {"suspend": 0, "terminate": 0, "held": 0})
    for event in result.events:
        per_customer[event.customer_id][event.action] += 1
    for event in result.held:
        per_customer[event.customer_id]["held"] += 1
    names = {c.pk: c for c in Customer.objects.filter(pk__in=per_customer).select_related("user")}
    result.customers = [
        {"id": cid, "name": names[cid].display_name if cid in names else str(cid), "suspensions": n["suspend"],
         "terminations": n["terminate"], "held": n["held"]}
        for cid, n in sorted(per_customer.items(),
                             key=lambda kv: (-kv[1]["terminate"] - kv[1]["suspend"] - kv[1]["held"], kv[0]))
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
                 "recorded": recorded_policy_suspensions(*past), "recorded_held": recorded_policy_holds(*past)},
        "future": {"from": future[0], "to": future[1], "current": replay_policy(current, *future, services=services),
                   "proposed": replay_policy(proposed, *future, services=services)},
    }  # fmt: skip


def recorded_policy_holds(date_from: dt.date, date_to: dt.date) -> list[tuple[int, str, dt.date]]:
    """(service id, action, run day) of every action a real run held for approval (PendingPolicyAction)."""
    from core.billing.models import PendingPolicyAction

    rows = PendingPolicyAction.objects.filter(run_date__gte=date_from, run_date__lte=date_to)
    return sorted(set(rows.values_list("service_id", "action", "run_date")))


def recorded_policy_suspensions(date_from: dt.date, date_to: dt.date) -> list[tuple[int, dt.date]]:
    """(service id, day) of every suspension the real policy asked for, from the audit log."""
    from core.audit.models import AuditLog
    from core.billing.services.suspension import REASON_PREFIX

    rows = AuditLog.objects.filter(
        action__in=("service.suspend_requested", "service.suspend"), message__startswith=REASON_PREFIX,
        created_at__gte=_start(date_from), created_at__lt=_start(date_to + dt.timedelta(days=1)),
    ).values_list("object_id", "created_at")  # fmt: skip
    return sorted({(int(obj), at.astimezone(dt.UTC).date()) for obj, at in rows})
