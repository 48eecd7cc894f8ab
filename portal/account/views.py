"""The customer's own account: sign up, email confirmation, password reset, profile and billing details,
contacts, two-factor, signed-in sessions and personal API tokens. Views stay thin: every change is a
core.accounts.services call; objects are looked up within the logged-in user's own rows (404 otherwise).
"""

from __future__ import annotations

import datetime as dt
import io

import django_otp
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core import clock
from core.accounts import services
from core.accounts.errors import AccountError
from core.accounts.models import ApiToken, Contact
from portal.access import customer_required, refuse_while_impersonating
from portal.notifications.forms import OutboxPasswordResetForm

from . import forms


def _portal(view):
    return login_required(login_url="portal:login")(customer_required(view))


def _form_error(form, exc: AccountError) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, str(exc))


# --- Sign up and email confirmation -----------------------------------------------------------


def signup(request):
    if request.user.is_authenticated:
        return redirect("portal:home")
    form = forms.SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.sign_up_customer(
                email=data["email"],
                password=data["password"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                currency=data["currency"].code,
                company=data["company"],
                country=data["country"],
                ip_address=request.META.get("REMOTE_ADDR"),
            )
        except AccountError as exc:
            _form_error(form, exc)
        else:
            request.session["portal_signup_email"] = data["email"].strip().lower()
            return redirect("portal:signup_done")
    return render(request, "portal/account/signup.html", {"form": form})


def signup_done(request):
    return render(request, "portal/account/signup_done.html", {"email": request.session.get("portal_signup_email", "")})


def verify_email(request, token):
    try:
        user = services.verify_email(token)
    except AccountError as exc:
        return render(request, "portal/account/verify_failed.html", {"reason": str(exc)}, status=400)
    messages.success(request, f"Thank you: {user.email} is confirmed.")
    return redirect("portal:home" if request.user.is_authenticated else "portal:login")


@_portal
@require_POST
def verify_email_resend(request):
    services.send_verification_email(request.user)
    messages.success(request, f"We sent a new confirmation link to {request.user.email}.")
    return redirect(request.POST.get("next") if _safe(request, request.POST.get("next")) else "portal:home")


def _safe(request, url: str | None) -> bool:
    return bool(url) and url_has_allowed_host_and_scheme(url, {request.get_host()}, require_https=request.is_secure())


# --- Password reset (Django's views in the portal's look) -------------------------------------


class PasswordResetView(auth_views.PasswordResetView):
    form_class = OutboxPasswordResetForm  # the catalogue's password_reset email, through the outbox
    template_name = "portal/account/password_reset.html"
    email_template_name = "portal/account/password_reset_email.txt"
    subject_template_name = "portal/account/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/account/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/account/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/account/password_reset_complete.html"


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "portal/account/password_change.html"
    success_url = reverse_lazy("portal:security")

    def form_valid(self, form):
        response = super().form_valid(form)
        ended = services.end_login_sessions(self.request.user, keep_session_key=self.request.session.session_key)
        messages.success(
            self.request,
            "Your password is changed." + (f" {ended} other session(s) were logged out." if ended else ""),
        )
        return response


# --- Second factor at login --------------------------------------------------------------------


@login_required(login_url="portal:login")
def login_verify(request):
    """The second step for users with an authenticator app or passkey (portal.middleware sends them here)."""
    next_url = request.GET.get("next") or request.POST.get("next") or ""
    next_url = next_url if _safe(request, next_url) else reverse("portal:home")
    if request.user.is_verified():
        return redirect(next_url)
    form = forms.OtpTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = services.verify_second_factor(request.user, form.cleaned_data["otp_token"])
        if device is not None:
            django_otp.login(request, device)
            return redirect(next_url)
        form.add_error("otp_token", "That code is not right (or you tried too often: wait a little and retry).")
    has_passkey = request.user.webauthncredential_set.filter(confirmed=True).exists()
    has_totp = request.user.totpdevice_set.filter(confirmed=True).exists()
    return render(
        request,
        "portal/account/login_verify.html",
        # hide_nav: nothing behind the menu opens before the second factor is given.
        {"form": form, "next": next_url, "has_passkey": has_passkey, "has_totp": has_totp, "hide_nav": True},
    )


# --- Profile, billing details and contacts -----------------------------------------------------


def _currency_locked_reason(customer) -> str:
    if customer.invoices.exists() or customer.subscriptions.exists():
        return "Fixed: you already have invoices in this currency."
    return ""


@_portal
def profile(request):
    customer = request.user.customer
    locked_reason = _currency_locked_reason(customer)
    initial = {name: getattr(customer, name) for name in forms.ProfileForm.base_fields if name != "currency"}
    initial["currency"] = customer.currency_id
    form = forms.ProfileForm(request.POST or None, initial=initial, currency_locked_reason=locked_reason)
    if request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        currency = changes.pop("currency", None)
        if currency is not None and not locked_reason:
            changes["currency"] = currency.code
        try:
            services.update_customer_profile(customer, actor=request.user, **changes)
        except AccountError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Your details are saved.")
            return redirect("portal:profile")
    return render(request, "portal/account/profile.html", {"form": form, "customer": customer})


def _own_contact(request, pk) -> Contact:
    contact = Contact.objects.filter(customer=request.user.customer, pk=pk).select_related("customer__user").first()
    if contact is None:
        raise Http404("Not found")
    return contact


@_portal
def contacts(request):
    customer = request.user.customer
    form = forms.ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.add_contact(customer, actor=request.user, **form.cleaned_data)
        except AccountError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"{form.cleaned_data['name']} is added.")
            return redirect("portal:contacts")
    return render(
        request,
        "portal/account/contacts.html",
        {"form": form, "contacts": customer.contacts.all(), "recipients": services.invoice_recipients(customer)},
    )


