"""Changing plan and cancelling from the service page.

The customer sees the exact prorated lines of core.billing.services.proration.preview_change_plan
and confirms that same preview: the moment it was computed for travels signed with the form, so
the confirmed invoice or credit equals what was shown (a preview older than PREVIEW_MAX_AGE is
shown again instead).
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core import clock
from core.billing.errors import BillingError
from core.billing.models import Invoice
from core.billing.services.proration import change_plan, preview_change_plan
from core.billing.services.subscriptions import CANCEL_REASONS, cancel_subscription, resume_subscription
from core.provisioning.errors import ProvisioningError
from core.provisioning.models import Service
from portal.access import customer_required, get_own_or_404, refuse_while_impersonating

from .controls import _cancel_control, _change_plan_control, plan_choices

PREVIEW_MAX_AGE = 15 * 60  # seconds a shown preview may be confirmed as is
PREVIEW_SALT = "portal.change_plan"


def _portal(view):
    return login_required(login_url="portal:login")(customer_required(view))


def _own_service(request, uuid) -> Service:
    return get_own_or_404(
        Service.objects.select_related("product", "subscription__price__product", "subscription__customer"),
        request,
        uuid=uuid,
    )


def _preview_token(subscription, price, at: dt.datetime) -> str:
    return signing.dumps({"s": subscription.pk, "p": price.pk, "at": at.isoformat()}, salt=PREVIEW_SALT)


def _preview_moment(token: str, subscription, price) -> dt.datetime | None:
    try:
        data = signing.loads(token, salt=PREVIEW_SALT)
    except signing.BadSignature:
        return None
    if data.get("s") != subscription.pk or data.get("p") != price.pk:
        return None
    at = dt.datetime.fromisoformat(data["at"])
    age = (clock.now() - at).total_seconds()  # the project's clock, so tests can move it
    return at if 0 <= age <= PREVIEW_MAX_AGE else None


@_portal
@refuse_while_impersonating
def service_change_plan(request, uuid):
    """Choose a plan, see the prorated lines, confirm. GET ?price=<id> shows the preview."""
    service = _own_service(request, uuid)
    control = _change_plan_control(service)
    if not control.enabled:
        messages.error(request, control.reason)
        return redirect("portal:service_detail", uuid=service.uuid)
    subscription = service.subscription
    choices = list(plan_choices(subscription))
    data = request.POST if request.method == "POST" else request.GET
    price = next((p for p in choices if str(p.pk) == str(data.get("price", ""))), None)
    if data.get("price") and price is None:
        raise Http404("Not a plan you can move to")
    if request.method == "POST" and price is not None:
        at = _preview_moment(request.POST.get("preview", ""), subscription, price)
        if at is None:
            messages.info(request, "Prices moved on since that preview; here is the current one. Confirm again.")
        else:
            return _confirm(request, service, price, at)
    preview = None
    if price is not None:
        try:
            preview = preview_change_plan(subscription, price)
        except BillingError as exc:
            messages.error(request, str(exc))
    context = {
        "service": service,
        "subscription": subscription,
        "choices": choices,
        "price": price,
        "preview": preview,
        "token": _preview_token(subscription, price, preview.at) if preview else "",
    }
    return render(request, "portal/services/change_plan.html", context)


def _confirm(request, service: Service, price, at: dt.datetime):
    try:
        result = change_plan(service.subscription, price, actor=request.user, at=at)
    except (BillingError, ProvisioningError) as exc:
        messages.error(request, str(exc))
        return redirect("portal:service_change_plan", uuid=service.uuid)
    invoice = result.invoice
    if invoice is not None and invoice.status == Invoice.Status.ISSUED and invoice.amount_due > 0:
        messages.success(
            request,
            f"{service} moves to {price.product.name}. Pay invoice {invoice.number} for the rest of the period.",
        )
        return redirect("portal:invoice_pay", uuid=invoice.uuid)
    if result.credit:
        messages.success(
            request,
            f"{service} moves to {price.product.name}; {price.currency_id} {result.credit} was added to your credit.",
        )
    else:
        messages.success(request, f"{service} moves to {price.product.name}.")
    return redirect("portal:service_detail", uuid=service.uuid)


@_portal
@refuse_while_impersonating
def service_cancel(request, uuid):
    """Cancel at the end of the paid period, with the survey (reason + comment)."""
    service = _own_service(request, uuid)
    control = _cancel_control(service)
    if not control.enabled:
        messages.error(request, control.reason)
        return redirect("portal:service_detail", uuid=service.uuid)
    error = ""
    if request.method == "POST":
        reason = request.POST.get("reason", "")
        comment = request.POST.get("comment", "").strip()[:2000]
        if not reason:
            error = "Tell us why you are leaving (choose a reason)."
        else:
            try:
                sub = cancel_subscription(service.subscription, reason=reason, comment=comment, actor=request.user)
            except BillingError as exc:
                error = str(exc)
            else:
                messages.success(
                    request,
                    f"{service} will be cancelled on {sub.current_period_end:%Y-%m-%d}, at the end of the period you paid "
                    "for. You can undo this until then.",
                )
                return redirect("portal:service_detail", uuid=service.uuid)
    return render(
        request,
        "portal/services/cancel.html",
        {"service": service, "subscription": service.subscription, "reasons": CANCEL_REASONS, "error": error,
         "values": request.POST},
        status=400 if error else 200,
    )  # fmt: skip


@_portal
@refuse_while_impersonating
@require_POST
def service_cancel_undo(request, uuid):
    service = _own_service(request, uuid)
    if service.subscription is None:
        raise Http404("No subscription")
    try:
        resume_subscription(service.subscription, actor=request.user)
    except BillingError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"The cancellation of {service} was undone; it renews as before.")
    return redirect("portal:service_detail", uuid=service.uuid)
