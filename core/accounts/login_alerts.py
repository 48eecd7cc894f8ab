"""The `new_login` email: a sign-in from a browser and IP address pair not seen before for that user.

Seen before means an earlier login from the same user agent and IP: a remembered session
(LoginSession, forgotten at logout) or an earlier `auth.login` audit entry (kept). The very first
login of an account (right after sign-up) sends nothing. One message per user and device, ever
(the outbox key holds a hash of the pair), so a repeated login from the new device sends nothing more.
"""

from __future__ import annotations

import hashlib

from core import clock


def device_key(user, ip_address: str | None, user_agent: str) -> str:
    digest = hashlib.sha256(f"{ip_address or ''}|{user_agent or ''}".encode()).hexdigest()[:24]
    return f"new_login:{user.pk}:{digest}"


def notify_if_new_device(user, *, session_key: str | None, ip_address: str | None, user_agent: str):
    """Called on login before this login is recorded (session row and audit entry). Returns the outbox row or None."""
    from core.audit.models import AuditLog
    from core.notifications.services import notify

    from .models import LoginSession

    user_agent = (user_agent or "")[:300]
    sessions = LoginSession.objects.filter(user=user).exclude(session_key=session_key or "")
    logins = AuditLog.objects.filter(action="auth.login", object_id=str(user.pk), object_type="accounts.user")
    if not sessions.exists() and not logins.exists():
        return None  # the account's first login
    if sessions.filter(ip_address=ip_address or None, user_agent=user_agent).exists():
        return None
    if logins.filter(ip_address=ip_address or None, user_agent=user_agent[:255]).exists():
        return None
    label = LoginSession(user_agent=user_agent).browser_label
    return notify(
        "new_login",
        to=user.email,
        context={
            "name": user.first_name or user.email,
            "when": f"{clock.now():%Y-%m-%d %H:%M} UTC",
            "ip_address": ip_address or "",
            "user_agent": label or user_agent,
            "location": "",
        },
        key=device_key(user, ip_address, user_agent),
        customer=getattr(user, "customer", None),
    )
