"""The outbox: retries with backoff then failed (staff told), sweeper, resend, suppression and preferences."""

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from core import clock
from core.audit.models import AuditLog
from core.notifications import catalogue, services
from core.notifications.bounces import suppress_address
from core.notifications.errors import NotificationError
from core.notifications.models import EmailTemplate, Notification, NotificationPreference
from tests.factories import CustomerFactory, StaffUserFactory
from tests.notifications.test_email import SEND_CALLS

pytestmark = pytest.mark.django_db

FAILING = "tests.notifications.test_email.FailingBackend"


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.NOTIFICATIONS = {"MAX_ATTEMPTS": 3, "RETRY_BASE_SECONDS": 60, "RETRY_MAX_SECONDS": 3600,
                              "CLAIM_SECONDS": 600}  # fmt: skip
    SEND_CALLS["count"] = 0


def _receipt(customer, key="receipt:1"):
    return services.notify(
        "invoice_receipt", to=customer.email, context=catalogue.EVENTS["invoice_receipt"].sample, key=key,
        customer=customer,
    )  # fmt: skip


def test_failing_provider_retries_with_growing_backoff_then_shows_failed(settings, django_capture_on_commit_callbacks):
    settings.DISCORD_WEBHOOK_URL = "https://discord.com/api/webhooks/1/x"
    settings.EMAIL_BACKEND = FAILING
    customer = CustomerFactory()
    with clock.frozen_at(dt.datetime(2026, 12, 6, 5, 0, tzinfo=dt.UTC)):
        with django_capture_on_commit_callbacks(execute=False):
            row = _receipt(customer)
        waits = []
        for _ in range(2):
            assert services.deliver(row.pk) == "retrying"
            row.refresh_from_db()
            waits.append((row.next_attempt_at - clock.now()).total_seconds())
        assert waits == [60, 120]
        with django_capture_on_commit_callbacks(execute=False):
            assert services.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 3, None)
    assert "503" in row.error
    assert SEND_CALLS["count"] == 3
    assert Notification.objects.filter(channel="discord", dedupe_key=f"notification_failed:{row.pk}").exists()


def test_sweeper_requeues_due_retries_and_lost_tasks(settings, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    start = dt.datetime(2026, 12, 6, 5, 0, tzinfo=dt.UTC)
    with clock.frozen_at(start):
        with django_capture_on_commit_callbacks(execute=False):
            _receipt(customer, key="lost")  # its task never ran (worker crashed)
            retry = _receipt(customer, key="retry")
        settings.EMAIL_BACKEND = FAILING
        services.deliver(retry.pk)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with clock.frozen_at(start + dt.timedelta(seconds=30)):
        assert services.retry_due_notifications() == 0  # nothing due yet
    with clock.frozen_at(start + dt.timedelta(minutes=6)):
        assert services.retry_due_notifications() == 2  # Q_SYNC: delivered inline
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    assert len(mail.outbox) == 2


def test_a_sent_or_claimed_row_is_not_sent_again(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=False):
        row = _receipt(customer)
    Notification.objects.filter(pk=row.pk).update(status="sending", claimed_at=clock.now())
    assert services.deliver(row.pk) == "already sent"  # another worker is on it
    assert mail.outbox == []


def test_staff_resend_creates_a_new_row_and_is_audited(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    staff = StaffUserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        row = _receipt(customer)
    with django_capture_on_commit_callbacks(execute=True):
        copy = services.resend(row, actor=staff)
    assert copy.resent_from == row and copy.status != row.dedupe_key
    copy.refresh_from_db()
    assert copy.status == "sent"
    assert len(mail.outbox) == 2 and mail.outbox[1].subject == mail.outbox[0].subject
    assert AuditLog.objects.filter(action="notification.resent").count() == 1


def test_credentials_mail_cannot_be_resent(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        row = services.notify("service_ready", to=customer.email, context=catalogue.EVENTS["service_ready"].sample,
                              key="ready:1", customer=customer)  # fmt: skip
    with pytest.raises(NotificationError, match="only once"):
        services.resend(row)


def test_hard_bounced_address_gets_essential_mail_only(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    suppress_address(customer.email, reason="bounced", esp="mailgun", detail="550 no such user")
    with django_capture_on_commit_callbacks(execute=True):
        reminder = services.notify("invoice_reminder", to=customer.email, customer=customer, key="rem:1",
                                   context=catalogue.EVENTS["invoice_reminder"].sample)  # fmt: skip
        receipt = _receipt(customer)
    assert reminder.status == "skipped" and "suppressed" in reminder.error
    receipt.refresh_from_db()
    assert receipt.status == "sent"
    assert [m.subject for m in mail.outbox] == [receipt.subject]


def test_customer_preferences_switch_off_optional_mail_only(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    NotificationPreference.objects.create(customer=customer, opted_out=["reminders", "support"])
    with django_capture_on_commit_callbacks(execute=True):
        reminder = services.notify("invoice_reminder", to=customer.email, customer=customer, key="rem:1",
                                   context=catalogue.EVENTS["invoice_reminder"].sample)  # fmt: skip
        issued = services.notify("invoice_issued", to=customer.email, customer=customer, key="inv:1",
                                 context=catalogue.EVENTS["invoice_issued"].sample)  # fmt: skip
    assert reminder.status == "skipped"
    assert [m.subject for m in mail.outbox] == [issued.subject]


def test_an_edited_db_template_is_what_customers_get(django_capture_on_commit_callbacks):
    EmailTemplate.objects.create(
        key="invoice_receipt", subject="Thanks! {{ amount }} received",
        text_body="We got {{ amount }} for {{ number }}.", html_body="<p>We got {{ amount }}</p>",
    )  # fmt: skip
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        _receipt(customer)
    (message,) = mail.outbox
    assert message.subject == "Thanks! USD 120.00 received"
    assert message.body == "We got USD 120.00 for INV-2026-000042."


@pytest.mark.parametrize(
    ("field", "source", "error"),
    [
        ("text_body", "Hello {{ name }", "not closed"),
        ("html_body", "{% if %}", "does not render"),
        ("subject", "Payment {{ amout }}", "Unknown variable(s): amout"),
        ("html_body", "{% extends 'emails/nope.html' %}", "not found"),
    ],
)
def test_broken_template_is_refused_on_save_with_the_error(field, source, error):
    values = {"key": "invoice_receipt", "subject": "Payment {{ amount }}", "text_body": "{{ number }}",
              "html_body": "<p>{{ number }}</p>", field: source}  # fmt: skip
    with pytest.raises(ValidationError) as exc_info:
        EmailTemplate(**values).full_clean()
    assert error in str(exc_info.value.message_dict[field])


def test_a_message_without_an_address_is_skipped_not_retried(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        row = services.notify("invoice_receipt", to="", context=catalogue.EVENTS["invoice_receipt"].sample, key="r:0")
    assert row.status == "skipped" and "No email address" in row.error
    assert mail.outbox == []
