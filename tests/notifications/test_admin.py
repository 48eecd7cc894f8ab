"""Staff side: templates seeded and edited with history and preview, broken edits refused with the error
shown, the outbox resend action (audited), suppressions lifted, the customer's outbox."""

import pytest
from django.core import mail
from django.urls import reverse

from backoffice.admin.notifications import outbox_for_customer
from core.audit.models import AuditLog
from core.notifications import catalogue, services
from core.notifications.models import EmailSuppression, EmailTemplate, Notification
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DISCORD_WEBHOOK_URL = ""


def test_template_list_seeds_every_catalogue_template_from_its_file(staff_client):
    response = staff_client.get(reverse("admin:notifications_emailtemplate_changelist"))
    assert response.status_code == 200
    keys = set(EmailTemplate.objects.values_list("key", flat=True))
    assert {"welcome", "invoice_issued", "invoice_reminder", "overdue_notice", "ticket_reply"} <= keys
    welcome = EmailTemplate.objects.get(key="welcome")
    assert welcome.subject == "Welcome to {{ company.name }}" and "Hello {{ name }}" in welcome.text_body


def _form(template, **changes):
    data = {"key": template.key, "subject": template.subject, "text_body": template.text_body,
            "html_body": template.html_body, "is_active": "on"}  # fmt: skip
    data.update(changes)
    return data


def test_broken_edit_is_refused_with_the_error_and_nothing_changes(staff_client):
    staff_client.get(reverse("admin:notifications_emailtemplate_changelist"))
    template = EmailTemplate.objects.get(key="invoice_receipt")
    url = reverse("admin:notifications_emailtemplate_change", args=[template.pk])
    response = staff_client.post(url, _form(template, subject="Paid {{ amount|nosuchfilter }}"))
    assert response.status_code == 200
    assert "does not render" in response.content.decode() and "nosuchfilter" in response.content.decode()
    template.refresh_from_db()
    assert "nosuchfilter" not in template.subject
    assert template.history.count() == 1  # only the seed


def test_good_edit_is_saved_with_history_previewed_and_used_for_the_next_mail(
    staff_client, django_capture_on_commit_callbacks
):
    staff_client.get(reverse("admin:notifications_emailtemplate_changelist"))
    template = EmailTemplate.objects.get(key="invoice_receipt")
    url = reverse("admin:notifications_emailtemplate_change", args=[template.pk])
    response = staff_client.post(url, _form(template, subject="Thank you: {{ amount }} received"))
    assert response.status_code == 302
    assert template.history.count() == 2
    page = staff_client.get(url).content.decode()
    assert "Thank you: USD 120.00 received" in page  # preview on sample data
    assert "{{ reference }}" in page  # the documented variables
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.notify("invoice_receipt", to=customer.email, context=catalogue.EVENTS["invoice_receipt"].sample,
                        key="r:1")  # fmt: skip
    assert mail.outbox[0].subject == "Thank you: USD 120.00 received"


def test_resend_action_queues_a_copy_and_is_audited(staff_client, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        row = services.notify("invoice_receipt", to=customer.email, customer=customer, key="r:2",
                              context=catalogue.EVENTS["invoice_receipt"].sample)  # fmt: skip
    url = reverse("admin:notifications_notification_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, {"action": "bulk_resend", "_selected_action": [row.pk]})
    assert response.status_code == 302
    assert len(mail.outbox) == 2
    assert Notification.objects.filter(resent_from=row, status="sent").count() == 1
    assert AuditLog.objects.filter(action="notification.resent").count() == 1
    assert [n.pk for n in outbox_for_customer(customer)][-1] == row.pk
    detail = staff_client.get(reverse("admin:notifications_notification_change", args=[row.pk]))
    assert detail.status_code == 200 and "USD 120.00" in detail.content.decode()


def test_credentials_are_not_shown_in_the_outbox(staff_client, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        row = services.notify("service_ready", to=customer.email, customer=customer, key="ready:9",
                              context=catalogue.EVENTS["service_ready"].sample)  # fmt: skip
    page = staff_client.get(reverse("admin:notifications_notification_change", args=[row.pk])).content.decode()
    assert "Hidden: this message carried credentials." in page


def test_lifting_a_suppression_is_audited(staff_client):
    suppression = EmailSuppression.objects.create(address="ada@example.com", reason="bounced")
    url = reverse("admin:notifications_emailsuppression_changelist")
    staff_client.post(url, {"action": "bulk_lift", "_selected_action": [suppression.pk]})
    suppression.refresh_from_db()
    assert suppression.lifted_at is not None
    assert AuditLog.objects.filter(action="notification.suppression_lifted").exists()
