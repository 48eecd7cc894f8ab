"""Customer 360: the merged timeline, staff notes and the quick actions."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.customer_timeline import customer_timeline
from core import clock
from core.accounts.models import CustomerNote
from core.audit.models import AuditLog
from core.audit.services import record
from core.billing.models import CreditEntry, Invoice
from core.notifications.models import Notification
from core.provisioning.models import ProvisioningJob, Service
from core.support.models import SupportTicket
from tests.factories import CustomerFactory, PaymentFactory, ServiceFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
SUBMIT = {"_form_submitted": "1"}  # Unfold action dialogs run only when their form was submitted


def _history(customer, n: int = 3):
    """n events of each kind, one hour apart per kind, interleaved in time."""
    service = ServiceFactory(customer=customer)
    for i in range(n):
        at = T0 + dt.timedelta(hours=5 * i)
        with clock.frozen_at(at):
            record("customer.update", customer, message=f"audit {i}")
        Notification.objects.create(channel="email", event="invoice_issued", dedupe_key=f"k{customer.pk}-{i}",
                                    recipient=customer.email, subject=f"email {i}", customer=customer,
                                    created_at=at + dt.timedelta(hours=1), status="sent")  # fmt: skip
        PaymentFactory(customer=customer, received_at=at + dt.timedelta(hours=2))
        ProvisioningJob.objects.create(service=service, action="create", created_at=at + dt.timedelta(hours=3))
        SupportTicket.objects.create(customer=customer, external_id=f"{customer.pk}-{i}", subject=f"ticket {i}",
                                     status="open", updated_at=at + dt.timedelta(hours=4))  # fmt: skip
    return service


def test_timeline_merges_every_source_newest_first_and_pages():
    customer = CustomerFactory()
    _history(customer, n=3)
    first = customer_timeline(customer, page=1, per_page=4)
    kinds = [e.kind for e in first.events]
    assert kinds == ["ticket", "provisioning", "payment", "email"]  # the last hour of the newest round
    assert first.has_next and not first.has_previous
    everything = []
    page = 1
    while True:
        chunk = customer_timeline(customer, page=page, per_page=4)
        everything += chunk.events
        if not chunk.has_next:
            break
        page += 1
    assert len(everything) == 15
    times = [e.when for e in everything]
    assert times == sorted(times, reverse=True)
    assert {e.kind for e in everything} == {"audit", "email", "payment", "provisioning", "ticket"}


def test_timeline_shows_nothing_of_other_customers():
    mine, other = CustomerFactory(), CustomerFactory()
    _history(other, n=2)
    assert customer_timeline(mine).events == []


def test_timeline_query_count_does_not_grow_with_history():
    small, big = CustomerFactory(), CustomerFactory()
    _history(small, n=1)
    _history(big, n=8)
    counts = []
    for customer in (small, big):
        with CaptureQueriesContext(connection) as queries:
            customer_timeline(customer, page=2, per_page=5)
        counts.append(len(queries))
    assert counts[0] == counts[1] == 5


def test_customer_page_shows_timeline_pinned_notes_and_quick_actions(staff_client):
    customer = CustomerFactory()
    _history(customer, n=1)
    CustomerNote.objects.create(customer=customer, body="VIP: call before suspending", is_pinned=True)
    CustomerNote.objects.create(customer=customer, body="Old unpinned remark")
    body = staff_client.get(reverse("admin:accounts_customer_change", args=[customer.pk])).content.decode()
    assert 'id="customer-timeline"' in body and "ticket 0" in body
    assert 'id="customer-pinned-notes"' in body and "VIP: call before suspending" in body
    for label in ("Add credit", "Create invoice", "Suspend all services", "Unsuspend all services",
                  "Send password reset", "Impersonate", "Staff notes", "Support tickets", "Outbox"):  # fmt: skip
        assert label in body
    assert "email 0" in body  # the outbox tab lists the customer's messages
    full = staff_client.get(reverse("admin:accounts_customer_timeline", args=[customer.pk]))
    assert full.status_code == 200 and "email 0" in full.content.decode()


def test_adding_a_note_records_the_author_and_audits(staff_client, staff_user):
    customer = CustomerFactory()
    url = reverse("admin:accounts_customer_change", args=[customer.pk])
    page = staff_client.get(url)
    form = page.context["adminform"].form
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if not isinstance(v, list | dict)}
    data.update(user=customer.user.pk, currency=customer.currency_id, status=customer.status)
    for formset in page.context["inline_admin_formsets"]:
        prefix = formset.formset.prefix
        mgmt = formset.formset.management_form
        data.update({f"{prefix}-{k}": v for k, v in mgmt.initial.items()})
        data[f"{prefix}-TOTAL_FORMS"] = formset.formset.total_form_count()
    notes_prefix = next(f.formset.prefix for f in page.context["inline_admin_formsets"]
                        if f.formset.model is CustomerNote)  # fmt: skip
    data[f"{notes_prefix}-TOTAL_FORMS"] = 1
    data[f"{notes_prefix}-0-body"] = "Prefers email, never phone"
    data[f"{notes_prefix}-0-is_pinned"] = "on"
    data[f"{notes_prefix}-0-customer"] = customer.pk
    response = staff_client.post(url, data)
    assert response.status_code == 302, getattr(response, "context", None) and response.context["errors"]
    note = CustomerNote.objects.get(customer=customer)
    assert note.author == staff_user and note.is_pinned
    assert AuditLog.objects.filter(action="customer.note_added", customer=customer, actor=staff_user).exists()


def _action(name, customer):
    return reverse(f"admin:accounts_customer_{name}", args=[customer.pk])


def test_quick_add_credit_and_create_invoice(staff_client, staff_user):
    customer = CustomerFactory()
    response = staff_client.post(_action("add_credit_action", customer),
                                 {"amount": "12.50", "description": "Goodwill for outage", **SUBMIT})  # fmt: skip
    assert response.status_code in (200, 302)
    entry = CreditEntry.objects.get(customer=customer)
    assert entry.amount == Decimal("12.50")
    response = staff_client.post(_action("create_invoice_action", customer),
                                 {"description": "Custom setup", "amount": "40.00", **SUBMIT})  # fmt: skip
    invoice = Invoice.objects.get(customer=customer)
    assert invoice.status == "draft" and invoice.lines.get().amount == Decimal("40.00")
    assert response["Location"] == reverse("admin:billing_invoice_change", args=[invoice.pk])


def _active_services(customer, n, django_capture_on_commit_callbacks):
    from core.provisioning.services import create_service
    from tests.factories import PlatformConnectionFactory, ProductFactory
    from tests.provisioning.conftest import paid_item

    sandbox = PlatformConnectionFactory(defaults={"build_seconds": 0})
    product = ProductFactory(platform="sandbox", platform_connection=sandbox)
    services = []
    for _ in range(n):
        with django_capture_on_commit_callbacks(execute=True):
            services.append(create_service(*paid_item(product, customer)))
    for service in services:
        service.refresh_from_db()
        assert service.status == "active"
    return services


def test_quick_suspend_all_services_needs_a_reason_and_only_touches_active_ones(
    staff_client, staff_user, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    active = _active_services(customer, 2, django_capture_on_commit_callbacks)
    terminated = ServiceFactory(customer=customer, status="terminated")
    other = ServiceFactory()
    staff_client.post(_action("suspend_services_action", customer), {"reason": "", **SUBMIT})
    assert not Service.objects.filter(pending_action="suspend").exists()
    assert not Service.objects.filter(status="suspended").exists()
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(_action("suspend_services_action", customer), {"reason": "Abuse report #77", **SUBMIT})
    for service in active:
        service.refresh_from_db()
        assert service.status == "suspended" or service.pending_action == "suspend"
        assert service.suspension_reason == "Abuse report #77"
    terminated.refresh_from_db()
    other.refresh_from_db()
    assert terminated.status == "terminated" and other.status == "active" and not other.pending_action
    assert AuditLog.objects.filter(action="customer.suspend_services", customer=customer, actor=staff_user).exists()


def test_quick_password_reset_emails_the_customer(staff_client, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):  # sent through the outbox, after commit
        staff_client.post(_action("send_password_reset_action", customer), SUBMIT)
    assert [m.to for m in mail.outbox] == [[customer.email]]
    assert Notification.objects.filter(event="password_reset", recipient=customer.email).count() == 1
    assert AuditLog.objects.filter(action="auth.password_reset_sent", customer=customer).exists()
