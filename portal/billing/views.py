"""Customer billing pages: invoices, paying one, saved payment methods, who pays each subscription. Views stay thin."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.billing.errors import BillingError
from core.billing.gateways import ChargeStatus, GatewayError, SavedMethod
from core.billing.models import Invoice, PaymentMethod, Subscription
from core.billing.services import methods
from portal.access import customer_required, get_own_or_404, refuse_while_impersonating

from . import checkout

ONLINE_GATEWAYS = ("stripe", "paypal", "sandbox")
# What a posted id or gateway reference may look like; anything else is refused with 400 before a query.
_ID = re.compile(r"[1-9][0-9]{0,17}")
_REFERENCE = re.compile(r"[A-Za-z0-9_\-]{1,255}")
_CARD_NUMBER = re.compile(r"(?:[0-9] ?){12,19}")
# What each gateway's return URL carries. Stripe's ids have documented prefixes (pi_, seti_); PayPal
# order ids are upper-case letters and digits; the sandbox's come from integrations/payments/sandbox.
_PAYMENT_REFERENCE = {
    "stripe": re.compile(r"pi_[A-Za-z0-9_]{1,250}"),
    "paypal": re.compile(r"[A-Z0-9]{5,40}"),
    "sandbox": re.compile(r"sbx_pi_[0-9a-f]{32}_[0-9]{1,4}"),
}
_SETUP_REFERENCE = {"stripe": re.compile(r"seti_[A-Za-z0-9_]{1,250}"), "sandbox": _CARD_NUMBER}


def posted_id(value) -> int | None:
    """A positive database id from form input, or None for anything else (abc, NaN, {}, 1e309, -1, 10**30)."""
    return int(value) if isinstance(value, str) and _ID.fullmatch(value) else None


def is_reference(value) -> bool:
    """A gateway reference (seti_..., pi_..., I-..., order ids): short, ASCII letters, digits, _ and -."""
    return isinstance(value, str) and bool(_REFERENCE.fullmatch(value))


def refuse(request, message: str, template: str, context: dict):
    """Malformed input: the page again with what to fix, HTTP 400, nothing changed."""
    messages.error(request, message)
    return render(request, template, context, status=400)


def _portal(view):
    # Every POST here moves money or changes who pays (pay, 3-D Secure, methods, subscriptions):
    # refused while staff impersonate the customer (GETs still show the page).
    return login_required(login_url="portal:login")(customer_required(refuse_while_impersonating(view)))


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


DOWNLOADABLE = (Invoice.Status.ISSUED, Invoice.Status.PAID, Invoice.Status.VOID)


@_portal
def invoice_pdf(request, uuid):
    """The customer's own invoice as PDF, rendered from its frozen snapshot (drafts and others' invoices: 404)."""
    from core.billing.services.pdf import invoice_filename, render_invoice_pdf

    invoice = get_own_or_404(Invoice.objects.filter(status__in=DOWNLOADABLE), request, uuid=uuid)
    response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice_filename(invoice)}"'
    response["Cache-Control"] = "private, no-store"
    return response


@_portal
def invoice_pay(request, uuid):
    """Choose how to pay; an interrupted charge (3-D Secure) is offered for authentication first."""
    invoice = _own_invoice(request, uuid)
    if invoice.status != Invoice.Status.ISSUED or invoice.amount_due <= 0:
        messages.info(request, f"Invoice {invoice.number} has nothing left to pay.")
        return redirect("portal:invoice_detail", uuid=invoice.uuid)
    if request.method == "POST":
        return _start_payment(request, invoice)
    return render(request, "portal/billing/invoice_pay.html", _pay_context(invoice))


def _pay_context(invoice: Invoice) -> dict:
    return {
        "invoice": invoice,
        "saved_methods": methods.active_payment_methods(invoice.customer).filter(gateway__in=_offered_gateways()),
        "gateways": _offered_gateways(),
        "action": _pending_action_context(invoice),
    }


def _refuse_payment(request, invoice: Invoice, message: str):
    return refuse(request, message, "portal/billing/invoice_pay.html", _pay_context(invoice))


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
    chosen = request.POST.get("method")
    gateway_posted = request.POST.get("gateway")
    if chosen and posted_id(chosen) is None:
        return _refuse_payment(request, invoice, "Choose one of your saved payment methods.")
    if not chosen and gateway_posted not in _offered_gateways():
        return _refuse_payment(request, invoice, "Choose a payment method.")
    card_number = request.POST.get("card_number", "")
    if not chosen and gateway_posted == "sandbox" and not _CARD_NUMBER.fullmatch(card_number):
        return _refuse_payment(request, invoice, "Enter the card number as 12 to 19 digits.")
    try:
        if chosen:
            method = get_own_or_404(
                PaymentMethod.objects.filter(removed_at__isnull=True), request, pk=posted_id(chosen)
            )
            result = checkout.pay_with_saved_method(invoice, method)
            gateway_name = method.gateway
        elif gateway_posted in _offered_gateways():
            gateway_name = gateway_posted
            result = checkout.pay_with_entered_method(
                invoice, gateway_name, card_number=card_number, save=_wants_to_save(request, invoice),
                pending_cards=request.session, card_key=NEW_CARD_KEY, actor=request.user,
            )  # fmt: skip
        else:
            messages.error(request, "Choose a payment method.")
            return redirect("portal:invoice_pay", uuid=invoice.uuid)
    except (BillingError, GatewayError) as exc:
        messages.error(request, str(exc))
        return redirect("portal:invoice_pay", uuid=invoice.uuid)
    return _after_charge(request, invoice, gateway_name, result)


def _wants_to_save(request, invoice: Invoice) -> bool:
    """Save a card entered now: the customer ticked "save for future payments", or the invoice pays a
    subscription (the form says its renewals are charged to this card)."""
    return request.POST.get("save_method") in ("1", "on", "yes", "true") or invoice.subscription_id is not None


NEW_CARD_KEY = "new_card:{}"  # a typed sandbox card waiting for 3-D Secure, kept in the session only


def _new_card_key(reference: str) -> str:
    return NEW_CARD_KEY.format(reference)


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
    if not _PAYMENT_REFERENCE[gateway_name].fullmatch(reference):
        return _refuse_payment(
            request, invoice, "That payment reference is not one we issued. Start the payment again."
        )
    if gateway_name == "sandbox" and request.method != "POST":
        raise Http404("Unknown payment")
    try:
        pending = request.session.get(_new_card_key(reference))
        keep = SavedMethod(**pending) if gateway_name == "sandbox" and isinstance(pending, dict) else None
        result = checkout.confirm_on_session_payment(invoice, gateway_name, reference, keep=keep, actor=request.user)
        if result.status == ChargeStatus.SUCCEEDED:
            request.session.pop(_new_card_key(reference), None)
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


def _methods_context(customer) -> dict:
    return {"methods": methods.active_payment_methods(customer), "gateways": _saving_gateways()}


def _refuse_method(request, message: str):
    return refuse(request, message, "portal/billing/payment_methods.html", _methods_context(request.user.customer))


@_portal
def payment_methods(request):
    return render(request, "portal/billing/payment_methods.html", _methods_context(request.user.customer))


@_portal
def payment_method_add(request, gateway):
    if gateway not in _saving_gateways():
        raise Http404("Unknown gateway")
    customer = request.user.customer
    try:
        if gateway == "sandbox":
            if request.method != "POST":
                return redirect("portal:payment_methods")
            if not _CARD_NUMBER.fullmatch(request.POST.get("card_number", "")):
                return _refuse_method(request, "Enter the card number as 12 to 19 digits.")
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
    if not _SETUP_REFERENCE[gateway].fullmatch(reference):
        return _refuse_method(
            request, "The card setup did not come back from the payment provider. Add the card again."
        )
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


# --- Subscriptions: who pays the renewals ------------------------------------------------------

RUNNING = (Subscription.Status.ACTIVE, Subscription.Status.TRIALING, Subscription.Status.PAST_DUE)


def _own_subscription(request, uuid) -> Subscription:
    return get_own_or_404(
        Subscription.objects.select_related("price__product", "currency", "payment_method", "customer__user"),
        request,
        uuid=uuid,
    )


def _paypal_session_key(subscription: Subscription) -> str:
    return f"paypal_subscription:{subscription.uuid}"


@_portal
def subscription_list(request):
    subscriptions = list(
        Subscription.objects.filter(customer=request.user.customer)
        .select_related("price__product", "currency", "payment_method")
        .order_by("-created_at")
    )
    for subscription in subscriptions:
        subscription.renewal = methods.renewal_state(subscription)
    context = {
        "subscriptions": subscriptions,
        "default_method": methods.default_payment_method(request.user.customer),
    }
    return render(request, "portal/billing/subscription_list.html", context)


@_portal
def subscription_detail(request, uuid):
    """One subscription: what the next renewal costs and which saved method (or PayPal) pays it."""
    subscription = _own_subscription(request, uuid)
    customer = request.user.customer
    if request.method == "POST":
        return _choose_subscription_method(request, subscription)
    if request.GET.get("paypal") == "cancelled":
        messages.info(request, "PayPal approval was cancelled; nothing changed.")
    return render(request, "portal/billing/subscription_detail.html", _subscription_context(subscription, customer))


def _subscription_context(subscription: Subscription, customer) -> dict:
    running = subscription.status in RUNNING
    has_paypal = bool(subscription.gateway == "paypal" and subscription.gateway_subscription_id)
    return {
        "subscription": subscription,
        "running": running,
        "next_charge": methods.next_recurring_charge(subscription) if running else None,
        "cards": methods.card_methods_for_subscriptions(customer),
        "default_method": methods.default_payment_method(customer),
        "has_paypal": has_paypal,
        "paypal_offered": "paypal" in _offered_gateways() and running and not has_paypal,
        "open_invoice": methods.open_renewal_invoice(subscription),
        "renewal": methods.renewal_state(subscription),
        "services": subscription.services.select_related("product").order_by("created_at"),
    }


def _choose_subscription_method(request, subscription: Subscription):
    choice = request.POST.get("method", "")
    method = None
    if choice not in ("", "default") and posted_id(choice) is None:
        return refuse(
            request, "Choose your default payment method or one of your saved cards.",
            "portal/billing/subscription_detail.html", _subscription_context(subscription, request.user.customer),
        )  # fmt: skip
    if choice not in ("", "default"):
        method = get_own_or_404(
            methods.card_methods_for_subscriptions(request.user.customer), request, pk=posted_id(choice)
        )
    try:
        methods.set_subscription_payment_method(subscription, method, actor=request.user)
    except (BillingError, GatewayError) as exc:
        messages.error(request, str(exc))
    else:
        label = str(method) if method else "your default payment method"
        messages.success(request, f"Renewals of this subscription will be charged to {label}.")
    return redirect("portal:subscription_detail", uuid=subscription.uuid)


@_portal
@require_POST
def subscription_paypal_start(request, uuid):
    """Create the PayPal subscription and send the customer to PayPal to approve it."""
    subscription = _own_subscription(request, uuid)
    if "paypal" not in _offered_gateways() or subscription.status not in RUNNING:
        raise Http404("PayPal is not available for this subscription")
    try:
        session = methods.begin_gateway_subscription(
            subscription, "paypal",
            return_url=_absolute(request, "portal:subscription_paypal_return", subscription.uuid),
            cancel_url=_absolute(request, "portal:subscription_detail", subscription.uuid) + "?paypal=cancelled",
        )  # fmt: skip
    except (BillingError, GatewayError, ImproperlyConfigured) as exc:
        messages.error(request, f"PayPal could not be started: {exc}")
        return redirect("portal:subscription_detail", uuid=subscription.uuid)
    if not session.redirect_url:
        messages.error(request, "PayPal did not return an approval link; try again in a few minutes.")
        return redirect("portal:subscription_detail", uuid=subscription.uuid)
    request.session[_paypal_session_key(subscription)] = session.reference
    return redirect(session.redirect_url)


@_portal
def subscription_paypal_return(request, uuid):
    """PayPal's return_url after approval (?subscription_id=I-...&ba_token=...&token=...)."""
    subscription = _own_subscription(request, uuid)
    if "paypal" not in _offered_gateways():
        raise Http404("PayPal is not available")
    reference = request.GET.get("subscription_id") or request.session.get(_paypal_session_key(subscription), "")
    if not reference:
        messages.error(request, "We could not tell which PayPal subscription you approved. Start again.")
        return redirect("portal:subscription_detail", uuid=subscription.uuid)
    if not is_reference(reference):
        return refuse(
            request, "That is not a PayPal subscription we started. Start again from this page.",
            "portal/billing/subscription_detail.html", _subscription_context(subscription, request.user.customer),
        )  # fmt: skip
    try:
        methods.activate_gateway_subscription(subscription, "paypal", reference, actor=request.user)
    except (BillingError, GatewayError) as exc:
        messages.error(request, str(exc))
    else:
        request.session.pop(_paypal_session_key(subscription), None)
        messages.success(request, "PayPal will now pay the renewals of this subscription.")
    return redirect("portal:subscription_detail", uuid=subscription.uuid)


@_portal
@require_POST
def subscription_paypal_cancel(request, uuid):
    """Stop PayPal collecting this subscription's renewals (the subscription itself continues)."""
    subscription = _own_subscription(request, uuid)
    try:
        methods.cancel_gateway_subscription(subscription, reason="Cancelled by the customer", actor=request.user)
    except (BillingError, GatewayError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, "PayPal will no longer pay this subscription. Renewals go to your default payment method."
        )
    return redirect("portal:subscription_detail", uuid=subscription.uuid)
