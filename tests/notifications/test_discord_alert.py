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


@respx.mock
def test_alerts_go_to_the_webhook_of_their_channel(settings, django_capture_on_commit_callbacks):
    hooks = {name: f"https://discord.com/api/webhooks/{n}/{name}" for n, name in
             enumerate(["billing", "provisioning", "security"], start=1)}  # fmt: skip
    settings.DISCORD_WEBHOOK_URL = ""
    settings.DISCORD_WEBHOOKS = hooks
    routes = {name: respx.post(url).mock(return_value=httpx.Response(200, json=MESSAGE)) for name, url in hooks.items()}
    with django_capture_on_commit_callbacks(execute=True):
        services.discord_alert("Provisioning failed", "srv1", level="error", dedupe_key="provisioning_failed:1")
        services.discord_alert("Staff account locked out", dedupe_key="lockout:1")
        services.discord_alert("Dispute opened", "INV-1", dedupe_key="dispute:1")
        services.discord_alert("Odd thing", channel="security", dedupe_key="explicit:1")
    assert {name: route.call_count for name, route in routes.items()} == {"billing": 1, "provisioning": 1,
                                                                          "security": 2}  # fmt: skip
    embed = json.loads(routes["provisioning"].calls.last.request.content)["embeds"][0]
    assert embed["color"] == 0xE74C3C


@respx.mock
def test_a_channel_without_its_own_webhook_uses_the_default(settings, django_capture_on_commit_callbacks):
    settings.DISCORD_WEBHOOK_URL = WEBHOOK
    settings.DISCORD_WEBHOOKS = {"billing": "", "provisioning": "", "security": ""}
    route = respx.post(WEBHOOK).mock(return_value=httpx.Response(200, json=MESSAGE))
    with django_capture_on_commit_callbacks(execute=True):
        services.discord_alert("Staff account locked out", dedupe_key="lockout:2")
    assert route.call_count == 1


@respx.mock
def test_rate_limited_alert_waits_retry_after_and_is_sent(settings, django_capture_on_commit_callbacks, monkeypatch):
    settings.DISCORD_WEBHOOK_URL = WEBHOOK
    waits = []
    from integrations.discord.client import DiscordWebhookClient

    monkeypatch.setattr(services, "chat_client", lambda channel="": DiscordWebhookClient(WEBHOOK, sleep=waits.append))
    limited = json.loads((Path(__file__).parent / "payloads" / "discord_429.json").read_text())
    route = respx.post(WEBHOOK).mock(side_effect=[httpx.Response(429, json=limited),
                                                  httpx.Response(200, json=MESSAGE)])  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        row = services.discord_alert("New order #1", dedupe_key="order:1")
    row.refresh_from_db()
    assert row.status == "sent" and route.call_count == 2
    assert waits == [limited["retry_after"]]
