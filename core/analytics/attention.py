"""What needs staff today: each item a count and the admin list that shows exactly those rows."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse

from core import clock


def needs_attention(today: dt.date | None = None) -> list[dict]:
    """[{"key", "label", "count", "href"}] in a fixed order; one COUNT query per item.

    - failed provisioning jobs: jobs whose last attempt failed, last 7 days
    - services awaiting stock or staff approval (status awaiting_stock covers both)
    - billing-run actions held for approval (blast-radius guard)
    - open disputes: payments marked disputed
    - payments failed today
    - webhooks that failed to process
    - customers whose default card expires this month (cards not removed)
    """
    from core.billing.models import Payment, PaymentMethod, PendingPolicyAction, WebhookEvent
    from core.provisioning.models import ProvisioningJob, Service

    today = today or clock.today()
    week_ago = today - dt.timedelta(days=7)
    midnight = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)
    expiring = PaymentMethod.objects.filter(removed_at__isnull=True, exp_year=today.year, exp_month=today.month)

    def url(name, query=""):
        return reverse(f"admin:{name}_changelist") + (f"?{query}" if query else "")

    return [
        {"key": "failed_jobs", "label": "Failed provisioning jobs (7 days)",
         "count": ProvisioningJob.objects.filter(outcome=ProvisioningJob.Outcome.FAILED,
                                                 created_at__gte=dt.datetime.combine(week_ago, dt.time(),
                                                                                     tzinfo=dt.UTC)).count(),
         "href": url("provisioning_provisioningjob", f"outcome=failed&created_at_from={week_ago:%Y-%m-%d}")},
        {"key": "awaiting_stock", "label": "Services awaiting stock or approval",
         "count": Service.objects.filter(status=Service.Status.AWAITING_STOCK).count(),
         "href": url("provisioning_service", "status=awaiting_stock")},
        {"key": "held_actions", "label": "Billing-run actions held for approval",
         "count": PendingPolicyAction.objects.filter(status=PendingPolicyAction.Status.PENDING).count(),
         "href": url("billing_pendingpolicyaction", "status__exact=pending")},
        {"key": "disputes", "label": "Open disputes",
         "count": Payment.objects.filter(is_disputed=True).count(),
         "href": url("billing_payment", "is_disputed__exact=1")},
        {"key": "failed_payments", "label": "Payments failed today",
         "count": Payment.objects.filter(status=Payment.Status.FAILED, received_at__gte=midnight).count(),
         "href": url("billing_payment", f"status=failed&received_at_from={today:%Y-%m-%d}")},
        {"key": "failed_webhooks", "label": "Webhooks that failed to process",
         "count": WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).count(),
         "href": url("billing_webhookevent", "status=failed")},
        {"key": "expiring_cards", "label": "Customers whose card expires this month",
         "count": expiring.values("customer_id").distinct().count(),
         "href": url("billing_paymentmethod", f"exp_year__exact={today.year}&exp_month__exact={today.month}"
                                              "&removed_at__isnull=True")},
    ]  # fmt: skip
