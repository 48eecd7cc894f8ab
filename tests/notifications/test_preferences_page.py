"""The portal's email preferences: optional categories switch off, essential mail is listed as always sent."""

import pytest
from django.core import mail
from django.urls import reverse

from core.audit.models import AuditLog
from core.notifications import catalogue, services
from core.notifications.models import NotificationPreference
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def customer_client(client):
    customer = CustomerFactory()
    client.force_login(customer.user, backend=MODEL_BACKEND)
    client.customer = customer
    return client


def test_page_lists_optional_categories_and_what_is_always_sent(customer_client):
    page = customer_client.get(reverse("portal:notification_preferences")).content.decode()
    for label in catalogue.CATEGORIES.values():
        assert label in page
    assert "Invoice issued (PDF attached)" in page and "Password reset" in page


def test_switching_off_reminders_stops_them_but_not_invoices(settings, customer_client,
                                                            django_capture_on_commit_callbacks):  # fmt: skip
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    customer = customer_client.customer
    response = customer_client.post(reverse("portal:notification_preferences"), {"usage": "on", "support": "on",
                                                                                 "account": "on"})  # fmt: skip
    assert response.status_code == 302
    assert NotificationPreference.objects.get(customer=customer).opted_out == ["reminders"]
    assert AuditLog.objects.filter(action="notification.preferences_changed").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        for event in ("invoice_reminder", "invoice_issued"):
            services.notify(event, to=customer.email, customer=customer, key=f"{event}:1",
                            context=catalogue.EVENTS[event].sample)  # fmt: skip
    assert [m.subject for m in mail.outbox] == ["Invoice INV-2026-000042 from EZSCALE Hosting"]


def test_staff_are_not_customers(staff_client):
    assert staff_client.get(reverse("portal:notification_preferences")).status_code == 403


def test_password_reset_goes_through_the_outbox(settings, django_capture_on_commit_callbacks):
    from portal.notifications.forms import OutboxPasswordResetForm

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    customer = CustomerFactory(user__first_name="Ada")
    form = OutboxPasswordResetForm({"email": customer.user.email})
    assert form.is_valid()
    with django_capture_on_commit_callbacks(execute=True):
        form.save(domain_override="billing.example.com")
    (message,) = mail.outbox
    assert message.to == [customer.user.email] and message.subject == "Reset your EZSCALE Hosting password"
    assert "Hello Ada" in message.body and "/password-reset/" in message.body
    from core.notifications.models import Notification

    row = Notification.objects.get(event="password_reset")
    assert row.customer == customer and row.status == "sent"


def test_account_settings_link_to_the_email_preferences(customer_client):
    from django.urls import reverse

    body = customer_client.get(reverse("portal:profile")).content.decode()
    assert reverse("portal:notification_preferences") in body
