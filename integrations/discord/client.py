"""Discord webhook client: embeds within Discord's limits, 429 handled from its headers and body.

Facts (shared/reference/services.md §5): content ≤2000 chars, ≤10 embeds, title 256,
description 4096, 25 fields (name 256, value 1024), 6000 chars across embeds; 429 bodies
carry `retry_after` in seconds; post to discord.com, never the legacy discordapp.com host.
"""

import logging
import time
from dataclasses import dataclass

import httpx

from core.notifications.chat import ChatMessage

log = logging.getLogger(__name__)

# Colour by severity. Callers say "danger" or "error" (and "critical") for the same red.
COLOURS = {
    "info": 0x3498DB,
    "success": 0x2ECC71,
    "warning": 0xF1C40F,
    "danger": 0xE74C3C,
    "error": 0xE74C3C,
    "critical": 0x992D22,
}
MAX_WAIT_SECONDS = 30.0
MAX_FIELDS = 25
MAX_TOTAL_CHARS = 6000


class DiscordError(Exception):
    pass


class DiscordRateLimited(DiscordError):
    def __init__(self, retry_after: float):
        super().__init__(f"Discord rate limited; retry after {retry_after:.1f}s")
        self.retry_after = retry_after


@dataclass
class DiscordMessage(ChatMessage):
    """core's ChatMessage with Discord's payload rules."""

    @classmethod
    def from_message(cls, message: ChatMessage) -> "DiscordMessage":
        if isinstance(message, cls):
            return message
        return cls(
            title=message.title, description=message.description, level=message.level,
            fields=message.fields, url=message.url,
        )  # fmt: skip

    def payload(self) -> dict:
        embed: dict = {
            "title": self.title[:256],
            "description": self.description[:4096],
            "color": COLOURS.get(self.level, COLOURS["info"]),
        }
        if self.url:
            embed["url"] = self.url
        if self.fields:
            embed["fields"] = [
                {"name": str(name)[:256] or "—", "value": str(value)[:1024] or "—", "inline": True}
                for name, value in self.fields[:MAX_FIELDS]
            ]
        _fit_total(embed)
        # Customer-supplied text must never ping @everyone or roles.
        return {"embeds": [embed], "allowed_mentions": {"parse": []}}


def _embed_chars(embed: dict) -> int:
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    )


def _fit_total(embed: dict) -> None:
    """Discord refuses (400, code 50035) a message whose embeds exceed 6000 characters in all.

    Shorten the description first (the fields carry the structured facts), then drop
    trailing fields, so an alert is always delivered rather than rejected.
    """
    excess = _embed_chars(embed) - MAX_TOTAL_CHARS
    if excess > 0 and embed.get("description"):
        keep = max(len(embed["description"]) - excess - 1, 0)
        embed["description"] = embed["description"][:keep] + "…"
    while _embed_chars(embed) > MAX_TOTAL_CHARS and embed.get("fields"):
        embed["fields"].pop()


def normalise_url(url: str) -> str:
    return url.replace("://discordapp.com/", "://discord.com/")


class DiscordWebhookClient:
    def __init__(self, url: str, *, timeout: float = 10.0, max_attempts: int = 4, sleep=time.sleep, transport=None):
        self.url = normalise_url(url)
        self.max_attempts = max_attempts
        self.sleep = sleep
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def send(self, message: ChatMessage) -> str | None:
        """Post one message; returns Discord's message id. Waits out 429s up to MAX_WAIT_SECONDS each."""
        payload = DiscordMessage.from_message(message).payload()
        last_wait = 0.0
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._client.post(self.url, params={"wait": "true"}, json=payload)
            except httpx.TransportError as exc:
                if attempt == self.max_attempts:
                    raise DiscordError(f"Discord unreachable: {exc.__class__.__name__}") from exc
                self.sleep(min(2**attempt, MAX_WAIT_SECONDS))
                continue
            if response.status_code == 429:
                last_wait = _retry_after(response)
                if last_wait > MAX_WAIT_SECONDS or attempt == self.max_attempts:
                    raise DiscordRateLimited(last_wait)
                log.info("Discord rate limited the webhook; waiting %.2fs (attempt %d)", last_wait, attempt)
                self.sleep(last_wait)
                continue
            if response.status_code >= 500 and attempt < self.max_attempts:
                self.sleep(min(2**attempt, MAX_WAIT_SECONDS))
                continue
            if response.status_code >= 400:
                raise DiscordError(f"Discord answered {response.status_code}: {response.text[:300]}")
            if response.status_code == 204 or not response.content:
                return None
            return str(response.json().get("id", "")) or None
        raise DiscordRateLimited(last_wait)


def _retry_after(response: httpx.Response) -> float:
    try:
        body = response.json()
    except ValueError:
        body = {}
    value = (
        body.get("retry_after")
        or response.headers.get("Retry-After")
        or response.headers.get("X-RateLimit-Reset-After")
    )
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return 1.0
