"""Staff alerts about one service (Discord), with the fields every provisioning alert carries."""

from __future__ import annotations

from core.notifications.services import discord_alert
from core.provisioning.models import Service


def alert_staff(title: str, service: Service, description: str, *, level: str = "warning", key: str | None = None):
    discord_alert(
        title,
        description[:1500],
        level=level,
        fields=[("Service", f"#{service.pk} {service}"), ("Customer", str(service.customer_id))],
        dedupe_key=key,
    )
