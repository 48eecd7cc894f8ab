"""No IDOR in the portal: every portal URL that takes an object id is called, GET and POST, with the
objects of ANOTHER customer, and must answer 404 (405 for a method it does not accept) without a
single row changing anywhere.

The URLs come from the resolver (the whole "portal" namespace), so pages added later are swept too.
A URL with a parameter that OBJECTS and NOT_OBJECTS below do not cover fails the test: say which of
the customer's objects the parameter names (or why it names none) when you add a page.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from core.accounts import services as accounts
from core.accounts.models import LoginSession
from core.billing.models import Order, PaymentMethod
from core.billing.services.invoices import create_draft_invoice, issue_invoice
from tests.factories import CurrencyFactory, CustomerFactory, ServiceFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

# url name -> the URL kwargs naming one of the customer's objects (`o` is that customer's bundle below).
OBJECTS = {
    "invoice_detail": lambda o: {"uuid": o.invoice.uuid},
    "invoice_pdf": lambda o: {"uuid": o.invoice.uuid},
    "invoice_pay": lambda o: {"uuid": o.invoice.uuid},
    "invoice_pay_confirm": lambda o: {"uuid": o.invoice.uuid},
    "payment_method_remove": lambda o: {"pk": o.method.pk},
    "payment_method_default": lambda o: {"pk": o.method.pk},
    "subscription_detail": lambda o: {"uuid": o.subscription.uuid},
    "subscription_paypal_start": lambda o: {"uuid": o.subscription.uuid},
    "subscription_paypal_return": lambda o: {"uuid": o.subscription.uuid},
    "subscription_paypal_cancel": lambda o: {"uuid": o.subscription.uuid},
    "service_detail": lambda o: {"uuid": o.service.uuid},
    "service_power": lambda o: {"uuid": o.service.uuid},
    "service_panel": lambda o: {"uuid": o.service.uuid},
    "service_sandbox_panel": lambda o: {"uuid": o.service.uuid},
    "service_credentials": lambda o: {"uuid": o.service.uuid},
    "service_credentials_reset": lambda o: {"uuid": o.service.uuid},
    "service_change_plan": lambda o: {"uuid": o.service.uuid},
    "service_change_plan_confirm": lambda o: {"uuid": o.service.uuid},
    "service_cancel": lambda o: {"uuid": o.service.uuid},
    "service_cancel_undo": lambda o: {"uuid": o.service.uuid},
    "service_reinstall": lambda o: {"uuid": o.service.uuid},
    "service_usage": lambda o: {"uuid": o.service.uuid},
    "service_status": lambda o: {"uuid": o.service.uuid},
    "service_bandwidth": lambda o: {"uuid": o.service.uuid},
    "order_detail": lambda o: {"uuid": o.order.uuid},
    "order_status": lambda o: {"uuid": o.order.uuid},
    "order_pay": lambda o: {"uuid": o.order.uuid},
    "order_pay_confirm": lambda o: {"uuid": o.order.uuid},
    "contact_edit": lambda o: {"pk": o.contact.pk},
    "contact_remove": lambda o: {"pk": o.contact.pk},
    "session_end": lambda o: {"pk": o.login_session.pk},
    "token_revoke": lambda o: {"pk": o.token.pk},
    "ticket_detail": lambda o: {"ticket_id": o.ticket_id()},
}
# url name -> why its parameters name nothing a customer owns.
NOT_OBJECTS = {
    "payment_method_add": "gateway name (stripe, paypal, sandbox)",
    "payment_method_complete": "gateway name (stripe, paypal, sandbox)",
    "checkout": "a product of the public catalog",
    "verify_email": "a signed token; a forged one is refused (tests/portal/test_account_pages.py)",
    "password_reset_confirm": "Django's signed reset token",
}
# Pages that answer 404 even for the customer's own object without the gateway's return parameters.
OWN_404_WITHOUT_QUERY = {"invoice_pay_confirm", "order_pay_confirm"}
# Everything a customer's data lives in; none of these rows may change when another customer knocks.
WATCHED_APPS = ("accounts", "billing", "provisioning", "usage", "support", "notifications", "audit", "catalog",
                "api", "otp_totp", "otp_static", "django_otp_webauthn")  # fmt: skip
POST_BODY = {
    "action": "restart", "password": "correct horse battery", "method": "default", "reason": "too_expensive",
    "comment": "x", "name": "x", "email": "x@example.com", "receives_invoices": "on", "confirm": "1",
    "price": "1", "gateway": "sandbox", "card_number": "4242 4242 4242 4242",
}  # fmt: skip


def portal_patterns():
    """(url name, parameter names) for every route in the portal namespace, included files and all."""
    [portal] = [p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and p.namespace == "portal"]
    found = []

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                found.append((pattern.name, sorted(pattern.pattern.regex.groupindex)))

    walk(portal.url_patterns)
    return found


def bundle(customer, n: int) -> SimpleNamespace:
    draft = create_draft_invoice(
        customer, lines=[{"description": "VPS", "quantity": Decimal("1"), "unit_amount": Decimal("10.00")}]
    )
    subscription = SubscriptionFactory(customer=customer)
    token, _ = accounts.create_api_token(customer.user, name="ci", scopes=["read"])
    return SimpleNamespace(
        customer=customer,
        invoice=issue_invoice(draft, email=False),
        subscription=subscription,
        service=ServiceFactory(customer=customer, subscription=subscription, product=subscription.price.product),
        method=PaymentMethod.objects.create(
            customer=customer, gateway="sandbox", gateway_method_id=f"pm_{n}", brand="visa", last4="4242"
        ),
        order=Order.objects.create(customer=customer, currency=customer.currency),
        contact=accounts.add_contact(customer, name="Books", email=f"books{n}@example.com"),
        token=token,
        login_session=LoginSession.objects.create(user=customer.user, session_key=f"other-session-{n}"),
        ticket_id=lambda: support_ticket_id(customer),
    )


_tickets: dict[int, str] = {}


def support_ticket_id(customer) -> str:
    """A SupportPal ticket of the customer (the sandbox helpdesk), opened the first time a page asks."""
    if customer.pk not in _tickets:
        from core.support import services as support

        department = support.departments()[0]
        ticket = support.open_ticket(customer, department_id=department.id, subject="Help", text="Please help.")
        _tickets[customer.pk] = ticket.id
    return _tickets[customer.pk]


def snapshot() -> dict:
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label in WATCHED_APPS:
            rows[model._meta.label] = list(model.objects.order_by("pk").values())
    return rows


def changed(before: dict, after: dict) -> list[str]:
    return [label for label in before if before[label] != after[label]]


def test_every_portal_url_with_a_parameter_is_in_the_object_map():
    missing = [(name, params) for name, params in portal_patterns() if params and name not in OBJECTS | NOT_OBJECTS]
    assert not missing, (
        f"Portal URLs with parameters not covered by the IDOR sweep: {missing}. Add each to OBJECTS "
        "(which object of the customer its parameter names) or NOT_OBJECTS (why it names none)."
    )


def test_another_customers_objects_answer_404_and_nothing_changes(client, settings):
    settings.PAYMENT_GATEWAYS = ["sandbox", "manual", "stripe", "paypal"]  # every gateway branch is reachable
    settings.DISCORD_WEBHOOK_URL = ""
    usd = CurrencyFactory(code="USD")
    me = CustomerFactory(currency=usd)
    mine, theirs = bundle(me, 1), bundle(CustomerFactory(currency=usd), 2)
    client.force_login(me.user, backend=MODEL_BACKEND)
    _tickets.clear()
    swept = []
    for name, params in portal_patterns():
        if not params or name in NOT_OBJECTS:
            continue
        own_url = reverse(f"portal:{name}", kwargs=OBJECTS[name](mine))
        other_url = reverse(f"portal:{name}", kwargs=OBJECTS[name](theirs))
        try:  # the same page with my own object is reachable: the 404 below is about ownership
            own_status = client.get(own_url).status_code
        except Exception:  # noqa: BLE001  a view failing on the bare test object still resolved it
            own_status = 500
        assert own_status != 404 or name in OWN_404_WITHOUT_QUERY, (
            f"{name}: my own object gives 404, so the sweep proves nothing ({own_url})"
        )
        for method in ("get", "post"):
            before = snapshot()
            response = getattr(client, method)(other_url, POST_BODY if method == "post" else None)
            assert response.status_code in (404, 405), (
                f"{method.upper()} {other_url} ({name}) with another customer's object gave "
                f"{response.status_code}, not 404"
            )
            assert not changed(before, snapshot()), (
                f"{method.upper()} {other_url} changed {changed(before, snapshot())}"
            )
        swept.append(name)
    assert {"invoice_detail", "service_power", "contact_remove", "token_revoke", "session_end"} <= set(swept)
