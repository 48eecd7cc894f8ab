import datetime as dt
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from core import clock
from core.audit.models import AuditLog
from core.billing.gateways import ChargeStatus
from core.billing.models import Invoice, NumberSequence, PendingPolicyAction, Subscription, SuspensionPolicy
from core.billing.services import billing_run, invoices, suspension
from core.billing.services.tax import RateTableTaxCalculator
from core.usage.models import BandwidthPeriod
from tests.factories import ServiceFactory

D = Decimal
pytestmark = pytest.mark.django_db

# Period ends 2026-02-01; renewals go out 7 days before.
RENEW_DAY = dt.datetime(2026, 1, 25, 6, tzinfo=dt.UTC)


def run(at):
    with clock.frozen_at(at):
        return billing_run.run_billing()


def test_renewal_issued_once_per_period_even_when_run_twice(subscribed, fake_gateway, provisioning):
    sub = subscribed()
    first = run(RENEW_DAY)
    second = run(RENEW_DAY + dt.timedelta(hours=1))
    assert first.renewals_issued == 1 and second.renewals_issued == 0
    inv = Invoice.objects.get(subscription=sub)
    assert inv.purpose == Invoice.Purpose.RENEWAL
    assert inv.renewal_period_start == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert inv.due_date == dt.date(2026, 2, 1)
    assert inv.status == Invoice.Status.ISSUED and inv.total == D("20.00")
    assert inv.snapshot_hash == inv.compute_snapshot_hash()
    line = inv.lines.get()
    assert line.period_end == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_renewal_not_issued_before_the_window_or_when_cancelling(subscribed, fake_gateway, provisioning):
    sub = subscribed()
    assert run(RENEW_DAY - dt.timedelta(days=1)).renewals_issued == 0
    Subscription.objects.filter(pk=sub.pk).update(cancel_at_period_end=True)
    assert run(RENEW_DAY).renewals_issued == 0


def test_rerun_after_crash_midway_finishes_without_duplicates_or_gaps(
    subscribed, fake_gateway, provisioning, monkeypatch
):
    subs = [subscribed() for _ in range(5)]
    real = billing_run._renew_batch
    calls = {"n": 0}

    def crash_after_two_batches(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("killed")  # like a SIGKILL: not an Exception, nothing catches it
        return real(*args, **kwargs)

    monkeypatch.setattr(billing_run, "_renew_batch", crash_after_two_batches)
    with pytest.raises(SystemExit), clock.frozen_at(RENEW_DAY):
        billing_run.issue_renewals(clock.now(), billing_run.RunSummary(date="x"), batch_size=2)
    assert Invoice.objects.count() == 4
    monkeypatch.setattr(billing_run, "_renew_batch", real)
    summary = run(RENEW_DAY)
    assert summary.renewals_issued == 1
    assert sorted(Invoice.objects.values_list("subscription_id", flat=True)) == sorted(s.pk for s in subs)
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, 6)]
    assert NumberSequence.objects.get(series="invoice").last_value == 5


class RefusingTaxCalculator(RateTableTaxCalculator):
    """An address the tax service refuses (as an external calculator might), for one customer only."""

    def calculate(self, details, lines, currency):
        if details.get("postal_code") == "00000":
            raise ValueError("tax service refused the address")
        return super().calculate(details, lines, currency)


def test_one_bad_subscription_does_not_stop_the_run(subscribed, fake_gateway, provisioning, settings):
    settings.BILLING = {**settings.BILLING, "TAX_CALCULATOR": f"{__name__}.RefusingTaxCalculator"}
    good, bad = subscribed(), subscribed()
    bad.customer.postal_code = "00000"
    bad.customer.save()
    summary = run(RENEW_DAY)
    assert summary.renewals_issued == 1
    assert Invoice.objects.filter(subscription=good).exists()
    assert not Invoice.objects.filter(subscription=bad).exists()
    assert any(f"subscription {bad.pk}" in e for e in summary.errors)
    entry = AuditLog.objects.get(action="billing.run")
    assert entry.data["renewals_issued"] == 1 and entry.data["errors"]
    assert NumberSequence.objects.get(series="invoice").last_value == 1  # the failed batch gave its numbers back


