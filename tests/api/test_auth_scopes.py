"""Bearer tokens: who gets in, which scope each endpoint needs, last-used, no privilege escalation."""

import datetime as dt

import pytest

from core import clock
from core.accounts.models import ApiToken
from core.accounts.services import create_api_token, revoke_api_token
from portal.api.urls import api
from tests.api.conftest import Api, token_for
from tests.factories import StaffUserFactory

PREFIX = "/api/v1/"


def all_operations():
    schema = api.get_openapi_schema(path_prefix=PREFIX)
    return [(m, p, op) for p, ops in schema["paths"].items() for m, op in ops.items()]


def fill(path, world):
    return (path.replace("{invoice_id}", str(world.invoice.uuid)).replace("{service_id}", str(world.service.uuid))
            .replace("{order_id}", str(world.order.uuid)).replace("{method_id}", str(world.method.pk))
            .replace("{token_id}", str(world.token.pk)).replace("{slug}", world.price.product.slug))  # fmt: skip


def test_every_route_refuses_a_request_without_a_valid_token(world):
    expired, _ = create_api_token(world.customer.user, name="old", scopes=["read"]), None
    revoked_secret = token_for(world.customer, name="revoked")
    revoke_api_token(ApiToken.objects.get(name="revoked"))
    for method, path, _ in all_operations():
        url = fill(path, world)
        for secret in (None, "ezs_not-a-real-token", "Basic abc", revoked_secret):
            client = Api(secret)
            response = client.get(url) if method == "get" else getattr(client, method)(url)
            assert response.status_code == 401, (method, url, secret, response.status_code)
            assert response.json()["code"] == "unauthorized"
            assert response["WWW-Authenticate"].startswith("Bearer")
    assert expired


def test_expired_token_and_staff_token_are_refused(world):
    token, secret = create_api_token(world.customer.user, name="short", scopes=["read"],
                                     expires_at=clock.now() + dt.timedelta(minutes=5))  # fmt: skip
    assert Api(secret).get("/api/v1/account").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=clock.now() - dt.timedelta(seconds=1))
    assert Api(secret).get("/api/v1/account").status_code == 401
    staff_secret = create_api_token(StaffUserFactory(), name="staff", scopes=["read"])[1]
    assert Api(staff_secret).get("/api/v1/account").status_code == 401


def test_each_operation_enforces_exactly_one_scope(world, monkeypatch):
    """A token with every scope but the one an operation needs gets 403 insufficient_scope there, and
    only there: each operation needs exactly one scope, `read` for every GET."""
    monkeypatch.setattr("core.billing.services.pdf.render_invoice_pdf", lambda invoice: b"%PDF-1.7 stub")
    everything = ("read", "write", "services", "billing")
    lacking = {s: Api(token_for(world.customer, scopes=[o for o in everything if o != s], name=f"no-{s}"))
               for s in everything}  # fmt: skip
    for method, path, _ in all_operations():
        url = fill(path, world)
        refused = []
        for scope, client in lacking.items():
            response = client.get(url) if method == "get" else getattr(client, method)(url, None)
            if response.status_code == 403:
                assert response.json()["code"] == "insufficient_scope"
                refused.append(scope)
        assert len(refused) == 1, (method, path, refused)
        if method == "get":
            assert refused == ["read"], (method, path, refused)


@pytest.mark.parametrize(
    "method, path, scope",
    [
        ("post", "/api/v1/orders", "billing"),
        ("post", "/api/v1/invoices/{invoice_id}/pay", "billing"),
        ("post", "/api/v1/services/{service_id}/power", "services"),
        ("post", "/api/v1/services/{service_id}/change-plan", "services"),
        ("post", "/api/v1/services/{service_id}/cancellation", "services"),
        ("patch", "/api/v1/account", "write"),
        ("post", "/api/v1/tokens", "write"),
        ("delete", "/api/v1/payment-methods/{method_id}", "billing"),
    ],
)
def test_writes_need_their_scope(world, method, path, scope):
    read_only = Api(token_for(world.customer, scopes=["read"], name="ro"))
    response = getattr(read_only, method)(fill(path, world))
    assert response.status_code == 403
    assert scope in response.json()["message"]


def test_last_used_is_recorded(world):
    world.token.refresh_from_db()
    assert world.token.last_used_at is None
    world.api.get("/api/v1/account")
    world.token.refresh_from_db()
    assert world.token.last_used_at is not None


def test_a_token_cannot_create_a_wider_token(world):
    narrow = Api(token_for(world.customer, scopes=["read", "write"], name="narrow"))
    response = narrow.post("/api/v1/tokens", {"name": "wider", "scopes": ["billing"]})
    assert response.status_code == 422
    assert "scopes" in response.json()["fields"]
    assert not ApiToken.objects.filter(name="wider").exists()


def test_csrf_is_not_needed_with_a_bearer_token(world):
    from django.test import Client

    client = Api(world.secret, Client(enforce_csrf_checks=True))
    assert client.patch("/api/v1/account", {"city": "Paris"}).status_code == 200
