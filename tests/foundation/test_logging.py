"""Secrets never reach a log line."""

import io
import logging

import httpx
import pytest

from core.logging import RedactSecretsFilter, redact


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("GET /v1 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("calling with api_key=4f9c2e7a11 and page=2", "4f9c2e7a11"),
        ('{"password": "hunter2-long", "user": "bob"}', "hunter2-long"),
        ("stripe key sk_live_51HqLyjWDarjtT1zdp7dc", "sk_live_51HqLyjWDarjtT1zdp7dc"),
        ("ptero key ptla_9dVgmBf1P0k2XYZ", "ptla_9dVgmBf1P0k2XYZ"),
        ("POST https://discord.com/api/webhooks/1187/AbCdEf-123_xyz?wait=true", "AbCdEf-123_xyz"),
        ("token=ezs_Qm9vZm9vQm9vZm9vQm9vZm9vQm9v", "ezs_Qm9vZm9vQm9vZm9vQm9vZm9vQm9v"),
    ],
)
def test_redact_removes_secret_and_keeps_context(line, secret):
    cleaned = redact(line)
    assert secret not in cleaned
    assert "[REDACTED]" in cleaned


def test_redact_leaves_ordinary_text_alone():
    line = "Invoice INV-2026-000042 issued to customer 17 for USD 120.00"
    assert redact(line) == line


def test_filter_rewrites_formatted_arguments_before_a_handler_writes_them():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("platform said %s", {"api_key": "plain-secret-value", "status": 401})
    finally:
        logger.removeHandler(handler)
    assert "plain-secret-value" not in stream.getvalue()
    assert "401" in stream.getvalue()


def test_httpx_request_log_does_not_show_a_discord_webhook_token(caplog):
    """httpx logs each request URL at INFO; the logger-level filter (settings.LOGGING) redacts it."""
    caplog.set_level(logging.INFO, logger="httpx")
    transport = httpx.MockTransport(lambda request: httpx.Response(204))
    with httpx.Client(transport=transport) as client:
        client.post("https://discord.com/api/webhooks/1187/SuperSecretToken-abc")
    assert "HTTP Request" in caplog.text
    assert "SuperSecretToken-abc" not in caplog.text