@_portal
def contact_edit(request, pk):
    contact = _own_contact(request, pk)
    initial = {"name": contact.name, "email": contact.email, "receives_invoices": contact.receives_invoices}
    form = forms.ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_contact(contact, actor=request.user, **form.cleaned_data)
        except AccountError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "The contact is saved.")
            return redirect("portal:contacts")
    return render(request, "portal/account/contact_edit.html", {"form": form, "contact": contact})


@_portal
@require_POST
def contact_remove(request, pk):
    contact = _own_contact(request, pk)
    services.remove_contact(contact, actor=request.user)
    messages.success(request, f"{contact.name} is removed.")
    return redirect("portal:contacts")


# --- Security: two-factor, passkeys, sessions --------------------------------------------------


@_portal
def security(request):
    user = request.user
    return render(
        request,
        "portal/account/security.html",
        {
            "has_totp": user.totpdevice_set.filter(confirmed=True).exists(),
            "passkeys": user.webauthncredential_set.filter(confirmed=True).order_by("-created_at"),
            "sessions": services.active_login_sessions(user),
            "current_key": request.session.session_key,
            "disable_form": forms.PasswordConfirmForm(),
        },
    )


def _qr_svg(data: str) -> str:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode().split("?>", 1)[-1]


@_portal
@refuse_while_impersonating
def totp_setup(request):
    if request.user.totpdevice_set.filter(confirmed=True).exists():
        messages.info(request, "Your authenticator app is already on.")
        return redirect("portal:security")
    device = services.start_totp_setup(request.user)
    form = forms.OtpTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.confirm_totp_setup(request.user, form.cleaned_data["otp_token"])
        except AccountError as exc:
            _form_error(form, exc)
        else:
            device.refresh_from_db()
            django_otp.login(request, device)
            ended = services.end_login_sessions(request.user, keep_session_key=request.session.session_key)
            messages.success(
                request,
                "Two-factor authentication is on: you will be asked for a code when you log in."
                + (f" {ended} other session(s) were logged out." if ended else ""),
            )
            return redirect("portal:security")
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode()
    return render(
        request,
        "portal/account/totp_setup.html",
        {"form": form, "qr_svg": _qr_svg(device.config_url), "secret": secret},
    )


@_portal
@refuse_while_impersonating
@require_POST
def two_factor_disable(request):
    try:
        services.disable_two_factor(request.user, password=request.POST.get("password", ""))
    except AccountError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Two-factor authentication is off.")
    return redirect("portal:security")


@_portal
@refuse_while_impersonating
@require_POST
def session_end(request, pk):
    if request.user.login_sessions.filter(pk=pk, session_key=request.session.session_key).exists():
        messages.info(request, "That is this browser: use Log out instead.")
        return redirect("portal:security")
    try:
        services.end_login_session(request.user, pk)
    except AccountError as exc:
        raise Http404(str(exc)) from exc
    messages.success(request, "That session is logged out.")
    return redirect("portal:security")


@_portal
@refuse_while_impersonating
@require_POST
def sessions_end_all(request):
    ended = services.end_login_sessions(request.user, keep_session_key=request.session.session_key)
    messages.success(request, f"Logged out of {ended} other session(s)." if ended else "No other sessions were open.")
    return redirect("portal:security")


# --- Personal API tokens -----------------------------------------------------------------------


@_portal
@refuse_while_impersonating
def tokens(request):
    form = forms.ApiTokenForm(request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires_at = clock.now() + dt.timedelta(days=int(days)) if days else None
        try:
            created, secret = services.create_api_token(
                request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=expires_at,
                actor=request.user,
            )
        except AccountError as exc:
            _form_error(form, exc)
        else:
            form = forms.ApiTokenForm()
    response = render(
        request,
        "portal/account/tokens.html",
        {
            "form": form,
            "tokens": ApiToken.objects.filter(user=request.user).order_by("-created_at"),
            "created": created,
            "secret": secret,
            "now": clock.now(),
        },
    )
    response["Cache-Control"] = "no-store"  # the page may carry a token secret
    return response


@_portal
@refuse_while_impersonating
@require_POST
def token_revoke(request, pk):
    token = ApiToken.objects.filter(user=request.user, pk=pk).first()
    if token is None:
        raise Http404("Not found")
    services.revoke_api_token(token, actor=request.user)
    messages.success(request, f"Token {token.name} is revoked: it stops working at once.")
    return redirect("portal:tokens")
