"""Ordering from the portal: the catalog, checkout (choices, coupon, tax, capacity, payment), paying
an order that is still open, and watching its services being set up.

Every rule lives in core: validate_product_options and preview_order say what an order would cost
and whether it can be taken, place_order writes it, portal/billing/checkout.py charges its first
invoice exactly as the invoice pay page does. Views only read the form and choose the next page.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse

from core.billing.errors import BillingError, OrderError
from core.billing.gateways import ChargeStatus, GatewayError, SavedMethod
from core.billing.models import Invoice, Order, PaymentMethod
from core.billing.services import methods
from core.billing.services.orders import (
    ProductOptionsError,
    declared_variables,
    hostname_rule,
    place_order,
    preview_order,
    validate_product_options,
)
from core.catalog.models import Price, Product, ServiceType
from core.provisioning.models import Service
from portal.access import customer_required, get_own_or_404, refuse_while_impersonating
from portal.billing import checkout as payflow

ONLINE_GATEWAYS = ("stripe", "paypal", "sandbox")
# Services in these states are still being set up; the order page keeps polling while any is.
SETTING_UP = (Service.Status.PENDING, Service.Status.PROVISIONING)
# A sandbox card typed with consent and waiting for 3-D Secure: kept in the session only (never in the
# database) until the challenge is passed, so an abandoned attempt leaves no saved method.
NEW_CARD_KEY = "order_new_card:{}"
CONSENT_VALUES = ("1", "on", "yes", "true")
SUBMISSION_SECONDS = 3600  # how long a checkout form's submission token is remembered


def _portal(view):
    return login_required(login_url="portal:login")(customer_required(view))


def _offered_gateways() -> list[str]:
    return [name for name in settings.PAYMENT_GATEWAYS if name in ONLINE_GATEWAYS]


def _saved_methods(customer):
    return methods.active_payment_methods(customer).filter(gateway__in=_offered_gateways())


# --- Catalog -----------------------------------------------------------------------------------


@_portal
def catalog(request):
    """Every product for sale with its prices in the customer's currency, grouped by service type."""
    customer = request.user.customer
    prices = (
        Price.objects.filter(currency_id=customer.currency_id, is_active=True, product__status=Product.Status.ACTIVE)
        .select_related("product")
        .order_by("product__sort_order", "product__name", "amount")
    )
    groups: OrderedDict[str, dict] = OrderedDict(
        (value, {"label": label, "products": {}}) for value, label in ServiceType.choices
    )
    for price in prices:
        products = groups[price.product.service_type]["products"]
        products.setdefault(price.product.pk, {"product": price.product, "prices": []})["prices"].append(price)
    sections = [
        {"type": key, "label": g["label"], "products": list(g["products"].values())}
        for key, g in groups.items()
        if g["products"]
    ]
    return render(request, "portal/orders/catalog.html", {"sections": sections, "currency": customer.currency_id})


# --- Checkout ----------------------------------------------------------------------------------


def _options_from(data, product: Product) -> dict:
    """The customer's choices as validate_product_options expects them (only what was sent)."""
    options = {}
    for name in ("hostname", "location", "os_template", "egg"):
        if name in data:
            options[name] = data.get(name, "")
    declared = [v["name"] for v in declared_variables(product, _egg_shown(product, data))]
    variables = {name: data[f"var_{name}"] for name in declared if f"var_{name}" in data}
    if variables:
        options["variables"] = variables
    return options


def _egg_shown(product: Product, data) -> str | None:
    """The egg whose variables the form shows: the one chosen, else the first the product lists
    (the select starts on it)."""
    eggs = (product.order_options or {}).get("eggs") or []
    if "egg" in data:
        return data.get("egg")
    return str(eggs[0]["id"]) if eggs else None


def _chosen_price(prices: list[Price], data) -> Price:
    wanted = str(data.get("price", ""))
    for price in prices:
        if str(price.pk) == wanted:
            return price
    return prices[0]


