"""Two workers on the same outbox row, or two callers with the same key: one message (MariaDB row locks)."""

import threading

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection

from core.notifications import catalogue, services
from core.notifications.models import Notification
from tests.factories import CustomerFactory

SENDING = threading.Event()
RELEASE = threading.Event()


class SlowBackend(EmailBackend):
    """The provider takes its time: the second worker arrives while the first is still sending."""

    def send_messages(self, messages):
        SENDING.set()
        RELEASE.wait(10)
        return super().send_messages(messages)


def _in_thread(func, results):
    def run():
        try:
            results.append(func())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_two_workers_delivering_one_row_send_one_mail(settings):
    settings.EMAIL_BACKEND = "tests.notifications.test_outbox_concurrency.SlowBackend"
    SENDING.clear()
    RELEASE.clear()
    customer = CustomerFactory()
    row = Notification.objects.create(
        channel="email", event="invoice_receipt", template="invoice_receipt", dedupe_key="receipt:race",
        recipient=customer.email, subject="Payment received", text_body="Thanks", html_body="<p>Thanks</p>",
    )  # fmt: skip
    results = []
    first = _in_thread(lambda: services.deliver(row.pk), results)
    assert SENDING.wait(10)
    second = _in_thread(lambda: services.deliver(row.pk), results)
    second.join(10)
    RELEASE.set()
    first.join(10)
    assert sorted(results) == ["already sent", "sent"]
    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 1)


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_two_callers_with_the_same_key_make_one_row(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    customer = CustomerFactory()
    barrier = threading.Barrier(2)
    results = []

    def fire():
        barrier.wait(10)
        return services.notify("invoice_receipt", to=customer.email, key="receipt:same",
                               context=catalogue.EVENTS["invoice_receipt"].sample)  # fmt: skip

    threads = [_in_thread(fire, results) for _ in range(2)]
    for thread in threads:
        thread.join(20)
    assert sum(r is not None for r in results) == 1
    assert Notification.objects.filter(dedupe_key="receipt:same").count() == 1
    assert len(mail.outbox) == 1
