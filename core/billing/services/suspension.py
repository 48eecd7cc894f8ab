"""The suspension policy: suspend X days after an unpaid invoice's due date, terminate Y days after.

Days come from SuspensionPolicy per service type, plus the customer's and the service's
extra grace days; exempt customers and services are never touched. Paying lifts a
suspension the policy made. A run that would hit more services than the blast-radius limits
(settings.BILLING["BLAST_RADIUS_MAX_COUNT"] / ["BLAST_RADIUS_MAX_SHARE"] of active services, the
share rule only from ["BLAST_RADIUS_MIN_COUNT"] actions on) does none of them: it stores them as
PendingPolicyAction for staff to approve.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q

from core import clock
from core.audit.services import record
from core.billing.models import Invoice, PendingPolicyAction, SuspensionPolicy
from core.billing.services.provisioning_bridge import provisioning

log = logging.getLogger(__name__)

REASON_PREFIX = "Overdue invoice"
SUSPEND = PendingPolicyAction.Action.SUSPEND
TERMINATE = PendingPolicyAction.Action.TERMINATE


@dataclass
class PlannedAction:
    service_id: int
    action: str
    invoice_id: int | None
    invoice_number: str
    due_date: dt.date
    reason: str
    service_label: str = ""
    customer: str = ""


@dataclass
class PolicyOutcome:
    planned: list[PlannedAction] = field(default_factory=list)
    suspended: int = 0
    terminated: int = 0
    held_for_approval: int = 0
    errors: list[str] = field(default_factory=list)
    blast_radius_tripped: bool = False


def _overdue_services(today: dt.date):
    from core.provisioning.models import Service

    unpaid = Q(subscription__invoices__status=Invoice.Status.ISSUED, subscription__invoices__kind=Invoice.Kind.INVOICE)
    return (
        Service.objects.filter(
            status__in=[Service.Status.ACTIVE, Service.Status.SUSPENDED],
            subscription__isnull=False,
            suspension_exempt=False,
            customer__suspension_exempt=False,
        )  # fmt: skip
        .annotate(oldest_due=Min("subscription__invoices__due_date", filter=unpaid))
        .filter(oldest_due__lt=today)
        .select_related("product", "customer__user")
        .order_by("oldest_due", "id")
    )


def plan_policy_actions(today: dt.date | None = None) -> list[PlannedAction]:
    """What the policy would do today, without doing it (the preview and the run share this)."""
    from core.provisioning.models import Service

    today = today or clock.today()
    policies = {p.service_type: p for p in SuspensionPolicy.objects.filter(is_enabled=True)}
    waiting = set(
        PendingPolicyAction.objects.filter(status=PendingPolicyAction.Status.PENDING).values_list(
            "service_id", "action"
        )
    )
    planned = []
    for service in _overdue_services(today):
        policy = policies.get(service.product.service_type)
        if policy is None:
            continue
        grace = service.customer.extra_grace_days + service.extra_grace_days
        suspend_on = service.oldest_due + dt.timedelta(days=policy.suspend_after_days + grace)
        terminate_on = service.oldest_due + dt.timedelta(days=policy.terminate_after_days + grace)
        if today >= terminate_on:
            action = TERMINATE
        elif today >= suspend_on and service.status == Service.Status.ACTIVE:
            action = SUSPEND
        else:
            continue
        if service.pending_action in (action, TERMINATE):
            continue  # already queued at the platform: asking again each run would repeat the action
        if (service.pk, action) in waiting:
            continue
        invoice = (
            Invoice.objects.filter(subscription_id=service.subscription_id, status=Invoice.Status.ISSUED,
                                   kind=Invoice.Kind.INVOICE, due_date=service.oldest_due)
            .only("pk", "number").first()
        )  # fmt: skip
        number = invoice.number if invoice else ""
        planned.append(PlannedAction(
            service_id=service.pk, action=action, invoice_id=invoice.pk if invoice else None, invoice_number=number,
            due_date=service.oldest_due, reason=f"{REASON_PREFIX} {number} (due {service.oldest_due:%Y-%m-%d})",
            service_label=str(service), customer=service.customer.display_name,
        ))  # fmt: skip
    return planned


def blast_radius_exceeded(count: int, active_services=None) -> bool:
    """True when `count` suspensions/terminations in one run need staff approval first.

    More than BLAST_RADIUS_MAX_COUNT always does; more than BLAST_RADIUS_MAX_SHARE of the active
    services does once there are at least BLAST_RADIUS_MIN_COUNT of them. `active_services` (a
    callable giving the number, asked only when needed) replaces today's count: the dunning
    what-if replays the rule on past days.
    """
    from core.provisioning.models import Service

    if count == 0:
        return False
    limit = settings.BILLING.get("BLAST_RADIUS_MAX_COUNT")
    share = settings.BILLING.get("BLAST_RADIUS_MAX_SHARE")
    if limit is not None and count > int(limit):
        return True
    # Below BLAST_RADIUS_MIN_COUNT actions the share rule stays out of it: in a small fleet one
    # overdue service is already a large share (1 of 6 is 16%), yet never a runaway run.
    if share is not None and count >= int(settings.BILLING.get("BLAST_RADIUS_MIN_COUNT") or 0):
        if active_services is not None:
            active = active_services()
        else:
            active = Service.objects.filter(status=Service.Status.ACTIVE).count()
        # Decimal, not float: exact comparison at the boundary (e.g. 10 of 100 at a 0.10 share).
        if active and count > Decimal(str(share)) * active:
            return True
    return False


def apply_suspension_policy(today: dt.date | None = None, *, actor=None) -> PolicyOutcome:
    """Suspend and terminate what the policy says is due today, or hold it all for approval.

    Each service is handled on its own: one failure is logged and the run goes on.
    """
    today = today or clock.today()
    outcome = PolicyOutcome(planned=plan_policy_actions(today))
    if not outcome.planned:
        return outcome
    if blast_radius_exceeded(len(outcome.planned)):
        outcome.blast_radius_tripped = True
        with transaction.atomic():
            PendingPolicyAction.objects.bulk_create([
                PendingPolicyAction(service_id=p.service_id, invoice_id=p.invoice_id, action=p.action,
                                    reason=p.reason[:255], run_date=today)
                for p in outcome.planned
            ])  # fmt: skip
            record("billing.policy_held", None, actor=actor, data={"count": len(outcome.planned), "date": str(today)})
        outcome.held_for_approval = len(outcome.planned)
        from core.notifications.services import discord_alert

        discord_alert(
            "Suspension policy held for approval",
            f"Today's run would suspend/terminate {len(outcome.planned)} services, above the blast-radius limit. "
            "Review them under Billing › Pending policy actions.",
            level="warning", dedupe_key=f"policy_held:{today}",
        )  # fmt: skip
        return outcome
    for plan in outcome.planned:
        try:
            execute_policy_action(plan.service_id, plan.action, reason=plan.reason, actor=actor)
        except Exception as exc:
            log.exception("Policy action %s on service %s failed", plan.action, plan.service_id)
            outcome.errors.append(f"{plan.action} service {plan.service_id}: {exc}")
            continue
        if plan.action == SUSPEND:
            outcome.suspended += 1
        else:
            outcome.terminated += 1
    return outcome


def execute_policy_action(service_id: int, action: str, *, reason: str, actor=None) -> None:
    from core.billing.models import Subscription
    from core.provisioning.models import Service

    service = Service.objects.get(pk=service_id)
    if action == SUSPEND:
        provisioning().suspend_service(service, reason=reason, actor=actor)
        return
    provisioning().terminate_service(service, reason=reason, actor=actor)
    # A subscription whose services are all gone stops renewing. A termination the platform has
    # not confirmed yet (pending_action) counts as gone: it is queued and confirmed after commit,
    # so checking the status alone left the subscription renewing a terminated service.
    if (
        service.subscription_id
        and not Service.objects.filter(subscription_id=service.subscription_id)
        .exclude(status=Service.Status.TERMINATED)
        .exclude(pending_action="terminate")
        .exists()
    ):
        Subscription.objects.filter(pk=service.subscription_id).exclude(
            status__in=[Subscription.Status.CANCELLED, Subscription.Status.ENDED]
        ).update(status=Subscription.Status.ENDED, ended_at=clock.now(), cancel_reason="non_payment",
                 updated_at=clock.now())  # fmt: skip


def approve_policy_actions(actions, *, actor) -> tuple[int, int]:
    """Staff approve held actions: each still-warranted one runs now. Returns (done, failed).

    An action whose invoice was paid meanwhile is rejected instead of run.
    """
    done = failed = 0
    for pending in list(actions.filter(status=PendingPolicyAction.Status.PENDING).select_related("invoice")):
        with transaction.atomic():
            locked = PendingPolicyAction.objects.select_for_update().get(pk=pending.pk)
            if locked.status != PendingPolicyAction.Status.PENDING:
                continue
            locked.decided_at, locked.decided_by = clock.now(), actor
            if locked.invoice and locked.invoice.status != Invoice.Status.ISSUED:
                locked.status = PendingPolicyAction.Status.REJECTED
                locked.error = f"Invoice {locked.invoice.number} is {locked.invoice.status} now; nothing done."
                locked.save()
                continue
            try:
                execute_policy_action(locked.service_id, locked.action, reason=locked.reason, actor=actor)
                locked.status = PendingPolicyAction.Status.APPROVED
                done += 1
            except Exception as exc:
                locked.status = PendingPolicyAction.Status.FAILED
                locked.error = str(exc)[:2000]
                failed += 1
            locked.save()
            record("billing.policy_approve", locked, actor=actor, data={"status": locked.status})
    return done, failed


def reject_policy_actions(actions, *, actor) -> int:
    """Staff decline held actions; the same action for the same invoice is not proposed again."""
    count = 0
    for pending in actions.filter(status=PendingPolicyAction.Status.PENDING):
        pending.status = PendingPolicyAction.Status.REJECTED
        pending.decided_at, pending.decided_by = clock.now(), actor
        pending.save(update_fields=["status", "decided_at", "decided_by"])
        record("billing.policy_reject", pending, actor=actor)
        count += 1
    return count


def unsuspend_after_payment(invoice: Invoice) -> list[int]:
    """Lift the suspensions the policy made for a subscription once nothing of it is overdue any more."""
    from core.provisioning.models import Service

    if not invoice.subscription_id:
        return []
    still_overdue = Invoice.objects.filter(
        subscription_id=invoice.subscription_id, status=Invoice.Status.ISSUED, kind=Invoice.Kind.INVOICE,
        due_date__lt=clock.today(),
    ).exists()  # fmt: skip
    PendingPolicyAction.objects.filter(
        service__subscription_id=invoice.subscription_id, status=PendingPolicyAction.Status.PENDING
    ).update(status=PendingPolicyAction.Status.REJECTED, decided_at=clock.now(), error="Invoice paid")
    if still_overdue:
        return []
    lifted = []
    for service in Service.objects.filter(
        subscription_id=invoice.subscription_id, status=Service.Status.SUSPENDED,
        suspension_reason__startswith=REASON_PREFIX,
    ):  # fmt: skip
        try:
            provisioning().unsuspend_service(service)
            lifted.append(service.pk)
        except Exception:  # one service refusing must not undo the payment that triggered this
            log.exception("Unsuspending service %s after invoice %s was paid failed", service.pk, invoice)
    return lifted
