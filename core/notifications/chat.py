"""The chat message core hands to the chat client (Discord today), found through settings.CHAT_CLIENT_CLASS.

core never imports integrations: it builds a ChatMessage, and the client in
integrations/discord turns it into the platform's payload.
"""

from dataclasses import dataclass


@dataclass
class ChatMessage:
    title: str
    description: str = ""
    level: str = "info"  # info | success | warning | danger
    fields: list[tuple[str, str]] | None = None
    url: str = ""