def test_period_advances_at_period_end_and_cancelled_subscription_ends(subscribed, fake_gateway, provisioning):
    sub, leaving = subscribed(), subscribed()
    service = ServiceFactory(customer=leaving.customer, subscription=leaving)
    run(RENEW_DAY)
    Subscription.objects.filter(pk=leaving.pk).update(cancel_at_period_end=True)
    summary = run(dt.datetime(2026, 2, 1, 6, tzinfo=dt.UTC))
    sub.refresh_from_db()
    leaving.refresh_from_db()
    assert sub.current_period_start == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert sub.current_period_end == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert leaving.status == Subscription.Status.ENDED
    assert ("terminate", service.pk, "Subscription ended (cancelled at period end)") in provisioning.calls
    assert summary.periods_advanced == 1 and summary.subscriptions_ended == 1


def test_due_invoice_is_charged_through_gateway_and_paid(subscribed, fake_gateway, provisioning):
    sub = subscribed()
    run(RENEW_DAY)
    summary = run(dt.datetime(2026, 2, 1, 6, tzinfo=dt.UTC))
    assert summary.charges_succeeded == 1
    call = fake_gateway.calls[0]
    assert call["attempt"] == 1 and call["amount"] == D("20.00") and call["method"] == f"pm_{sub.customer.pk}"
    inv = Invoice.objects.get(subscription=sub)
    assert inv.status == Invoice.Status.PAID
    assert inv.payments.get().gateway_transaction_id == f"pi_fake_{inv.pk}_1"