@_portal
@refuse_while_impersonating
def checkout(request, slug):
    """Configure a product, see the priced lines (coupon, tax) and whether it can be fulfilled, then pay.

    Nothing is written until "Place order and pay": then the options are checked, capacity is asked
    again (place_order), the order and its first invoice are created and the invoice is charged.
    """
    customer = request.user.customer
    product = get_object_or_404(Product, slug=slug, status=Product.Status.ACTIVE)
    prices = list(
        Price.objects.filter(product=product, currency_id=customer.currency_id, is_active=True).order_by("amount")
    )
    if not prices:
        raise Http404("Not for sale in your currency")
    data = request.POST if request.method == "POST" else request.GET
    price = _chosen_price(prices, data)
    coupon_code = (data.get("coupon") or "").strip()
    submitted = request.method == "POST"
    field_errors: dict[str, list[str]] = {}
    item = {"price": price, "hostname": "", "config": {}}
    if submitted:
        try:
            item.update(validate_product_options(product, _options_from(data, product)))
        except ProductOptionsError as exc:
            field_errors = exc.field_errors
    errors: list[str] = []
    if submitted and data.get("action") == "pay" and not field_errors:
        # place_order checks items, coupon and capacity itself (and writes nothing when it refuses),
        # so paying does not price the order twice; a refusal is shown with the preview below.
        if not _payment_chosen(data):
            errors.append("Choose how to pay.")
        else:
            response = _place_and_pay(request, item, coupon_code, data, errors)
            if response is not None:
                return response
    preview = None
    try:
        preview = preview_order(customer, [item], coupon_code=coupon_code or None)
    except OrderError as exc:
        errors.append(str(exc))
    refused = bool(errors)
    if preview is not None and errors:
        # The preview says the same as the refusal (sold out, bad coupon): say it once.
        shown = set(preview.unavailable) | ({preview.coupon.message} if preview.coupon else set())
        errors = [e for e in errors if e not in shown]
    context = {
        "product": product,
        "prices": prices,
        "price": price,
        "options": product.order_options or {},
        "hostname_rule": hostname_rule(product),
        "values": data,
        "variables": _variables_with_values(product, data, field_errors),
        "field_errors": field_errors,
        "errors": errors,
        "preview": preview,
        "coupon_code": coupon_code,
        "saved_methods": _saved_methods(customer),
        "default_method": methods.default_payment_method(customer),
        "gateways": _offered_gateways(),
        "submission": secrets.token_urlsafe(16),
    }
    return render(
        request, "portal/orders/checkout.html", context, status=400 if (field_errors or errors or refused) else 200
    )


def _variables_with_values(product: Product, data, field_errors: dict) -> list[dict]:
    out = []
    for spec in declared_variables(product, _egg_shown(product, data)):
        name = spec["name"]
        value = data.get(f"var_{name}", spec.get("default", ""))
        out.append({**spec, "value": value, "errors": field_errors.get(f"variables.{name}", [])})
    return out


def _payment_chosen(data) -> bool:
    if data.get("method"):
        return True
    gateway = data.get("gateway", "")
    if gateway == "sandbox":
        return bool(data.get("card_number"))
    return gateway in _offered_gateways()


def _submission_key(request, data) -> str | None:
    token = str(data.get("submission", ""))[:64]
    return f"portal:checkout:{request.user.customer.pk}:{token}" if token else None


def _place_and_pay(request, item: dict, coupon_code: str, data, errors: list[str]):
    """Place the order and charge it, once per rendered checkout form: a double click or a resent
    form (same `submission` token) lands on the order the first one made instead of a second order.
    Returns None (with the reason in `errors`) when place_order refuses: nothing was written or charged."""
    customer = request.user.customer
    key = _submission_key(request, data)
    if key is not None and not cache.add(key, "", SUBMISSION_SECONDS):
        made = cache.get(key)
        if made:
            return redirect("portal:order_detail", uuid=made)
        messages.info(request, "Your order is already being placed; it appears below in a moment.")
        return redirect("portal:order_list")
    try:
        order = place_order(
            customer, [item], coupon_code=coupon_code or None, ip_address=request.META.get("REMOTE_ADDR"),
            actor=request.user,
        )  # fmt: skip
    except BillingError as exc:
        if key is not None:
            cache.delete(key)
        errors.append(str(exc))
        return None
    if key is not None:
        cache.set(key, str(order.uuid), SUBMISSION_SECONDS)
    return _charge(request, order, data)


# --- Paying an order's first invoice -------------------------------------------------------------


