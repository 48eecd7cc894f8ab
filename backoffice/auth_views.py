"""Staff sign-in: two-factor's wizards rendered in Unfold's layout, plus passkeys.

two-factor's login wizard knows TOTP and backup codes but not passkeys
(django-otp-webauthn): a staff member whose device is a passkey passes the password
step unverified, and `BackofficeLoginView.done` sends them to `PasskeyVerifyView`.
"""

from django.contrib import admin
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.generic import TemplateView
from django_otp import devices_for_user
from django_otp_webauthn.models import WebAuthnCredential
from two_factor.forms import AuthenticationTokenForm, BackupTokenForm
from two_factor.views import (
    BackupTokensView,
    DisableView,
    LoginView,
    ProfileView,
    SetupCompleteView,
    SetupView,
)
from unfold.widgets import BASE_INPUT_CLASSES, CHECKBOX_CLASSES, RADIO_CLASSES

from core.accounts.forms import BoundedAuthenticationForm


def style_form(form):
    """Give a plain Django form Unfold's input classes (two-factor's forms are unstyled)."""
    if form is None:
        return form
    for field in form.fields.values():
        widget = field.widget
        kind = getattr(widget, "input_type", None)
        classes = {"checkbox": CHECKBOX_CLASSES, "radio": RADIO_CLASSES}.get(kind, BASE_INPUT_CLASSES)
        widget.attrs["class"] = " ".join(classes)
    return form


def safe_next(request, default: str = "admin:index") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return resolve_url(default)


def has_passkey(user) -> bool:
    return WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()


class UnfoldAuthPageMixin:
    """The admin site's context (branding, colours) and Unfold-styled forms on auth pages."""

    page_title = ""

    def get_form(self, *args, **kwargs):
        return style_form(super().get_form(*args, **kwargs))

    def get_context_data(self, *args, **kwargs):
        context = super().get_context_data(*args, **kwargs)
        context.update(admin.site.each_context(self.request))
        context.setdefault("page_title", self.page_title)
        context.setdefault("title", self.page_title)
        return context


class BackofficeLoginView(UnfoldAuthPageMixin, LoginView):
    """two-factor's login wizard (password, then TOTP or backup code); passkey users go to PasskeyVerifyView."""

    template_name = "backoffice/auth/login.html"
    page_title = "Sign in"
    # The password step refuses over-long input before authenticate() (and axes) sees it.
    form_list = (
        (LoginView.AUTH_STEP, BoundedAuthenticationForm),
        (LoginView.TOKEN_STEP, AuthenticationTokenForm),
        (LoginView.BACKUP_STEP, BackupTokenForm),
    )

    def render(self, form=None, **kwargs):
        response = super().render(form, **kwargs)
        if getattr(form, "malformed", False):
            response.status_code = 400
        return response

    def get_prefix(self, request, *args, **kwargs):
        # formtools derives the POST prefix from the class name; keep two-factor's own.
        return "login_view"

    def get_context_data(self, form, **kwargs):
        return super().get_context_data(form, **kwargs)

    def done(self, form_list, **kwargs):
        response = super().done(form_list, **kwargs)
        user = self.get_user()
        # The OTP middleware ran before login(); a verified wizard leaves the device on the user.
        if user is not None and getattr(user, "otp_device", None) is None:
            if has_passkey(user):
                query = urlencode({"next": self.get_success_url()})
                return redirect(f"{reverse('backoffice_passkey_verify')}?{query}")
            if user.is_staff and not any(devices_for_user(user)):
                # Staff must enrol a second factor before the admin opens.
                self.request.session["next"] = self.get_success_url()
                return redirect("two_factor:setup")
        return response


class BackofficeSetupView(UnfoldAuthPageMixin, SetupView):
    template_name = "backoffice/auth/setup.html"
    page_title = "Set up two-factor authentication"

    def get_context_data(self, form, **kwargs):
        return super().get_context_data(form, **kwargs)


class BackofficeSetupCompleteView(UnfoldAuthPageMixin, SetupCompleteView):
    template_name = "backoffice/auth/setup_complete.html"
    page_title = "Two-factor authentication enabled"


class BackofficeBackupTokensView(UnfoldAuthPageMixin, BackupTokensView):
    template_name = "backoffice/auth/backup_tokens.html"
    page_title = "Backup codes"


class BackofficeProfileView(UnfoldAuthPageMixin, ProfileView):
    template_name = "backoffice/auth/profile.html"
    page_title = "Account security"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["passkeys"] = WebAuthnCredential.objects.filter(user=self.request.user).order_by("-created_at")
        return context


class BackofficeDisableView(UnfoldAuthPageMixin, DisableView):
    template_name = "backoffice/auth/disable.html"
    page_title = "Disable two-factor authentication"


class PasskeyRegisterView(LoginRequiredMixin, UnfoldAuthPageMixin, TemplateView):
    """Add a passkey. Only a verified session may enrol one (or a first device, when there is none),
    so a stolen password can never be turned into a new second factor."""

    template_name = "backoffice/auth/passkey_register.html"
    page_title = "Register a passkey"

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and not user.is_verified() and any(devices_for_user(user)):
            raise PermissionDenied("Verify with your current second factor before adding a passkey.")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["passkeys"] = WebAuthnCredential.objects.filter(user=self.request.user).order_by("-created_at")
        return context


class PasskeyVerifyView(LoginRequiredMixin, UnfoldAuthPageMixin, TemplateView):
    """The second step for staff whose device is a passkey (after the password step)."""

    template_name = "backoffice/auth/passkey_verify.html"
    page_title = "Verify with your passkey"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and request.user.is_verified():
            return redirect(safe_next(request))
        return super().dispatch(request, *args, **kwargs)

    def get_login_url(self):
        return reverse("two_factor:login")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["next"] = safe_next(self.request)
        context["has_passkey"] = has_passkey(self.request.user)
        return context
