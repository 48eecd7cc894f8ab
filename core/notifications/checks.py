"""Deploy checks for notification settings (`manage.py check --deploy`)."""

from django.conf import settings
from django.core import checks

_PROVIDER_KEYS = {"mailgun": ("MAILGUN_API_KEY",), "sendgrid": ("SENDGRID_API_KEY",)}


@checks.register(checks.Tags.security, deploy=True)
def check_email_provider(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Production sends real email: a console/locmem backend would silently drop every invoice and receipt."""
    provider = getattr(settings, "EMAIL_PROVIDER", "console")
    messages: list[checks.CheckMessage] = []
    if provider not in _PROVIDER_KEYS:
        messages.append(
            checks.Warning(
                f"EMAIL_PROVIDER is '{provider}': customers will not receive email.",
                hint="Set EMAIL_PROVIDER=mailgun (MAILGUN_API_KEY, MAILGUN_SENDER_DOMAIN) or sendgrid (SENDGRID_API_KEY).",
                id="notifications.W001",
            )
        )
        return messages
    anymail = getattr(settings, "ANYMAIL", {})
    for key in _PROVIDER_KEYS[provider]:
        if not anymail.get(key):
            messages.append(
                checks.Error(f"EMAIL_PROVIDER is '{provider}' but {key} is not set.", id="notifications.E001")
            )
    return messages


@checks.register(checks.Tags.security, deploy=True)
def check_discord_webhook(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    url = getattr(settings, "DISCORD_WEBHOOK_URL", "")
    if url and not url.startswith(("https://discord.com/api/webhooks/", "https://discordapp.com/api/webhooks/")):
        return [
            checks.Warning(
                "DISCORD_WEBHOOK_URL does not look like a Discord webhook URL.",
                hint="Copy it from Server Settings → Integrations → Webhooks (https://discord.com/api/webhooks/…).",
                id="notifications.W002",
            )
        ]
    return []
