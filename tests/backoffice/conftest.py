"""One object of every model the back office shows, built from factories."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp_webauthn.models import WebAuthnCredential

from core.accounts.models import ApiToken
from core.audit.models import AuditLog
from core.billing.models import (
    Coupon,
    CouponAmount,
    CouponRedemption,
    CreditEntry,
    GatewayCustomer,
    Invoice,
    NumberSequence,
    Order,
    OrderItem,
    PaymentMethod,
    PendingPolicyAction,
    SuspensionPolicy,
    WebhookEvent,
)
from core.notifications.models import Notification
from core.provisioning.models import ProvisioningJob
from core.support.models import Announcement, SupportTicket
from core.usage.models import BandwidthPeriod, BandwidthUsage
from tests.factories import (
    CurrencyFactory,
    CustomerFactory,
    InvoiceFactory,
    InvoiceLineFactory,
    PaymentFactory,
    PlatformConnectionFactory,
    PriceFactory,
    ServiceFactory,
    SubscriptionFactory,
    TaxRateFactory,
)


def issue_for_test(invoice: Invoice, number: str) -> Invoice:
    """Freeze an invoice the way the billing service leaves it (bypassing it: admin tests only)."""
    Invoice.objects.filter(pk=invoice.pk).update(
        status=Invoice.Status.ISSUED,
        number=number,
        issue_date=timezone.now().date(),
        due_date=timezone.now().date() + dt.timedelta(days=7),
        subtotal=Decimal("10.00"),
        total=Decimal("10.00"),
    )
    invoice.refresh_from_db()
    return invoice


def make_customer_world(customer=None, *, index: int = 0) -> dict:
    """A customer with a subscription, service, order, invoice, payment, credit and a job."""
    customer = customer or CustomerFactory()
    subscription = SubscriptionFactory(customer=customer)
    service = ServiceFactory(customer=customer, subscription=subscription, product=subscription.price.product)
    invoice = InvoiceFactory(customer=customer, subscription=subscription)
    InvoiceLineFactory(invoice=invoice, subscription=subscription, product=subscription.price.product)
    issue_for_test(invoice, f"INV-T-{customer.pk:04d}-{index}")
    order = Order.objects.create(customer=customer, currency=customer.currency, invoice=invoice)
    OrderItem.objects.create(order=order, price=subscription.price, hostname=service.hostname)
    payment = PaymentFactory(customer=customer, invoice=invoice)
    CreditEntry.objects.create(customer=customer, currency=customer.currency, amount=Decimal("5.00"), reason="manual")
    job = ProvisioningJob.objects.create(service=service, connection=service.connection, action="create")
    return {
        "customer": customer,
        "subscription": subscription,
        "service": service,
        "invoice": invoice,
        "order": order,
        "payment": payment,
        "job": job,
    }


@pytest.fixture
def admin_world(db, staff_user):
    """At least one row of each model registered in the admin."""
    CurrencyFactory(code="EUR", exchange_rate=Decimal("0.9"))
    world = make_customer_world()
    customer = world["customer"]
    draft = InvoiceFactory(customer=customer)
    InvoiceLineFactory(invoice=draft)
    price = PriceFactory(currency=customer.currency)
    method = PaymentMethod.objects.create(
        customer=customer, gateway="sandbox", gateway_method_id="pm_1", brand="visa", last4="4242", exp_month=4,
        exp_year=2030,
    )  # fmt: skip
    GatewayCustomer.objects.create(customer=customer, gateway="stripe", gateway_customer_id="cus_1")
    coupon = Coupon.objects.create(code="WELCOME", kind="fixed")
    CouponAmount.objects.create(coupon=coupon, currency=customer.currency, amount=Decimal("5.00"))
    CouponRedemption.objects.create(coupon=coupon, customer=customer, order=world["order"])
    TaxRateFactory()
    NumberSequence.objects.create(series="invoice", year=2026, last_value=3)
    WebhookEvent.objects.create(gateway="stripe", event_id="evt_1", event_type="payment_intent.succeeded", payload={})
    SuspensionPolicy.objects.create(service_type="vps")
    PendingPolicyAction.objects.create(
        service=world["service"], action="suspend", reason="Overdue invoice", run_date=dt.date(2026, 1, 10)
    )
    PlatformConnectionFactory(name="vf", platform="virtfusion", api_key="vf-secret-key", api_secret="")
    BandwidthUsage.objects.create(service=world["service"], day=dt.date(2026, 1, 1), bytes_in=10**9, bytes_out=10**9)
    BandwidthPeriod.objects.create(
        service=world["service"], period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 2, 1),
        bytes_in=10**9, quota_bytes=10**12,
    )  # fmt: skip
    from core.usage.models import BandwidthPolicy, CollectionWindow, HourlyUsage, ServiceAddress

    ServiceAddress.objects.create(service=world["service"], network="2001:db8:5::/48", source="staff")
    BandwidthPolicy.objects.create(product=world["service"].product)
    CollectionWindow.objects.create(start=dt.datetime(2026, 1, 1, 5, tzinfo=dt.UTC), status="ok", total_bytes=10**9)
    HourlyUsage.objects.create(
        service=world["service"], window_start=dt.datetime(2026, 1, 1, 5, tzinfo=dt.UTC), bytes_in=10**8,
        bytes_out=10**9, index_pattern="elastiflow-flow-codex-*", query_hash="ab" * 32,
    )  # fmt: skip
    SupportTicket.objects.create(customer=customer, external_id="17", number="1017", subject="Help", status="open")
    Announcement.objects.create(title="Maintenance", body="Tonight")
    AuditLog.objects.create(action="invoice.issue", actor=staff_user, object_repr="INV-1")
    Notification.objects.create(channel="email", event="invoice_issued", dedupe_key="k1", recipient="a@b.c")
    from core.notifications.models import EmailSuppression, NotificationPreference

    EmailSuppression.objects.create(address="bounced@example.com", reason="bounced", esp="mailgun")
    NotificationPreference.objects.create(customer=customer, opted_out=["reminders"])
    ApiToken.objects.create(user=customer.user, name="ci", prefix="ezs_abc", token_hash="0" * 64, scopes=["read"])
    Group.objects.create(name="Billing staff")
    WebAuthnCredential.objects.create(
        user=staff_user, name="YubiKey", credential_id=b"cred-1", public_key=b"key", transports=[],
        aaguid="00000000-0000-0000-0000-000000000000", credential_id_sha256="a" * 64,
    )  # fmt: skip
    _third_party_rows(staff_user)
    from core.analytics.models import CustomerMRR, ExportJob

    CustomerMRR.objects.create(month=dt.date(2026, 1, 1), customer=customer, currency=customer.currency_id,
                               mrr=Decimal("20"), previous_mrr=Decimal("0"), movement="new")  # fmt: skip
    ExportJob.objects.create(kind="invoices", date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 1, 31))
    return {**world, "draft": draft, "price": price, "method": method, "coupon": coupon}


def _third_party_rows(staff_user):
    """One row in each third-party table the admin lists (lockouts, task results, backup codes)."""
    from axes.models import AccessAttempt, AccessFailureLog
    from django.utils import timezone
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_q.models import Failure, OrmQ, Success

    AccessAttempt.objects.create(
        username="someone@example.com", ip_address="198.51.100.7", user_agent="curl", failures_since_start=3,
        get_data="", post_data="",
    )  # fmt: skip
    AccessFailureLog.objects.create(username="someone@example.com", ip_address="198.51.100.7", user_agent="curl")
    now = timezone.now()
    task = {"name": "t", "func": "core.billing.tasks.daily_billing_run", "started": now, "stopped": now}
    Success.objects.create(id="a" * 32, **task, success=True, result="ok")
    Failure.objects.create(id="b" * 32, **task, success=False, result="Boom")
    OrmQ.objects.create(key="default", payload="x", lock=now)
    StaticDevice.objects.create(user=staff_user, name="backup")
