"""Every catalogue event renders with its sample data and reaches the right inbox, once."""

import pytest
from django.core import mail

from core.notifications import catalogue, services, templating
from core.notifications.models import Notification
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

INVOICE_EVENTS = {"invoice_issued", "renewal_invoice"}


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def build_pdf(number):
    return [services.Attachment(filename=f"{number}.pdf", content=b"%PDF-1.7 sample")]


def _has_files(event):
    return templating.file_sources(event.template_key) is not None


@pytest.mark.parametrize("name", sorted(catalogue.EVENTS))
def test_every_event_renders_sample_data_to_the_recipient(name, django_capture_on_commit_callbacks):
    event = catalogue.EVENTS[name]
    if not _has_files(event):
        pytest.skip(f"templates/emails/{event.template_key}.* is added by the bandwidth work (issue 11)")
    customer = CustomerFactory()
    extra = {}
    if name in INVOICE_EVENTS:
        extra = {"attachment_builder": "tests.notifications.test_catalogue.build_pdf",
                 "attachment_args": ("INV-2026-000042",)}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        row = services.notify(name, to=customer.email, context=event.sample, key=f"{name}:sample",
                              customer=customer, **extra)  # fmt: skip
    assert row is not None
    row.refresh_from_db()
    assert row.status == "sent", row.error
    (message,) = mail.outbox
    assert message.to == [customer.email]
    assert message.subject and "{{" not in message.subject and "{%" not in message.subject
    html = message.alternatives[0][0]
    assert "{{" not in message.body and "{{" not in html
    assert "EZSCALE" in message.body  # the company footer or signature made it in
    if name in INVOICE_EVENTS:
        assert [a[0] for a in message.attachments] == ["INV-2026-000042.pdf"]


@pytest.mark.parametrize("key", catalogue.template_keys())
def test_every_seed_template_passes_the_save_check(key):
    sources = templating.file_sources(key)
    if sources is None:
        pytest.skip(f"no file template for {key} yet")
    event = catalogue.event_for_template(key)
    rendered = templating.check_template(key, event.subject, *sources)
    assert rendered.subject


def test_event_fired_twice_sends_one_mail(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    sample = catalogue.EVENTS["invoice_receipt"].sample
    with django_capture_on_commit_callbacks(execute=True):
        first = services.notify("invoice_receipt", to=customer.email, context=sample, key="receipt:p1")
        second = services.notify("invoice_receipt", to=customer.email, context=sample, key="receipt:p1")
    assert first is not None and second is None
    assert len(mail.outbox) == 1
    assert Notification.objects.filter(dedupe_key="receipt:p1").count() == 1


def test_unknown_event_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="catalogue"):
        services.notify("no_such_event", to="a@example.com")


def test_staff_alerts_are_routed_to_a_channel():
    assert catalogue.discord_channel_for("Provisioning failed") == "provisioning"
    assert catalogue.discord_channel_for("Staff account locked out") == "security"
    assert catalogue.discord_channel_for("New customer signup") == "security"
    assert catalogue.discord_channel_for("Dispute opened on INV-1") == "billing"
    assert {e.discord_channel for e in catalogue.STAFF_ALERTS.values()} == {"billing", "provisioning", "security"}