def _own_order(request, uuid) -> Order:
    return get_own_or_404(Order.objects.select_related("invoice", "currency"), request, uuid=uuid)


def _charge(request, order: Order, data):
    """Charge the order's first invoice with what the customer chose, then show where it stands.

    Same flow as the invoice pay page (portal/billing/checkout.py): a card typed now is charged unsaved
    and stored only once the payment succeeded and only with consent (see _wants_to_save); a declined
    card or an abandoned 3-D Secure challenge leaves no saved method."""
    invoice = order.invoice
    if invoice is None or invoice.status != Invoice.Status.ISSUED or invoice.amount_due <= 0:
        return redirect("portal:order_detail", uuid=order.uuid)
    try:
        if data.get("method"):
            method = get_own_or_404(PaymentMethod.objects.filter(removed_at__isnull=True), request, pk=data["method"])
            gateway_name = method.gateway
            result = payflow.pay_with_saved_method(invoice, method)
        elif data.get("gateway") in _offered_gateways() and (data["gateway"] != "sandbox" or data.get("card_number")):
            gateway_name = data["gateway"]
            # After approving on PayPal the customer comes back to this order (its confirm step captures
            # the payment, then shows the order page watching its services being set up).
            result = payflow.pay_with_entered_method(
                invoice, gateway_name, card_number=data.get("card_number", ""), save=_wants_to_save(data, invoice),
                pending_cards=request.session, card_key=NEW_CARD_KEY, actor=request.user,
                return_url=_site_url("portal:order_pay_confirm", order.uuid) + f"?gateway={gateway_name}",
                cancel_url=_site_url("portal:order_pay", order.uuid),
            )  # fmt: skip
        else:
            messages.error(request, "Choose how to pay.")
            return redirect("portal:order_pay", uuid=order.uuid)
    except (BillingError, GatewayError) as exc:
        messages.error(request, str(exc))
        return redirect("portal:order_pay", uuid=order.uuid)
    return _after_charge(request, order, gateway_name, result)


def _site_url(name: str, *args) -> str:
    """An absolute portal URL on the configured site (what gateways send the customer back to)."""
    return settings.SITE_URL.rstrip("/") + reverse(name, args=args)


def _wants_to_save(data, invoice: Invoice) -> bool:
    """Keep a method entered now: the customer ticked "save for future payments", or the invoice pays a
    subscription (the form then says so instead of asking). The same rule as the invoice pay page; an
    order's first invoice belongs to no subscription yet (the subscription starts once it is paid), so
    checkout asks, and the form says that renewals are charged to a saved default method only."""
    return str(data.get("save_method", "")).lower() in CONSENT_VALUES or invoice.subscription_id is not None


def _after_charge(request, order: Order, gateway_name: str, result):
    invoice = order.invoice
    if result.status == ChargeStatus.SUCCEEDED:
        messages.success(request, f"Thank you: order #{order.pk} is paid. We are setting it up now.")
        return redirect("portal:order_detail", uuid=order.uuid)
    if result.status == ChargeStatus.PROCESSING:
        messages.info(request, "Your payment is being processed; we start as soon as it completes.")
        return redirect("portal:order_detail", uuid=order.uuid)
    if result.status == ChargeStatus.REQUIRES_ACTION:
        if gateway_name == "paypal" and result.action_url:
            return redirect(result.action_url)
        confirm_url = reverse("portal:order_pay_confirm", args=[order.uuid])
        return render(
            request,
            "portal/orders/authenticate.html",
            {
                "order": order, "invoice": invoice, "gateway": gateway_name, "reference": result.transaction_id,
                "client_secret": result.client_secret, "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
                "confirm_url": confirm_url,
                "return_url": request.build_absolute_uri(confirm_url) + f"?gateway={gateway_name}",
                "new_method": not (result.raw or {}).get("payment_method") and gateway_name == "stripe",
            },
        )  # fmt: skip
    messages.error(
        request,
        (result.failure_message or "The payment did not go through.")
        + " Your order is saved: pay it with another card below.",
    )
    return redirect("portal:order_pay", uuid=order.uuid)


