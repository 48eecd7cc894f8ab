"""Staff alerts: queued after commit, sent once, nothing at all without a webhook."""

import json
from pathlib import Path

import httpx
import pytest
import respx

from core.notifications import services
from core.notifications.models import Notification

pytestmark = pytest.mark.django_db

WEBHOOK = "https://discord.com/api/webhooks/1187400012345678901/secretToken"
MESSAGE = json.loads((Path(__file__).parent / "payloads" / "discord_message.json").read_text())


def test_no_webhook_configured_means_no_alert(settings):
    settings.DISCORD_WEBHOOK_URL = ""
    assert services.discord_alert("Order placed") is None
    assert not Notification.objects.exists()


@respx.mock
def test_alert_is_posted_once_per_dedupe_key(settings, django_capture_on_commit_callbacks):
    settings.DISCORD_WEBHOOK_URL = WEBHOOK
    route = respx.post(WEBHOOK).mock(return_value=httpx.Response(200, json=MESSAGE))
    with django_capture_on_commit_callbacks(execute=True):
        first = services.discord_alert(
            "High-value order", "Order 42", level="warning", fields=[("Total", "USD 900.00")], dedupe_key="order:42"
        )
        again = services.discord_alert("High-value order", "Order 42", dedupe_key="order:42")
    assert again is None
    assert route.call_count == 1
    embed = json.loads(route.calls.last.request.content)["embeds"][0]
    assert embed["title"] == "High-value order"
    assert embed["fields"] == [{"name": "Total", "value": "USD 900.00", "inline": True}]
    first.refresh_from_db()
    assert (first.status, first.provider_message_id) == ("sent", "1187425962134917130")


@respx.mock
def test_failed_alert_is_retried_and_marked_failed_after_the_last_attempt(settings, django_capture_on_commit_callbacks):
    settings.DISCORD_WEBHOOK_URL = WEBHOOK
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "MAX_ATTEMPTS": 2}
    respx.post(WEBHOOK).mock(return_value=httpx.Response(404, json={"message": "Unknown Webhook", "code": 10015}))
    with django_capture_on_commit_callbacks(execute=False):
        notification = services.discord_alert("Provisioning failed", dedupe_key="svc:1")
    assert services.deliver(notification.pk) == "retrying"
    assert services.deliver(notification.pk) == "failed"
    notification.refresh_from_db()
    assert notification.status == "failed" and "Unknown Webhook" in notification.error
    assert notification.attempts == 2