def test_failed_charge_retries_on_dunning_days_and_marks_past_due(
    subscribed, fake_gateway, provisioning, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sub = subscribed()
    run(RENEW_DAY)
    fake_gateway.script = [ChargeStatus.FAILED, ChargeStatus.FAILED, ChargeStatus.SUCCEEDED]
    with django_capture_on_commit_callbacks(execute=True):
        run(dt.datetime(2026, 2, 1, 6, tzinfo=dt.UTC))
    inv = Invoice.objects.get(subscription=sub)
    assert inv.charge_attempts == 1 and inv.next_charge_attempt_at.date() == dt.date(2026, 2, 2)
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.PAST_DUE
    assert any("Payment failed" in m.subject for m in mailoutbox)
    run(dt.datetime(2026, 2, 1, 20, tzinfo=dt.UTC))  # same day again: no extra attempt
    assert len(fake_gateway.calls) == 1
    run(dt.datetime(2026, 2, 2, 6, tzinfo=dt.UTC))
    run(dt.datetime(2026, 2, 3, 6, tzinfo=dt.UTC))  # day +2 is not a retry day
    assert [c["attempt"] for c in fake_gateway.calls] == [1, 2]
    with django_capture_on_commit_callbacks(execute=True):
        run(dt.datetime(2026, 2, 4, 6, tzinfo=dt.UTC))
    assert [c["attempt"] for c in fake_gateway.calls] == [1, 2, 3]
    inv.refresh_from_db()
    sub.refresh_from_db()
    assert inv.status == Invoice.Status.PAID and sub.status == Subscription.Status.ACTIVE


def test_dunning_stops_after_last_retry_day(subscribed, fake_gateway, provisioning):
    subscribed()
    run(RENEW_DAY)
    fake_gateway.script = [ChargeStatus.FAILED] * 10
    for day in range(1, 12):
        run(dt.datetime(2026, 2, day, 6, tzinfo=dt.UTC))
    assert [c["attempt"] for c in fake_gateway.calls] == [1, 2, 3, 4]


def test_unknown_outcome_is_retried_as_the_same_attempt(subscribed, fake_gateway, provisioning):
    sub = subscribed()
    run(RENEW_DAY)
    fake_gateway.script = [ChargeStatus.UNKNOWN, ChargeStatus.SUCCEEDED]
    run(dt.datetime(2026, 2, 1, 6, tzinfo=dt.UTC))
    inv = Invoice.objects.get(subscription=sub)
    assert inv.charge_attempts == 0 and inv.status == Invoice.Status.ISSUED
    run(dt.datetime(2026, 2, 2, 6, tzinfo=dt.UTC))
    assert [c["attempt"] for c in fake_gateway.calls] == [1, 1]
    assert fake_gateway.calls[0]["key"] == fake_gateway.calls[1]["key"]
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.PAID


def test_requires_action_leaves_invoice_open_and_emails_pay_link(
    subscribed, fake_gateway, provisioning, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sub = subscribed()
    run(RENEW_DAY)
    fake_gateway.script = [ChargeStatus.REQUIRES_ACTION]
    with django_capture_on_commit_callbacks(execute=True):
        run(dt.datetime(2026, 2, 1, 6, tzinfo=dt.UTC))
    inv = Invoice.objects.get(subscription=sub)
    assert inv.status == Invoice.Status.ISSUED
    mail = [m for m in mailoutbox if "confirm the payment" in m.subject][0]
    assert str(inv.uuid) in mail.body


@pytest.fixture
def no_blast_limit(settings):
    """Small test fleets trip the share limit (1 of 2 services is 50%); these tests are about the policy itself."""
    settings.BILLING = {**settings.BILLING, "BLAST_RADIUS_MAX_COUNT": 1000, "BLAST_RADIUS_MAX_SHARE": 1.0}


def _policy(**kw):
    return SuspensionPolicy.objects.create(service_type="vps", suspend_after_days=5, terminate_after_days=30, **kw)


def test_overdue_service_is_suspended_then_terminated_and_payment_unsuspends(
    subscribed, fake_gateway, provisioning, no_blast_limit, django_capture_on_commit_callbacks
):
    _policy()
    sub = subscribed(payment_method=None)
    service = ServiceFactory(customer=sub.customer, subscription=sub, product=sub.price.product)
    run(RENEW_DAY)  # invoice due 2026-02-01, no card to charge
    run(dt.datetime(2026, 2, 5, 6, tzinfo=dt.UTC))
    assert "suspend" not in provisioning.names()
    run(dt.datetime(2026, 2, 6, 6, tzinfo=dt.UTC))
    assert provisioning.names().count("suspend") == 1
    service.refresh_from_db()
    assert service.status == "suspended"
    inv = Invoice.objects.get(subscription=sub, renewal_period_start=dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    from core.billing.services.payments import record_payment

    with clock.frozen_at(dt.datetime(2026, 2, 7, tzinfo=dt.UTC)), django_capture_on_commit_callbacks(execute=True):
        record_payment(inv, amount=inv.total, gateway="manual", gateway_transaction_id="wire-1")
    assert provisioning.names().count("unsuspend") == 1
    service.refresh_from_db()
    assert service.status == "active"


def test_termination_after_terminate_days(subscribed, fake_gateway, provisioning, no_blast_limit):
    _policy()
    sub = subscribed(payment_method=None)
    service = ServiceFactory(customer=sub.customer, subscription=sub, product=sub.price.product)
    run(RENEW_DAY)
    run(dt.datetime(2026, 3, 3, 6, tzinfo=dt.UTC))
    assert ("terminate", service.pk) in [c[:2] for c in provisioning.calls]


def test_exemptions_and_grace_days_are_respected(subscribed, fake_gateway, provisioning, no_blast_limit):
    _policy()
    exempt = subscribed(payment_method=None)
    exempt.customer.suspension_exempt = True
    exempt.customer.save()
    ServiceFactory(customer=exempt.customer, subscription=exempt, product=exempt.price.product)
    graced = subscribed(payment_method=None)
    ServiceFactory(customer=graced.customer, subscription=graced, product=graced.price.product, extra_grace_days=3)
    run(RENEW_DAY)
    run(dt.datetime(2026, 2, 6, 6, tzinfo=dt.UTC))
    assert provisioning.names().count("suspend") == 0
    run(dt.datetime(2026, 2, 9, 6, tzinfo=dt.UTC))
    assert provisioning.names().count("suspend") == 1


def test_blast_radius_holds_actions_for_approval(subscribed, fake_gateway, provisioning, settings):
    settings.BILLING = {**settings.BILLING, "BLAST_RADIUS_MAX_COUNT": 2, "BLAST_RADIUS_MAX_SHARE": 1.0}
    _policy()
    subs = [subscribed(payment_method=None) for _ in range(3)]
    for s in subs:
        ServiceFactory(customer=s.customer, subscription=s, product=s.price.product)
    run(RENEW_DAY)
    summary = run(dt.datetime(2026, 2, 6, 6, tzinfo=dt.UTC))
    assert summary.held_for_approval == 3 and summary.suspended == 0
    assert "suspend" not in provisioning.names()
    assert PendingPolicyAction.objects.filter(status="pending").count() == 3
    run(dt.datetime(2026, 2, 7, 6, tzinfo=dt.UTC))  # not proposed twice
    assert PendingPolicyAction.objects.count() == 3
    done, failed = suspension.approve_policy_actions(PendingPolicyAction.objects.all(), actor=None)
    assert (done, failed) == (3, 0)
    assert provisioning.names().count("suspend") == 3


def test_blast_radius_share_of_active_services(subscribed, fake_gateway, provisioning, settings):
    settings.BILLING = {**settings.BILLING, "BLAST_RADIUS_MAX_COUNT": 100, "BLAST_RADIUS_MAX_SHARE": 0.10,
                        "BLAST_RADIUS_MIN_COUNT": 1}  # fmt: skip
    _policy()
    s = subscribed(payment_method=None)
    ServiceFactory(customer=s.customer, subscription=s, product=s.price.product)
    ServiceFactory.create_batch(5)  # 6 active: suspending 1 is 16% > 10%
    run(RENEW_DAY)
    summary = run(dt.datetime(2026, 2, 6, 6, tzinfo=dt.UTC))
    assert summary.held_for_approval == 1 and summary.suspended == 0


def test_blast_radius_share_rule_waits_for_the_minimum_count(subscribed, fake_gateway, provisioning, settings):
    settings.BILLING = {**settings.BILLING, "BLAST_RADIUS_MAX_COUNT": 100, "BLAST_RADIUS_MAX_SHARE": 0.10,
                        "BLAST_RADIUS_MIN_COUNT": 10}  # fmt: skip
    _policy()
    s = subscribed(payment_method=None)
    ServiceFactory(customer=s.customer, subscription=s, product=s.price.product)
    ServiceFactory.create_batch(5)  # 1 of 6 is 16%, but 1 action is below the minimum of 10
    run(RENEW_DAY)
    summary = run(dt.datetime(2026, 2, 6, 6, tzinfo=dt.UTC))
    assert summary.held_for_approval == 0 and summary.suspended == 1
    assert provisioning.names().count("suspend") == 1


def test_blast_radius_share_rule_applies_from_the_minimum_count(settings):
    from core.provisioning.models import Service

    settings.BILLING = {**settings.BILLING, "BLAST_RADIUS_MAX_COUNT": 100, "BLAST_RADIUS_MAX_SHARE": 0.10,
                        "BLAST_RADIUS_MIN_COUNT": 10}  # fmt: skip
    ServiceFactory.create_batch(60)
    assert Service.objects.filter(status="active").count() == 60
    assert suspension.blast_radius_exceeded(9) is False  # 15% of the fleet, but under the minimum count
    assert suspension.blast_radius_exceeded(10) is True  # 16% and at the minimum: held
    assert suspension.blast_radius_exceeded(6) is False  # 10% is not more than the share


def test_blast_radius_absolute_count_applies_below_the_minimum_count(settings):
    settings.BILLING = {**settings.BILLING, "BLAST_RADIUS_MAX_COUNT": 2, "BLAST_RADIUS_MAX_SHARE": 1.0,
                        "BLAST_RADIUS_MIN_COUNT": 10}  # fmt: skip
    assert suspension.blast_radius_exceeded(3) is True
    assert suspension.blast_radius_exceeded(2) is False


def test_blast_radius_min_count_comes_from_the_environment():
    from tests.foundation.subprocess_env import run_python

    code = "import django; django.setup(); from django.conf import settings; print(settings.BILLING['BLAST_RADIUS_MIN_COUNT'])"
    env = {"DJANGO_SETTINGS_MODULE": "core.settings"}
    default = run_python(env, "-c", code)
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip().splitlines()[-1] == "10"
    moved = run_python({**env, "BLAST_RADIUS_MIN_COUNT": "25"}, "-c", code)
    assert moved.stdout.strip().splitlines()[-1] == "25"


def test_pending_overage_goes_on_the_renewal_invoice_once(subscribed, fake_gateway, provisioning):
    sub = subscribed()
    service = ServiceFactory(customer=sub.customer, subscription=sub, product=sub.price.product)
    period = BandwidthPeriod.objects.create(
        service=service,
        period_start=dt.date(2025, 12, 1),
        period_end=dt.date(2026, 1, 1),
        closed_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        overage_bytes=150 * 10**9,
        overage_amount=D("1.50"),
    )
    run(RENEW_DAY)
    inv = Invoice.objects.get(subscription=sub)
    assert [ln.kind for ln in inv.lines.all()] == ["item", "overage"]
    assert inv.total == D("21.50")
    period.refresh_from_db()
    assert period.overage_invoice == inv and period.overage_billed_at is not None
    # The next period's renewal does not bill it again.
    run(dt.datetime(2026, 2, 1, 6, tzinfo=dt.UTC))
    run(dt.datetime(2026, 2, 22, 6, tzinfo=dt.UTC))
    assert Invoice.objects.filter(subscription=sub).count() == 2
    assert Invoice.objects.filter(subscription=sub, lines__kind="overage").count() == 1


def test_renewal_applies_coupon_for_remaining_cycles(subscribed, fake_gateway, provisioning):
    from core.billing.models import Coupon

    coupon = Coupon.objects.create(
        code="HALF", kind="percent", percent=D("50"), duration="repeating", duration_cycles=3
    )
    sub = subscribed(coupon=coupon, coupon_cycles_remaining=1)
    run(RENEW_DAY)
    inv = Invoice.objects.get(subscription=sub)
    assert inv.total == D("10.00")
    sub.refresh_from_db()
    assert sub.coupon is None and sub.coupon_cycles_remaining == 0


def test_renewal_uses_credit_automatically(subscribed, fake_gateway, provisioning):
    from core.billing.services.credit import add_credit, credit_balance

    sub = subscribed()
    add_credit(sub.customer, D("50.00"), reason="manual")
    run(RENEW_DAY)
    inv = Invoice.objects.get(subscription=sub)
    assert inv.status == Invoice.Status.PAID and inv.credit_applied == D("20.00")
    assert credit_balance(sub.customer) == D("30.00")


def _row_counts():
    return {m._meta.label: m.objects.count() for m in apps.get_models()}


def test_dry_run_changes_nothing_and_reports_what_would_happen(
    subscribed, fake_gateway, provisioning, no_blast_limit, capsys
):
    _policy()
    sub = subscribed(payment_method=None)
    ServiceFactory(customer=sub.customer, subscription=sub, product=sub.price.product)
    subscribed()
    run(RENEW_DAY - dt.timedelta(days=30))  # nothing yet, just to have an audit row
    with clock.frozen_at(RENEW_DAY):
        inv = invoices.issue_invoice(
            invoices.create_draft_invoice(
                sub.customer, lines=[{"description": "old", "unit_amount": D("5")}], subscription=sub
            ),
            due_date=dt.date(2026, 1, 1),
        )
    before = _row_counts()
    call_command("billing_run", "--date", "2026-01-25", "--dry-run")
    out = capsys.readouterr().out
    assert _row_counts() == before
    assert "Would issue 2 renewal invoices" in out and "USD 40.00" in out
    assert "Would suspend 1" in out
    assert fake_gateway.calls == [] and provisioning.calls == []
    assert inv.pk


def test_command_runs_for_a_date_and_exits_non_zero_on_errors(subscribed, fake_gateway, provisioning, monkeypatch):
    subscribed()
    call_command("billing_run", "--date", "2026-01-25")
    assert Invoice.objects.count() == 1
    monkeypatch.setattr(billing_run, "charge_due_invoices", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(CommandError):
        call_command("billing_run", "--date", "2026-02-01")


def test_failures_send_a_discord_summary(subscribed, fake_gateway, provisioning, settings):
    settings.DISCORD_WEBHOOK_URL = "https://discord.invalid/x"
    subscribed()
    run(RENEW_DAY)
    fake_gateway.script = [ChargeStatus.FAILED]
    run(dt.datetime(2026, 2, 1, 6, tzinfo=dt.UTC))
    from core.notifications.models import Notification

    assert Notification.objects.filter(channel="discord", subject__startswith="Billing run 2026-02-01").exists()


def test_non_production_refuses_real_gateways(settings):
    from django.core.exceptions import ImproperlyConfigured

    from core.billing.gateways import get_gateway

    settings.PAYMENT_GATEWAYS = ["stripe", "paypal", "sandbox"]
    settings.ALLOW_REAL_EXTERNAL_CALLS = False
    for name in ("stripe", "paypal"):
        with pytest.raises(ImproperlyConfigured):
            get_gateway(name)


def test_ensure_schedules_is_idempotent():
    from django_q.models import Schedule

    from core.billing.tasks import DAILY_RUN_SCHEDULE, ensure_schedules

    ensure_schedules()
    ensure_schedules()
    schedule = Schedule.objects.get(name=DAILY_RUN_SCHEDULE)
    assert schedule.func == "core.billing.tasks.daily_billing_run" and schedule.repeats == -1