@_portal
@refuse_while_impersonating
def order_pay(request, uuid):
    """Pay an order whose first invoice is still open (a declined card, an abandoned checkout)."""
    order = _own_order(request, uuid)
    invoice = order.invoice
    if invoice is None or invoice.status != Invoice.Status.ISSUED or invoice.amount_due <= 0:
        return redirect("portal:order_detail", uuid=order.uuid)
    if request.method == "POST":
        return _charge(request, order, request.POST)
    context = {
        "order": order,
        "invoice": invoice,
        "lines": invoice.lines.all(),
        "saved_methods": _saved_methods(request.user.customer),
        "default_method": methods.default_payment_method(request.user.customer),
        "gateways": _offered_gateways(),
    }
    return render(request, "portal/orders/pay.html", context)


@_portal
@refuse_while_impersonating
def order_pay_confirm(request, uuid):
    """Where 3-D Secure (sandbox challenge, Stripe return_url) and PayPal approval come back to."""
    order = _own_order(request, uuid)
    if order.invoice is None:
        raise Http404("No invoice")
    data = request.POST if request.method == "POST" else request.GET
    gateway_name = data.get("gateway", "stripe")
    reference = data.get("reference") or data.get("payment_intent") or data.get("token") or ""
    if gateway_name not in _offered_gateways() or not reference:
        raise Http404("Unknown payment")
    if gateway_name == "sandbox" and request.method != "POST":
        raise Http404("Unknown payment")
    key = NEW_CARD_KEY.format(reference)
    pending = request.session.get(key)
    keep = SavedMethod(**pending) if gateway_name == "sandbox" and isinstance(pending, dict) else None
    try:
        result = payflow.confirm_on_session_payment(
            order.invoice, gateway_name, reference, keep=keep, actor=request.user
        )
    except (BillingError, GatewayError, ImproperlyConfigured) as exc:
        messages.error(request, str(exc))
        return redirect("portal:order_pay", uuid=order.uuid)
    if result.status == ChargeStatus.SUCCEEDED:
        request.session.pop(key, None)
    if result.status == ChargeStatus.REQUIRES_ACTION:
        messages.error(request, "The payment still needs authentication. Try again.")
        return redirect("portal:order_pay", uuid=order.uuid)
    order.refresh_from_db()
    return _after_charge(request, order, gateway_name, result)


# --- Watching an order -------------------------------------------------------------------------


def _order_services(order: Order):
    return (
        Service.objects.filter(order_item__order=order, customer=order.customer)
        .select_related("product")
        .order_by("pk")
    )


@_portal
def order_list(request):
    orders = (
        Order.objects.filter(customer=request.user.customer)
        .select_related("invoice", "currency")
        .order_by("-created_at")[:100]
    )
    return render(request, "portal/orders/list.html", {"orders": orders})


def _status_context(order: Order) -> dict:
    services = list(_order_services(order))
    invoice = order.invoice
    paid = invoice is not None and invoice.status == Invoice.Status.PAID
    settling = paid and (not services or any(s.status in SETTING_UP for s in services))
    return {
        "order": order,
        "invoice": invoice,
        "services": services,
        "paid": paid,
        "settling": settling and order.status not in (Order.Status.REFUSED, Order.Status.CANCELLED),
        "email": order.customer.user.email,
    }


@_portal
def order_detail(request, uuid):
    order = _own_order(request, uuid)
    context = _status_context(order)
    context["lines"] = order.invoice.lines.all() if order.invoice else []
    return render(request, "portal/orders/detail.html", context)


@_portal
def order_status(request, uuid):
    """What the order page polls: the status block as an HTML fragment (portal.js data-poll), or
    with ?format=json each service's status and whether setting up is done."""
    order = _own_order(request, uuid)
    context = _status_context(order)
    html = render_to_string("portal/orders/_status.html", context, request=request)
    if request.GET.get("format") != "json" and "application/json" not in request.headers.get("Accept", ""):
        return HttpResponse(html, headers={"Cache-Control": "no-store"})
    return JsonResponse(
        {
            "order": order.status,
            "invoice": context["invoice"].status if context["invoice"] else None,
            "services": [
                {
                    "uuid": str(s.uuid),
                    "status": s.status,
                    "label": str(s),
                    "url": reverse("portal:service_detail", args=[s.uuid]),
                }
                for s in context["services"]
            ],
            "done": not context["settling"],
            "html": html,
        },
        headers={"Cache-Control": "no-store"},
    )
