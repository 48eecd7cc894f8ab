"""Django's password reset, sent through the notification outbox (catalogue event `password_reset`).

Use it as the reset view's `form_class` (portal and the admin's "Send password reset" action), so the
reset mail is a catalogue template staff can edit, logged in the outbox and retried like every other.
"""

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.urls import reverse

from core.notifications.services import notify

RESET_LINK_HOURS = settings.PASSWORD_RESET_TIMEOUT // 3600


class OutboxPasswordResetForm(PasswordResetForm):
    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email,
                  html_email_template_name=None):  # fmt: skip
        user = context["user"]
        path = reverse("portal:password_reset_confirm", kwargs={"uidb64": context["uid"], "token": context["token"]})
        notify(
            "password_reset", to=to_email, customer=getattr(user, "customer", None),
            key=f"password_reset:{context['uid']}:{context['token']}",
            context={"name": user.first_name or user.email, "reset_url": settings.SITE_URL.rstrip("/") + path,
                     "expires_hours": RESET_LINK_HOURS},
        )  # fmt: skip
