"""Account signal receivers: remember each signed-in browser (the sessions list) and whether it owes a second factor."""

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver


@receiver(user_logged_in, dispatch_uid="accounts.record_login_session")
def record_login_session(sender, request, user, **kwargs):
    from . import services

    if request is None or not hasattr(request, "session"):
        return
    if request.session.session_key is None:
        request.session.save()
    request.session["second_factor_required"] = services.has_two_factor(user)
    from .login_alerts import notify_if_new_device

    notify_if_new_device(
        user,
        session_key=request.session.session_key,
        ip_address=request.META.get("REMOTE_ADDR"),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    services.record_login_session(
        user,
        request.session.session_key,
        ip_address=request.META.get("REMOTE_ADDR"),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )


@receiver(user_logged_out, dispatch_uid="accounts.forget_login_session")
def forget_login_session(sender, request, user, **kwargs):
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        from .models import LoginSession

        LoginSession.objects.filter(session_key=key).delete()
