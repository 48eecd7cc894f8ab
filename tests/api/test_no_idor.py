"""No IDOR: every API route, called with another customer's object ids, answers 404 and changes nothing.

The sweep walks the OpenAPI document, so a new route is covered (or fails here) without anyone
remembering to add it: each path parameter must map to the other customer's object in OTHER_IDS,
and each write must have a valid body in BODIES (otherwise validation, not ownership, would answer).
"""

import re

import pytest

from core.billing.models import Invoice, Payment, PaymentMethod, Subscription
from core.provisioning.models import ProvisioningJob, Service
from portal.api.urls import api

PREFIX = "/api/v1/"
# Public catalog data: the same for every customer, nothing to protect.
NOT_OWNED = {"/api/v1/catalog/products/{slug}"}
OTHER_IDS = {
    "invoice_id": lambda o: o.invoice.uuid,
    "service_id": lambda o: o.service.uuid,
    "order_id": lambda o: o.order.uuid,
    "method_id": lambda o: o.method.pk,
    "token_id": lambda o: o.token.pk,
    "ticket_id": lambda o: ticket_of(o),
}
# A valid body for each write with a path parameter (ids in the body are the caller's own).
BODIES = {
    ("post", "/api/v1/invoices/{invoice_id}/pay"): lambda w: {"payment_method_id": w.method.pk},
    ("post", "/api/v1/services/{service_id}/power"): lambda w: {"action": "restart"},
    ("post", "/api/v1/services/{service_id}/reinstall"): lambda w: {},
    ("post", "/api/v1/services/{service_id}/change-plan/preview"): lambda w: {"price_id": w.bigger_price.pk},
    ("post", "/api/v1/services/{service_id}/change-plan"): lambda w: {"price_id": w.bigger_price.pk},
    ("post", "/api/v1/services/{service_id}/cancellation"): lambda w: {"reason": "other", "comment": "x"},
    ("delete", "/api/v1/services/{service_id}/cancellation"): None,
    ("post", "/api/v1/payment-methods/{method_id}/default"): None,
    ("delete", "/api/v1/payment-methods/{method_id}"): None,
    ("delete", "/api/v1/tokens/{token_id}"): None,
    ("post", "/api/v1/tickets/{ticket_id}/replies"): lambda w: {"text": "Hello"},
}


def ticket_of(world) -> str:
    """A help desk ticket of this customer (the sandbox help desk), opened the first time it is asked for."""
    if "ticket_id" not in world.extra:
        from core.support import services as support

        ticket = support.open_ticket(world.customer, department_id="1", subject="Help", text="Please help.")
        world.extra["ticket_id"] = ticket.id
    return world.extra["ticket_id"]


def routes():
    schema = api.get_openapi_schema(path_prefix=PREFIX)
    return [(method, path) for path, ops in schema["paths"].items() for method in ops]


def state_of(world) -> dict:
    """Everything about a customer that an API write could change."""
    customer = world.customer
    return {
        "invoices": sorted(Invoice.objects.filter(customer=customer).values_list("uuid", "status", "amount_paid")),
        "payments": Payment.objects.filter(customer=customer).count(),
        "subscriptions": sorted(
            Subscription.objects.filter(customer=customer).values_list("pk", "price_id", "cancel_at_period_end",
                                                                       "cancel_reason", "status")),
        "services": sorted(Service.objects.filter(customer=customer).values_list("pk", "status", "pending_action")),
        "jobs": ProvisioningJob.objects.filter(service__customer=customer).count(),
        "methods": sorted(PaymentMethod.objects.filter(customer=customer).values_list("pk", "is_default",
                                                                                     "removed_at")),
        "tokens": sorted(world.customer.user.api_tokens.values_list("pk", "revoked_at")),
        "ticket_messages": _ticket_messages(world),
    }  # fmt: skip


def _ticket_messages(world) -> int:
    from integrations.supportpal.sandbox import SandboxSupportBackend

    return len(SandboxSupportBackend().messages(ticket_of(world)))


def call(world, method, path, body):
    if method == "get":
        return world.api.get(path)
    if method == "delete":
        return world.api.delete(path)
    return getattr(world.api, method)(path, body if body is not None else {})


def test_every_route_with_another_customers_ids_answers_404_and_changes_nothing(world, other_world):
    checked = []
    before = state_of(other_world)
    for method, path in routes():
        params = re.findall(r"{(\w+)}", path)
        if not params or path in NOT_OWNED:
            continue
        unknown = [p for p in params if p not in OTHER_IDS]
        assert not unknown, f"{method.upper()} {path}: map {unknown} to the other customer's object in OTHER_IDS"
        url = path
        for name in params:
            url = url.replace("{" + name + "}", str(OTHER_IDS[name](other_world)))
        body = None
        if method != "get":
            assert (method, path) in BODIES, f"{method.upper()} {path}: add a valid body to BODIES"
            make = BODIES[(method, path)]
            body = make(world) if make else None
        response = call(world, method, url, body)
        assert response.status_code == 404, f"{method.upper()} {url}: {response.status_code} {response.content!r}"
        assert response.json()["code"] == "not_found"
        checked.append((method, path))
    assert state_of(other_world) == before
    assert len(checked) >= 14, checked


def test_lists_show_only_the_callers_objects(world, other_world):
    foreign = [str(other_world.invoice.uuid), str(other_world.service.uuid), str(other_world.order.uuid)]
    for method, path in routes():
        if method != "get" or "{" in path:
            continue
        response = world.api.get(path)
        assert response.status_code == 200, (path, response.content)
        assert not any(f in response.content.decode() for f in foreign), path
    ids = lambda path: {item["id"] for item in world.api.get(path).json()["items"]}  # noqa: E731
    assert other_world.method.pk not in ids("/api/v1/payment-methods")
    assert other_world.token.pk not in ids("/api/v1/tokens")


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/invoices/{own_invoice}/pay", lambda o: {"payment_method_id": o.method.pk}),
    ],
)
def test_ids_in_the_body_of_another_customer_answer_404(world, other_world, path, body):
    before = state_of(other_world), state_of(world)
    response = world.api.post(path.replace("{own_invoice}", str(world.invoice.uuid)), body(other_world))
    assert response.status_code == 404
    assert (state_of(other_world), state_of(world)) == before
