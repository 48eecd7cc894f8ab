"""Ticket events from the SupportPal plugin: signature checked, the ticket re-read into the mirror."""

import datetime as dt
import hashlib
import hmac
import json

import pytest
from django.core import mail
from django.urls import reverse

from core import clock
from core.support import services as support
from core.support.models import SupportTicket
from integrations.supportpal.sandbox import SandboxSupportBackend

pytestmark = pytest.mark.django_db
SECRET = "plugin-secret"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.SUPPORTPAL = {**settings.SUPPORTPAL, "WEBHOOK_SECRET": SECRET}


def _post(client, body: dict, secret=SECRET):
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(reverse("portal:support_ticket_event"), raw, content_type="application/json",
                       headers={"X-Signature": signature})  # fmt: skip


def test_signed_event_refreshes_the_ticket_and_emails_the_staff_reply(client, customer,
                                                                     django_capture_on_commit_callbacks):  # fmt: skip
    ticket = support.open_ticket(customer, department_id="1", subject="Disk", text="Full")
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=3)):
        SandboxSupportBackend()._add(ticket.id, "Cleaned up.", by_staff=True, author="Sam")
        with django_capture_on_commit_callbacks(execute=True):
            assert _post(client, {"event": "message.created", "ticket_id": int(ticket.id)}).status_code == 204
    row = SupportTicket.objects.get(external_id=ticket.id)
    assert row.last_reply_by_staff is True
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [customer.user.email]


def test_forged_event_is_refused(client, customer):
    ticket = support.open_ticket(customer, department_id="1", subject="Disk", text="Full")
    SupportTicket.objects.all().delete()
    assert _post(client, {"ticket_id": int(ticket.id)}, secret="guess").status_code == 403
    assert not SupportTicket.objects.exists()


def test_events_are_refused_when_no_secret_is_set(client, settings):
    settings.SUPPORTPAL = {**settings.SUPPORTPAL, "WEBHOOK_SECRET": ""}
    assert _post(client, {"ticket_id": 1}, secret="").status_code == 403


def test_event_for_an_unknown_ticket_changes_nothing(client):
    assert _post(client, {"ticket_id": 424242}).status_code == 204
    assert _post(client, {"nothing": 1}).status_code == 400
    assert not SupportTicket.objects.exists()
