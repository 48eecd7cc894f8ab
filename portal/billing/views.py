"""Customer billing pages: invoices, paying one, saved payment methods. Views stay thin."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.billing.errors import BillingError
from core.billing.gateways import ChargeStatus, GatewayError
from core.billing.models import Invoice, PaymentMethod
from core.billing.services import methods
from portal.access import customer_required, get_own_or_404

from . import checkout

ONLINE_GATEWAYS = ("stripe", "paypal", "sandbox")


def _portal(view):
    return login_required(login_url="portal:login")(customer_required(view))


def _own_invoice(request, uuid) -> Invoice:
    return get_own_or_404(
        Invoice.objects.exclude(status=Invoice.Status.DRAFT).select_related("currency"), request, uuid=uuid
    )


def _offered_gateways() -> list[str]:
    return [name for name in settings.PAYMENT_GATEWAYS if name in ONLINE_GATEWAYS]


def _absolute(request, name: str, *args) -> str:
    return request.build_absolute_uri(reverse(name, args=args))


@_portal
def invoice_list(request):
    invoices = Invoice.objects.filter(customer=request.user.customer).exclude(status=Invoice.Status.DRAFT)
    return render(request, "portal/billing/invoice_list.html", {"invoices": invoices.select_related("currency")})


@_portal
def invoice_detail(request, uuid):
    invoice = _own_invoice(request, uuid)
    payments = invoice.payments.order_by("-received_at")
    return render(
        request,
        "portal/billing/invoice_detail.html",
        {"invoice": invoice, "lines": invoice.lines.all(), "payments": payments},
    )


@_portal
def invoice_pay(request, uuid):
    """Choose how to pay; an interrupted charge (3-D Secure) is offered for authentication first."""
    invoice = _own_invoice(request, uuid)
    if invoice.status != Invoice.Status.ISSUED or invoice.amount_due <= 0:
        messages.info(request, f"Invoice {invoice.number} has nothing left to pay.")
        return redirect("portal:invoice_detail", uuid=invoice.uuid)
    if request.method == "POST":
        return _start_payment(request, invoice)
    context = {
        "invoice": invoice,
        "saved_methods": methods.active_payment_methods(invoice.customer).filter(gateway__in=_offered_gateways()),
        "gateways": _offered_gateways(),
        "action": _pending_action_context(invoice),
    }
    return render(request, "portal/billing/invoice_pay.html", context)


def _pending_action_context(invoice: Invoice) -> dict | None:
    try:
        pending = checkout.pending_action(invoice)
    except (GatewayError, ImproperlyConfigured):
        return None
    if pending is None:
        return None
    gateway_name, result = pending
    return {
        "gateway": gateway_name,
        "reference": result.transaction_id,
        "client_secret": result.client_secret,
        "payment_method": (result.raw or {}).get("payment_method", ""),
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
    }


def _start_payment(request, invoice: Invoice):
    try:
        if request.POST.get("method"):
            method = get_own_or_404(
                PaymentMethod.objects.filter(removed_at__isnull=True), request, pk=request.POST["method"]
            )
            result = checkout.pay_with_saved_method(invoice, method)
            gateway_name = method.gateway
        elif request.POST.get("gateway") == "sandbox" and request.POST.get("card_number"):
            method = methods.save_payment_method(
                invoice.customer, "sandbox", request.POST["card_number"], actor=request.user
            )
            result = checkout.pay_with_saved_method(invoice, method)
            gateway_name = "sandbox"
        elif request.POST.get("gateway") in _offered_gateways():
            gateway_name = request.POST["gateway"]
            result = checkout.start_new_method_payment(invoice, gateway_name)
        else:
            messages.error(request, "Choose a payment method.")
            return redirect("portal:invoice_pay", uuid=invoice.uuid)
    except (BillingError, GatewayError) as exc:
        messages.error(request, str(exc))
        return redirect("portal:invoice_pay", uuid=invoice.uuid)
    return _after_charge(request, invoice, gateway_name, result)


def _after_charge(request, invoice, gateway_name, result):
    if result.status == ChargeStatus.SUCCEEDED:
        messages.success(request, f"Thank you: invoice {invoice.number} is paid.")
        return redirect("portal:invoice_detail", uuid=invoice.uuid)
    if result.status == ChargeStatus.PROCESSING:
        messages.info(request, "Your payment is being processed; we will email you when it completes.")
        return redirect("portal:invoice_detail", uuid=invoice.uuid)
    if result.status == ChargeStatus.REQUIRES_ACTION:
        if gateway_name == "paypal" and result.action_url:
            return redirect(result.action_url)
        return render(
            request,
            "portal/billing/invoice_authenticate.html",
            {
                "invoice": invoice, "gateway": gateway_name, "reference": result.transaction_id,
                "client_secret": result.client_secret, "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
                "return_url": _absolute(request, "portal:invoice_pay_confirm", invoice.uuid) + f"?gateway={gateway_name}",
                "new_method": not (result.raw or {}).get("payment_method") and gateway_name == "stripe",
            },
        )  # fmt: skip
    messages.error(request, result.failure_message or "The payment did not go through. Try another method.")
    return redirect("portal:invoice_pay", uuid=invoice.uuid)


@_portal
def invoice_pay_confirm(request, uuid):
    """Where Stripe (return_url), PayPal (approval return) and the sandbox challenge come back to."""
    invoice = _own_invoice(request, uuid)
    data = request.POST if request.method == "POST" else request.GET
    gateway_name = data.get("gateway", "stripe")
    # Stripe appends payment_intent; PayPal appends token (the order id).
    reference = data.get("reference") or data.get("payment_intent") or data.get("token") or ""
    if gateway_name not in _offered_gateways() or not reference:
        raise Http404("Unknown payment")
    if gateway_name == "sandbox" and request.method != "POST":
        raise Http404("Unknown payment")
    try:
        result = checkout.confirm_on_session_payment(invoice, gateway_name, reference)
    except (BillingError, GatewayError) as exc:
        messages.error(request, str(exc))
        return redirect("portal:invoice_pay", uuid=invoice.uuid)
    if result.status == ChargeStatus.REQUIRES_ACTION:
        messages.error(request, "The payment still needs authentication. Try again.")
        return redirect("portal:invoice_pay", uuid=invoice.uuid)
    return _after_charge(request, invoice, gateway_name, result)


# --- Payment methods -------------------------------------------------------------------------


def _saving_gateways() -> list[str]:
    return [g for g in _offered_gateways() if g != "paypal"]


@_portal
def payment_methods(request):
    customer = request.user.customer
    return render(
        request,
        "portal/billing/payment_methods.html",
        {"methods": methods.active_payment_methods(customer), "gateways": _saving_gateways()},
    )


@_portal
def payment_method_add(request, gateway):
    if gateway not in _saving_gateways():
        raise Http404("Unknown gateway")
    customer = request.user.customer
    try:
        if gateway == "sandbox":
            if request.method != "POST":
                return redirect("portal:payment_methods")
            methods.save_payment_method(customer, "sandbox", request.POST.get("card_number", ""), actor=request.user)
            messages.success(request, "Card saved.")
            return redirect("portal:payment_methods")
        session = methods.begin_saving_method(
            customer, gateway, return_url=_absolute(request, "portal:payment_method_complete", gateway)
        )
    except (BillingError, GatewayError) as exc:
        messages.error(request, str(exc))
        return redirect("portal:payment_methods")
    return render(
        request,
        "portal/billing/payment_method_add.html",
        {"session": session, "publishable_key": settings.STRIPE_PUBLISHABLE_KEY},
    )


@_portal
def payment_method_complete(request, gateway):
    """Stripe's return_url after a SetupIntent is confirmed (?setup_intent=seti_...)."""
    if gateway not in _saving_gateways():
        raise Http404("Unknown gateway")
    reference = request.GET.get("setup_intent", "")
    try:
        methods.save_payment_method(request.user.customer, gateway, reference, actor=request.user)
    except (BillingError, GatewayError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Card saved.")
    return redirect("portal:payment_methods")


@_portal
@require_POST
def payment_method_remove(request, pk):
    method = get_own_or_404(PaymentMethod.objects.filter(removed_at__isnull=True), request, pk=pk)
    try:
        methods.remove_payment_method(request.user.customer, method, actor=request.user)
    except (BillingError, GatewayError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{method} removed.")
    return redirect("portal:payment_methods")


@_portal
@require_POST
def payment_method_default(request, pk):
    method = get_own_or_404(PaymentMethod.objects.filter(removed_at__isnull=True), request, pk=pk)
    try:
        methods.set_default_payment_method(request.user.customer, method, actor=request.user)
    except (BillingError, GatewayError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{method} is now your default payment method.")
    return redirect("portal:payment_methods")
