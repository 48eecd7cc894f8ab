"""Impersonation: permission, a typed reason, audited start and end, a portal banner with one-click
end, money-moving portal actions refused, staff and superusers never impersonated."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from core.audit.models import AuditLog
from core.billing.models import Payment
from tests.conftest import login_verified
from tests.factories import CustomerFactory, InvoiceFactory, StaffUserFactory

pytestmark = pytest.mark.django_db
REASON = "Customer asked on ticket #4411 why the VPS page shows no IP"


def _support_user():
    user = StaffUserFactory(is_superuser=False)
    user.user_permissions.add(
        Permission.objects.get(codename="impersonate_customer"), Permission.objects.get(codename="view_customer")
    )
    return user


def _start(client, customer, reason=REASON):
    return client.post(reverse("hijack:acquire"), {"user_pk": customer.user.pk, "reason": reason})


def test_reason_page_renders_for_staff_with_the_permission(client):
    customer = CustomerFactory()
    login_verified(client, _support_user())
    response = client.get(reverse("admin:accounts_customer_impersonate", args=[customer.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="reason"' in body and customer.user.email in body


def test_impersonation_without_a_reason_is_refused_and_changes_nothing(client):
    customer = CustomerFactory()
    login_verified(client, _support_user())
    for reason in ("", "short"):
        response = _start(client, customer, reason)
        assert response.status_code == 400
        assert "reason" in response.content.decode()
    assert not AuditLog.objects.filter(action="auth.impersonation_started").exists()
    assert "hijack_history" not in client.session


def test_staff_without_the_permission_cannot_impersonate(client):
    customer = CustomerFactory()
    login_verified(client, StaffUserFactory(is_superuser=False))
    assert _start(client, customer).status_code == 403
    response = client.get(reverse("admin:accounts_customer_impersonate", args=[customer.pk]))
    assert response.status_code == 403


@pytest.mark.parametrize("target", ["staff", "superuser"])
def test_staff_and_superusers_cannot_be_impersonated(client, target):
    victim = StaffUserFactory(is_superuser=target == "superuser")
    login_verified(client, StaffUserFactory())
    response = client.post(reverse("hijack:acquire"), {"user_pk": victim.pk, "reason": REASON})
    assert response.status_code == 403
    assert not AuditLog.objects.filter(action="auth.impersonation_started").exists()


def test_unverified_staff_session_cannot_impersonate(client):
    customer = CustomerFactory()
    client.force_login(StaffUserFactory(), backend="django.contrib.auth.backends.ModelBackend")
    assert _start(client, customer).status_code == 403


def test_start_banner_refusal_and_end_are_audited(client):
    staff = _support_user()
    customer = CustomerFactory()
    invoice = InvoiceFactory(customer=customer)
    login_verified(client, staff)

    response = _start(client, customer)
    assert response.status_code == 302
    started = AuditLog.objects.get(action="auth.impersonation_started")
    assert started.actor == staff and started.data["reason"] == REASON and started.customer == customer

    home = client.get(reverse("portal:home"))
    body = home.content.decode()
    assert home.status_code == 200
    assert "impersonat" in body.lower() and reverse("hijack:release") in body

    # A money-moving POST (paying an invoice) is refused with a clear message; nothing is recorded.
    refused = client.post(reverse("portal:invoice_pay", args=[invoice.uuid]), {"gateway": "sandbox"}, follow=True)
    assert "Nothing was changed" in refused.content.decode()
    assert not Payment.objects.exists()

    ended = client.post(reverse("hijack:release"))
    assert ended.status_code == 302
    assert ended["Location"] == reverse("admin:accounts_customer_change", args=[customer.pk])
    end = AuditLog.objects.get(action="auth.impersonation_ended")
    assert end.actor == staff and end.data["reason"] == REASON and end.data["started_audit_id"] == started.pk
    assert "seconds" in end.data
