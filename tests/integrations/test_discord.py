"""Discord webhook client: payload within Discord's limits, no pings, 429 honoured, URL kept secret."""

import json
import logging
from pathlib import Path

import httpx
import pytest
import respx

from integrations.discord.client import (
    DiscordError,
    DiscordMessage,
    DiscordRateLimited,
    DiscordWebhookClient,
    normalise_url,
)

PAYLOADS = Path(__file__).resolve().parents[1] / "notifications" / "payloads"
WEBHOOK = "https://discord.com/api/webhooks/1187400012345678901/Zq7-secretToken_ABCdef123"
TOKEN = "Zq7-secretToken_ABCdef123"


def _payload(name):
    return json.loads((PAYLOADS / name).read_text())


def _client(**kwargs):
    sleeps = []
    client = DiscordWebhookClient(kwargs.pop("url", WEBHOOK), sleep=sleeps.append, **kwargs)
    return client, sleeps


def _embed_chars(embed):
    return (
        len(embed["title"])
        + len(embed["description"])
        + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    )


def test_payload_never_pings_anyone():
    payload = DiscordMessage(title="@everyone look", description="<@&123> and @here").payload()
    assert payload["allowed_mentions"] == {"parse": []}


def test_payload_respects_discord_field_limits():
    message = DiscordMessage(
        title="T" * 300,
        description="D" * 5000,
        fields=[(f"name-{i}" + "n" * 300, "v" * 2000) for i in range(40)],
        level="danger",
    )
    (embed,) = message.payload()["embeds"]
    assert len(embed["title"]) <= 256
    assert len(embed["description"]) <= 4096
    assert len(embed["fields"]) <= 25
    assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in embed["fields"])
    assert _embed_chars(embed) <= 6000
    assert embed["color"] == 0xE74C3C


def test_total_limit_shortens_description_before_dropping_fields():
    message = DiscordMessage(title="Order", description="x" * 4000, fields=[("Amount", "9" * 1000)] * 2)
    (embed,) = message.payload()["embeds"]
    assert _embed_chars(embed) == 6000
    assert len(embed["fields"]) == 2
    assert embed["description"].endswith("…")


def test_fields_are_dropped_when_shortening_the_description_is_not_enough():
    message = DiscordMessage(title="Usage", description="short", fields=[("n" * 256, "v" * 1024)] * 10)
    (embed,) = message.payload()["embeds"]
    assert _embed_chars(embed) <= 6000
    assert 0 < len(embed["fields"]) < 10


def test_small_message_is_sent_unchanged():
    (embed,) = DiscordMessage(title="Signup", description="Ada signed up", fields=[("Country", "GB")]).payload()[
        "embeds"
    ]
    assert embed["description"] == "Ada signed up"
    assert embed["fields"] == [{"name": "Country", "value": "GB", "inline": True}]


@respx.mock
def test_send_posts_with_wait_and_returns_message_id():
    route = respx.post(WEBHOOK).mock(return_value=httpx.Response(200, json=_payload("discord_message.json")))
    client, _ = _client()
    assert client.send(DiscordMessage(title="Failed staff login")) == "1187425962134917130"
    request = route.calls.last.request
    assert request.url.params["wait"] == "true"
    assert json.loads(request.content)["embeds"][0]["title"] == "Failed staff login"


@respx.mock
def test_429_waits_retry_after_then_succeeds():
    route = respx.post(WEBHOOK).mock(
        side_effect=[
            httpx.Response(
                429,
                json=_payload("discord_429.json"),
                headers={"Retry-After": "2", "X-RateLimit-Scope": "user", "X-RateLimit-Reset-After": "1.5"},
            ),
            httpx.Response(200, json=_payload("discord_message.json")),
        ]
    )
    client, sleeps = _client()
    assert client.send(DiscordMessage(title="x")) == "1187425962134917130"
    assert route.call_count == 2
    assert sleeps == [1.5]  # the body's precise retry_after, not the rounded header


@respx.mock
def test_429_with_only_a_header_uses_the_header():
    respx.post(WEBHOOK).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}, text="rate limited"),
            httpx.Response(204),
        ]
    )
    client, sleeps = _client()
    assert client.send(DiscordMessage(title="x")) is None
    assert sleeps == [3.0]


@respx.mock
def test_long_rate_limit_raises_for_the_queue_to_retry_later():
    respx.post(WEBHOOK).mock(
        return_value=httpx.Response(429, json={"message": "You are being rate limited.", "retry_after": 120.0})
    )
    client, sleeps = _client()
    with pytest.raises(DiscordRateLimited) as exc:
        client.send(DiscordMessage(title="x"))
    assert exc.value.retry_after == 120.0
    assert sleeps == []


@respx.mock
def test_client_error_raises_with_discords_message_and_without_the_url():
    respx.post(WEBHOOK).mock(return_value=httpx.Response(400, json=_payload("discord_400_invalid_form_body.json")))
    client, _ = _client()
    with pytest.raises(DiscordError) as exc:
        client.send(DiscordMessage(title="x"))
    assert "Invalid Form Body" in str(exc.value)
    assert TOKEN not in str(exc.value)


@respx.mock
def test_server_errors_are_retried():
    route = respx.post(WEBHOOK).mock(
        side_effect=[
            httpx.Response(502, text="Bad Gateway"),
            httpx.Response(200, json=_payload("discord_message.json")),
        ]
    )
    client, sleeps = _client()
    assert client.send(DiscordMessage(title="x")) == "1187425962134917130"
    assert route.call_count == 2 and len(sleeps) == 1


def test_legacy_discordapp_host_is_rewritten():
    legacy = "https://discordapp.com/api/webhooks/1/abc"
    assert normalise_url(legacy) == "https://discord.com/api/webhooks/1/abc"
    assert DiscordWebhookClient(legacy).url == "https://discord.com/api/webhooks/1/abc"


@respx.mock
def test_legacy_url_posts_to_discord_com():
    route = respx.post("https://discord.com/api/webhooks/1/abc").mock(return_value=httpx.Response(204))
    client, _ = _client(url="https://discordapp.com/api/webhooks/1/abc")
    client.send(DiscordMessage(title="x"))
    assert route.called


@respx.mock
def test_webhook_url_is_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    respx.post(WEBHOOK).mock(
        side_effect=[
            httpx.Response(429, json=_payload("discord_429.json")),
            httpx.Response(404, json=_payload("discord_404_unknown_webhook.json")),
        ]
    )
    client, _ = _client()
    with pytest.raises(DiscordError):
        client.send(DiscordMessage(title="x"))
    assert any(r.name == "httpx" for r in caplog.records)  # httpx did log the requests …
    assert any("rate limited" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text  # … without the token


@pytest.mark.parametrize(
    ("level", "colour"),
    [("info", 0x3498DB), ("success", 0x2ECC71), ("warning", 0xF1C40F), ("danger", 0xE74C3C),
     ("error", 0xE74C3C), ("critical", 0x992D22), ("unknown", 0x3498DB)],
)  # fmt: skip
def test_embed_colour_follows_severity(level, colour):
    (embed,) = DiscordMessage(title="t", level=level).payload()["embeds"]
    assert embed["color"] == colour
