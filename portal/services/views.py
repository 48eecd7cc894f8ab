"""Customer pages for services: list, detail (status, plan, usage, bandwidth, power with
confirmation, panel link) and credentials, which are shown only after the customer re-enters
their password (within REAUTH_MINUTES). Plan changes and cancellation are in plan.py."""

from urllib.parse import parse_qs, urlencode, urlsplit

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core import clock
from core.billing.models import Invoice, Subscription
from core.provisioning.conf import setting
from core.provisioning.drivers import PowerAction
from core.provisioning.errors import ProvisioningError
from core.provisioning.models import Service
from core.provisioning.services import power_service, reset_service_credentials, service_panel_url, service_usage
from portal.access import customer_required, get_own_or_404

from .bandwidth import current_bandwidth
from .controls import controls

REAUTH_SESSION_KEY = "portal_reauth_at"
POWER_CHOICES = [("boot", "Start"), ("shutdown", "Shut down"), ("restart", "Restart")]
RUNNING = (Subscription.Status.ACTIVE, Subscription.Status.TRIALING, Subscription.Status.PAST_DUE)


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
    service = get_own_or_404(
        _services(request).select_related("connection", "subscription__price__product"), request, uuid=uuid
    )
    usage = service_usage(service)
    context = {
        "service": service,
        "usage": usage,
        "power_choices": POWER_CHOICES,
        "can_act": service.status == Service.Status.ACTIVE and not service.pending_action,
        "controls": controls(service, usage),
        "subscription": service.subscription,
        "next_due": _next_due(service),
        "bandwidth": current_bandwidth(service),
        "overdue_invoice": overdue_invoice(service) if service.status == Service.Status.SUSPENDED else None,
        "sso_token": request.GET.get("sso", ""),
    }
    return render(request, "portal/services/detail.html", context)


def _next_due(service: Service):
    subscription = service.subscription
    if subscription is None or subscription.status not in RUNNING:
        return None
    if subscription.cancel_at_period_end:
        return subscription.current_period_end  # the page says it ends then
    # The same next renewal as the subscription page (a period already paid ahead is skipped).
    from core.billing.services.methods import renewal_state

    state = renewal_state(subscription)
    return state.date if state else None


def overdue_invoice(service: Service) -> Invoice | None:
    """The unpaid invoice a suspended service waits for: its subscription's oldest, else the customer's."""
    open_invoices = Invoice.objects.filter(customer_id=service.customer_id, status=Invoice.Status.ISSUED).order_by(
        "due_date", "pk"
    )
    if service.subscription_id:
        found = open_invoices.filter(subscription_id=service.subscription_id).first()
        if found is not None:
            return found
    return open_invoices.first()


@login_required(login_url="portal:login")
@customer_required
@require_POST
def service_power(request, uuid):
    service = get_own_or_404(_services(request).select_related("connection"), request, uuid=uuid)
    signal = request.POST.get("signal", "")
    if signal not in dict(POWER_CHOICES):
        # A form never posts another value: answer the malformed request with a 400, nothing sent.
        return HttpResponseBadRequest("Unknown power action: choose start, shut down or restart.",
                                      content_type="text/plain")  # fmt: skip
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
        url = service_panel_url(service)
    except ProvisioningError as exc:
        messages.error(request, str(exc))
        return redirect("portal:service_detail", uuid=service.uuid)
    if service.connection is not None and service.connection.platform == "sandbox":
        # The sandbox has no panel of its own: its single sign-on lands on a portal page instead of a dead host.
        token = parse_qs(urlsplit(url).query).get("sso", [""])[0]
        return redirect(reverse("portal:service_sandbox_panel", args=[service.uuid]) + "?" + urlencode({"sso": token}))
    return redirect(url)


@login_required(login_url="portal:login")
@customer_required
def service_sandbox_panel(request, uuid):
    """What the demo shows instead of a platform panel: the sandbox server as the panel would."""
    service = get_own_or_404(_services(request).select_related("connection"), request, uuid=uuid)
    if service.connection is None or service.connection.platform != "sandbox":
        raise Http404("Not a sandbox service")
    return render(
        request,
        "portal/services/sandbox_panel.html",
        {"service": service, "usage": service_usage(service), "signed_in": bool(request.GET.get("sso"))},
    )


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
