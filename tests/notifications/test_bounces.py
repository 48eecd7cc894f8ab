"""Provider bounce webhooks (anymail tracking): signature checked, address suppressed once, staff told."""

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from core.notifications.models import EmailSuppression, Notification

pytestmark = pytest.mark.django_db

PAYLOADS = Path(__file__).parent / "payloads"
SIGNING_KEY = "key-whsec-0123456789abcdef"
URL = "/anymail/mailgun/tracking/"


@pytest.fixture(autouse=True)
def _anymail(settings):
    settings.ANYMAIL = {"MAILGUN_API_KEY": "key-api", "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    settings.DISCORD_WEBHOOKS = {"security": "https://discord.com/api/webhooks/9/security"}
    settings.DISCORD_WEBHOOK_URL = ""


def _signed(key=SIGNING_KEY):
    body = json.loads((PAYLOADS / "mailgun_permanent_failure.json").read_text())
    sig = body["signature"]
    sig["signature"] = hmac.new(key.encode(), (sig["timestamp"] + sig["token"]).encode(), hashlib.sha256).hexdigest()
    return body


def _post(client, body):
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def test_signed_mailgun_bounce_suppresses_the_address_and_tells_staff(client, django_capture_on_commit_callbacks):
    outbox_row = Notification.objects.create(
        channel="email", event="invoice_issued", dedupe_key="invoice_issued:x", recipient="ada@example.com",
        status="sent", provider_message_id="<20261206050000.1.ABCDEF0123456789@mg.ezscale.net>",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False):
        response = _post(client, _signed())
    assert response.status_code == 200
    suppression = EmailSuppression.objects.get()
    assert (suppression.address, suppression.reason, suppression.esp) == ("ada@example.com", "bounced", "Mailgun")
    assert "5.1.1" in suppression.detail
    alert = Notification.objects.get(channel="discord")
    assert alert.recipient == "discord:security" and "ada@example.com" in alert.text_body
    outbox_row.refresh_from_db()
    assert "bounced" in outbox_row.error

    # Mailgun redelivers the same event: nothing new.
    with django_capture_on_commit_callbacks(execute=False):
        assert _post(client, _signed()).status_code == 200
    assert EmailSuppression.objects.count() == 1
    assert Notification.objects.filter(channel="discord").count() == 1


def test_forged_signature_is_refused_and_changes_nothing(client):
    response = _post(client, _signed(key="not-the-key"))
    assert response.status_code == 400
    assert not EmailSuppression.objects.exists()


def test_sendgrid_bounce_needs_basic_auth_when_a_webhook_secret_is_set(client, settings):
    settings.ANYMAIL = {"SENDGRID_API_KEY": "SG.x", "WEBHOOK_SECRET": "hook:s3cret"}
    body = (PAYLOADS / "sendgrid_bounce.json").read_text()
    url = "/anymail/sendgrid/tracking/"
    refused = client.post(url, data=body, content_type="application/json")
    assert refused.status_code == 400
    assert not EmailSuppression.objects.exists()
    import base64

    auth = "Basic " + base64.b64encode(b"hook:s3cret").decode()
    accepted = client.post(url, data=body, content_type="application/json", HTTP_AUTHORIZATION=auth)
    assert accepted.status_code == 200
    assert EmailSuppression.objects.get().address == "ada@example.com"
