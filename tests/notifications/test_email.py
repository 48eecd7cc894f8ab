"""Email goes out through a queued task, once per dedupe key, and a failure makes django-q2 retry."""

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from core.notifications import services
from core.notifications.models import Notification

pytestmark = pytest.mark.django_db

SEND_CALLS = {"count": 0}


class FailingBackend(BaseEmailBackend):
    """Stands in for the ESP answering 5xx (anymail raises AnymailAPIError)."""

    def send_messages(self, messages):
        SEND_CALLS["count"] += 1
        raise ConnectionError("Mailgun API response 503: Service Unavailable")


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    SEND_CALLS["count"] = 0


def _welcome(**overrides):
    kwargs = {
        "to": "ada@example.com",
        "subject": "Welcome to EZSCALE Hosting",
        "template": "welcome",
        "context": {"name": "Ada", "email": "ada@example.com", "portal_url": "https://billing.example.com/"},
        "dedupe_key": "welcome:1",
    }
    kwargs.update(overrides)
    return services.send_email("welcome", **kwargs)


def test_send_email_queues_one_task_after_commit_that_sends_through_the_backend(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notification = _welcome()
        assert mail.outbox == []  # nothing leaves before the transaction commits
    assert len(callbacks) == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert message.subject == "Welcome to EZSCALE Hosting"
    html = message.alternatives[0][0]
    assert "Hello Ada" in message.body and "Hello Ada" in html
    assert "https://billing.example.com/" in message.body
    notification.refresh_from_db()
    assert notification.status == "sent" and notification.attempts == 1 and notification.sent_at is not None


def test_same_dedupe_key_sends_once(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = _welcome()
        second = _welcome()
    assert first is not None and second is None
    assert Notification.objects.filter(dedupe_key="welcome:1").count() == 1
    assert len(mail.outbox) == 1


def test_a_task_delivered_twice_sends_once(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification = _welcome()
    payload = {"template": "welcome", "context": {"name": "Ada"}, "attachment_builder": None, "attachment_args": []}
    assert services.deliver_email(notification.pk, payload) == "already sent"
    assert len(mail.outbox) == 1


def test_nothing_is_sent_when_the_callers_transaction_rolls_back(django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _welcome()
        raise RuntimeError("order failed")
    assert callbacks == []
    assert mail.outbox == []
    assert not Notification.objects.exists()


def test_failing_provider_is_retried_with_backoff_then_sends(settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        notification = _welcome()
    settings.EMAIL_BACKEND = "tests.notifications.test_email.FailingBackend"
    assert services.deliver(notification.pk) == "retrying"
    notification.refresh_from_db()
    assert notification.status == "retrying"
    assert "503" in notification.error
    assert notification.attempts == 1 and notification.next_attempt_at is not None

    # The sweeper requeues it when due; by then the ESP is back.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert services.deliver(notification.pk) == "sent"
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.error) == ("sent", 2, "")
    assert len(mail.outbox) == 1


def test_a_provider_error_never_breaks_the_callers_request(settings, django_capture_on_commit_callbacks):
    """In sync mode (demo, tests) delivery runs inline: a provider outage is recorded, not raised."""
    settings.EMAIL_BACKEND = "tests.notifications.test_email.FailingBackend"
    with django_capture_on_commit_callbacks(execute=True):
        notification = _welcome()
    notification.refresh_from_db()
    assert notification.status == "retrying"
    assert SEND_CALLS["count"] == 1


def test_attachment_builder_runs_in_the_task(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _welcome(
            dedupe_key="invoice:1",
            attachment_builder="tests.notifications.test_email.build_attachments",
            attachment_args=("INV-2026-000001",),
        )
    (attachment,) = mail.outbox[0].attachments
    assert attachment[0] == "INV-2026-000001.pdf"
    assert attachment[1] == b"%PDF-1.7 INV-2026-000001"


def build_attachments(number):
    return [services.Attachment(filename=f"{number}.pdf", content=f"%PDF-1.7 {number}".encode())]
