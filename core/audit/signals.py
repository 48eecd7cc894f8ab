"""Audit entries for logins, failed logins and impersonation."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django_q.signals import pre_execute
from hijack.signals import hijack_ended, hijack_started

from core import clock

from . import services
from .middleware import RequestContext


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    services.record("auth.login", user, actor=user, message=f"{user.email} logged in")


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username") or credentials.get("email") or "")[:150]
    services.record("auth.login_failed", message=f"Failed login for {username}", data={"username": username})
    from core.accounts.models import User

    if username and User.objects.filter(email__iexact=username, is_staff=True).exists():
        from core.notifications.services import discord_alert

        discord_alert("Failed staff login", f"A staff login failed for **{username}**.", level="warning")


@receiver(hijack_started)
def _hijack_started(sender, hijacker, hijacked, request, **kwargs):
    info = getattr(request, "impersonation", None) or {}
    reason = info.get("reason", "")
    entry = services.record(
        "auth.impersonation_started",
        hijacked,
        actor=hijacker,
        message=f"{hijacker} impersonates {hijacked}" + (f": {reason}" if reason else ""),
        data={"reason": reason},
    )
    info["audit_id"] = entry.pk


@receiver(hijack_ended)
def _hijack_ended(sender, hijacker, hijacked, request, **kwargs):
    info = getattr(request, "impersonation", None) or {}
    data = {"reason": info.get("reason", ""), "started_audit_id": info.get("audit_id")}
    started = info.get("started_at")
    if started:
        import datetime as dt

        data["seconds"] = int((clock.now() - dt.datetime.fromisoformat(started)).total_seconds())
    services.record(
        "auth.impersonation_ended", hijacked, actor=hijacker, message=f"{hijacker} stopped impersonating", data=data
    )


@receiver(user_locked_out)
def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    """axes locked an account out: audit it, and alert staff on Discord when it is a staff account."""
    username = str(username or "")[:150]
    services.record(
        "auth.locked_out", message=f"Login locked out for {username} from {ip_address}",
        data={"username": username, "ip_address": ip_address},
    )  # fmt: skip
    from core.accounts.models import User

    if username and User.objects.filter(email__iexact=username, is_staff=True).exists():
        from core.notifications.services import discord_alert

        discord_alert(
            "Staff account locked out",
            f"Too many failed logins for **{username}** from {ip_address or 'an unknown address'}; "
            "the account is locked until the cool-off ends or staff reset it (`manage.py axes_reset_username`).",
            level="error",
            dedupe_key=f"lockout:{username}:{ip_address}:{clock.now():%Y%m%d%H}",
        )


@receiver(pre_execute)
def _in_task_worker(sender, func=None, task=None, **kwargs):
    """Entries written by django-q2 workers say source "task". A worker process runs nothing but
    tasks, so the context stays set; tasks run inline (sync, tests) keep their caller's context."""
    from .middleware import _context, current

    if (task or {}).get("sync") or current() is not None:
        return
    _context.set(RequestContext(user_id=None, impersonator_id=None, ip_address=None, user_agent="", source="task"))
