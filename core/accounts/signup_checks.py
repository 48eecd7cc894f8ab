"""Suspicious self sign-ups: a staff alert (Discord, security channel; catalogue `suspicious_signup`).

A sign-up is suspicious when its email domain is a known disposable-mail domain (a short built-in
list, plus settings.SIGNUP_DISPOSABLE_DOMAINS) or when more than settings.SIGNUP_MAX_PER_IP_PER_HOUR
(default 5) sign-ups came from one IP address in the current hour (a cache counter). Staff-made
and imported accounts are never checked. The alert is sent once per account (after commit).
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

from core import clock

DISPOSABLE_DOMAINS = frozenset({
    "mailinator.com", "guerrillamail.com", "guerrillamail.net", "sharklasers.com", "10minutemail.com",
    "temp-mail.org", "tempmail.com", "yopmail.com", "trashmail.com", "getnada.com", "dispostable.com",
    "maildrop.cc", "throwawaymail.com", "fakeinbox.com", "mailnesia.com", "mohmal.com", "emailondeck.com",
    "tempr.email", "discard.email", "mintemail.com", "spamgourmet.com", "burnermail.io",
})  # fmt: skip
DEFAULT_MAX_PER_IP_PER_HOUR = 5


def is_disposable(email: str) -> bool:
    domain = email.rsplit("@", 1)[-1].strip().lower()
    extra = {d.lower() for d in getattr(settings, "SIGNUP_DISPOSABLE_DOMAINS", ())}
    return any(domain == d or domain.endswith("." + d) for d in DISPOSABLE_DOMAINS | extra)


def count_signup_from(ip_address: str | None) -> int:
    """Count this sign-up against its IP address for the current hour; returns the hour's count (0 without an IP)."""
    if not ip_address:
        return 0
    key = f"signup_ip:{ip_address}:{clock.now():%Y%m%d%H}"
    cache.add(key, 0, timeout=3600)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
        return 1


def suspicious_reasons(email: str, ip_address: str | None) -> list[str]:
    reasons = []
    if is_disposable(email):
        reasons.append(f"disposable email domain ({email.rsplit('@', 1)[-1]})")
    limit = int(getattr(settings, "SIGNUP_MAX_PER_IP_PER_HOUR", DEFAULT_MAX_PER_IP_PER_HOUR))
    count = count_signup_from(ip_address)
    if count > limit:
        reasons.append(f"{count} sign-ups from {ip_address} this hour (limit {limit})")
    return reasons


def alert_if_suspicious(customer, *, email: str, ip_address: str | None) -> list[str]:
    """Check a self sign-up and raise the staff alert when it looks suspicious; returns the reasons."""
    from core.notifications.services import discord_alert

    reasons = suspicious_reasons(email, ip_address)
    if reasons:
        discord_alert(
            "Suspicious sign-up",
            f"**{customer.display_name}** ({email}) signed up: " + "; ".join(reasons) + ".",
            level="warning",
            fields=[("IP address", ip_address or "—"), ("Customer", str(customer.pk))],
            dedupe_key=f"suspicious_signup:{customer.user_id}",
            channel="security",
        )
    return reasons
