"""Customer pages for services: list, detail (status, usage, power, panel link) and credentials,
which are shown only after the customer re-enters their password (within REAUTH_MINUTES)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core import clock
from core.provisioning.conf import setting
from core.provisioning.drivers import PowerAction
from core.provisioning.errors import ProvisioningError
from core.provisioning.models import Service
from core.provisioning.services import power_service, reset_service_credentials, service_panel_url, service_usage
from portal.access import customer_required, get_own_or_404

REAUTH_SESSION_KEY = "portal_reauth_at"
POWER_CHOICES = [("boot", "Start"), ("shutdown", "Shut down"), ("restart", "Restart")]


def _services(request):
    return Service.objects.select_related("product").filter(customer=request.user.customer)


def _recently_reauthenticated(request) -> bool:
    stamp = request.session.get(REAUTH_SESSION_KEY)
    if stamp is None:
        return False
    return clock.now().timestamp() - float(stamp) <= setting("REAUTH_MINUTES") * 60


class ReauthForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return password


@login_required(login_url="portal:login")
@customer_required
def service_list(request):
    services = _services(request).exclude(status=Service.Status.TERMINATED).order_by("-created_at")
    terminated = _services(request).filter(status=Service.Status.TERMINATED).order_by("-terminated_at")[:20]
    return render(request, "portal/services/list.html", {"services": services, "terminated": terminated})


@login_required(login_url="portal:login")
@customer_required
def service_detail(request, uuid):
    service = get_own_or_404(_services(request).select_related("connection"), request, uuid=uuid)
    context = {
        "service": service,
        "usage": service_usage(service),
        "power_choices": POWER_CHOICES,
        "can_act": service.status == Service.Status.ACTIVE and not service.pending_action,
    }
    return render(request, "portal/services/detail.html", context)


@login_required(login_url="portal:login")
@customer_required
@require_POST
def service_power(request, uuid):
    service = get_own_or_404(_services(request).select_related("connection"), request, uuid=uuid)
    signal = request.POST.get("signal", "")
    if signal not in dict(POWER_CHOICES):
        messages.error(request, "Choose start, shut down or restart.")
    else:
        try:
            power_service(service, PowerAction(signal), actor=request.user)
            messages.success(request, f"{dict(POWER_CHOICES)[signal]} sent to {service}.")
        except ProvisioningError as exc:
            messages.error(request, str(exc))
    return redirect("portal:service_detail", uuid=service.uuid)


@login_required(login_url="portal:login")
@customer_required
@require_POST
def service_panel(request, uuid):
    # A POST, so a single sign-on link is made only when the customer asks for it.
    service = get_own_or_404(_services(request).select_related("connection"), request, uuid=uuid)
    try:
        return redirect(service_panel_url(service))
    except ProvisioningError as exc:
        messages.error(request, str(exc))
        return redirect("portal:service_detail", uuid=service.uuid)


@login_required(login_url="portal:login")
@customer_required
def service_credentials(request, uuid):
    service = get_own_or_404(_services(request), request, uuid=uuid)
    form = ReauthForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        request.session[REAUTH_SESSION_KEY] = clock.now().timestamp()
        return redirect("portal:service_credentials", uuid=service.uuid)
    revealed = _recently_reauthenticated(request)
    context = {
        "service": service,
        "form": form,
        "revealed": revealed,
        "credentials": (service.credentials or {}) if revealed else None,
        "minutes": setting("REAUTH_MINUTES"),
    }
    response = render(request, "portal/services/credentials.html", context)
    response["Cache-Control"] = "no-store"
    return response


@login_required(login_url="portal:login")
@customer_required
@require_POST
def service_credentials_reset(request, uuid):
    service = get_own_or_404(_services(request).select_related("connection"), request, uuid=uuid)
    if not _recently_reauthenticated(request):
        messages.error(request, "Please confirm your password first.")
        return redirect("portal:service_credentials", uuid=service.uuid)
    try:
        reset_service_credentials(service, actor=request.user)
        messages.success(request, "A new password was set. It is shown below.")
    except ProvisioningError as exc:
        messages.error(request, str(exc))
    return redirect("portal:service_credentials", uuid=service.uuid)
