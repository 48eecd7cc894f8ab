"""seed_demo loads data in every state through the domain services, and a second run changes nothing."""

import hashlib
import io

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models

from core import clock
from core.billing.models import Invoice, Payment, PendingPolicyAction
from core.provisioning.models import Service

# Dates that are about the future by nature: the end of the period paid for, when an invoice
# falls due, when a retry or the sandbox panel's simulated build is scheduled.
SCHEDULED_FIELDS = {"current_period_end", "period_end", "due_date", "trial_end", "expires_at", "run_after",
                    "next_charge_attempt_at", "ready_at"}  # fmt: skip


def _future_timestamps() -> list[str]:
    """`model.field (count)` for every stored date or time after now, scheduled fields aside."""
    now, today = clock.now(), clock.today()
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.name in SCHEDULED_FIELDS:
                continue
            if isinstance(field, models.DateTimeField):
                count = model.objects.filter(**{f"{field.name}__gt": now}).count()
            elif isinstance(field, models.DateField):
                count = model.objects.filter(**{f"{field.name}__gt": today}).count()
            else:
                continue
            if count:
                found.append(f"{model._meta.label}.{field.name} ({count})")
    return found


def _fingerprint() -> dict[str, tuple[int, str]]:
    """Rows per model and a hash of every stored value (timestamps included)."""
    result = {}
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields]
        rows = model.objects.order_by("pk").values_list(*fields)
        digest = hashlib.sha256(repr(list(rows)).encode()).hexdigest()
        result[model._meta.label] = (len(rows), digest)
    return result


@pytest.mark.django_db(transaction=True)  # paid invoices fulfil orders on commit, as in production
def test_seed_demo_covers_every_state_and_is_idempotent():
    call_command("seed_demo", "--quiet", stdout=io.StringIO())
    first = _fingerprint()

    # Orders placed "today" were paid 30 minutes later, which left paid/created/audit times ahead of now.
    assert _future_timestamps() == []
    held = PendingPolicyAction.objects.get(status=PendingPolicyAction.Status.PENDING)
    assert held.action == PendingPolicyAction.Action.SUSPEND
    assert held.service.status == Service.Status.ACTIVE
    assert held.invoice.status == Invoice.Status.ISSUED and held.invoice.is_overdue

    assert {"draft", "issued", "paid", "void"} <= set(Invoice.objects.values_list("status", flat=True))
    assert any(invoice.is_overdue for invoice in Invoice.objects.filter(status="issued"))
    assert {("payment", "succeeded"), ("payment", "failed"), ("refund", "succeeded")} <= set(
        Payment.objects.values_list("kind", "status")
    )
    assert set(Service.objects.values_list("status", flat=True)) >= {
        "pending", "provisioning", "active", "suspended", "terminated", "failed", "awaiting_stock",
    }  # fmt: skip
    for service_type in ("vps", "game_server", "dedicated", "hosting"):
        assert (
            apps.get_model("catalog", "Price")
            .objects.filter(product__service_type=service_type, currency_id__in=["USD", "EUR", "GBP"])
            .values("currency_id")
            .distinct()
            .count()
            == 3
        )

    out = io.StringIO()
    call_command("seed_demo", "--quiet", stdout=out)
    assert "0 new customer histories" in out.getvalue()
    second = _fingerprint()
    changed = {label for label in first if first[label] != second[label]}
    assert changed == set()

    _assert_the_demo_tells_the_truth()
    _assert_billing_has_nothing_to_catch_up()


def _assert_the_demo_tells_the_truth():
    """Issue 13: what the demo shows on its first day is what the system would have done."""
    from core.billing.models import Subscription

    now = clock.now()
    running = Subscription.objects.filter(status__in=["active", "trialing", "past_due"])
    assert not running.filter(current_period_end__lte=now).exists(), "a running subscription renews in the past"
    for service in Service.objects.filter(status="suspended").select_related("subscription"):
        if "overdue" in service.suspension_reason.lower() or "unpaid" in service.suspension_reason.lower():
            assert service.subscription.status == "past_due", service
        else:  # suspended for another reason, and it says which
            assert service.suspension_reason, service
    # A subscription with an overdue invoice is past due (what the billing run marks the day after).
    for invoice in Invoice.objects.filter(status="issued", subscription__isnull=False):
        if invoice.is_overdue:
            assert invoice.subscription.status == "past_due", invoice
    # No invoice bills a product the customer does not have: a renewal bills a service that was delivered.
    for invoice in Invoice.objects.filter(purpose="renewal").select_related("subscription"):
        statuses = set(invoice.subscription.services.values_list("status", flat=True))
        assert statuses & {"active", "suspended"}, (invoice.number, statuses)


def _assert_billing_has_nothing_to_catch_up():
    """The billing run for the demo's first day finds nothing to renew or move; 40 days on, one run catches
    up and a second run for the same day writes nothing."""
    import datetime as dt

    from core.billing.services.billing_run import run_billing
    from tests.billing.rowstate import changed, database_state

    summary = run_billing()
    assert (summary.renewals_issued, summary.periods_advanced, summary.subscriptions_ended) == (0, 0, 0)
    assert summary.marked_past_due == 0 and not summary.errors
    later = clock.now() + dt.timedelta(days=40)
    with clock.frozen_at(later):
        first = run_billing()
    assert first.renewals_issued > 0 and not first.errors
    before = database_state()
    with clock.frozen_at(later):
        second = run_billing()
    assert (second.renewals_issued, second.periods_advanced, second.terminated, second.suspended) == (0, 0, 0, 0)
    assert changed(before, database_state()) == {}


@pytest.mark.django_db
def test_seed_demo_refuses_production(settings):
    from django.core.management.base import CommandError

    settings.IS_PRODUCTION = True
    with pytest.raises(CommandError):
        call_command("seed_demo", "--quiet", stdout=io.StringIO())
