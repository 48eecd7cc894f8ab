"""Idempotency-Key: a retried POST gets the stored answer and nothing happens twice."""

from core.billing.models import Invoice, Order, Payment
from portal.api.models import IdempotencyKey


def _order_body(world, quantity=1):
    return {"items": [{"price_id": world.price.pk, "quantity": quantity, "options": {}}]}


def test_same_key_same_body_places_one_order_and_replays_the_answer(world):
    first = world.api.post("/api/v1/orders", _order_body(world), key="k-1")
    assert first.status_code == 201, first.content
    orders = Order.objects.filter(customer=world.customer).count()
    again = world.api.post("/api/v1/orders", _order_body(world), key="k-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.filter(customer=world.customer).count() == orders


def test_same_key_with_another_body_is_refused(world):
    assert world.api.post("/api/v1/orders", _order_body(world), key="k-2").status_code == 201
    orders = Order.objects.count()
    other = world.api.post("/api/v1/orders", _order_body(world, quantity=2), key="k-2")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == orders


def test_json_spacing_and_key_order_do_not_make_another_request(world):
    import json

    body = _order_body(world)
    first = world.api.post("/api/v1/orders", body, key="k-3")
    raw = json.dumps(body, indent=4, sort_keys=False)
    again = world.api.client.post("/api/v1/orders", raw, content_type="application/json",
                                  headers={"Authorization": f"Bearer {world.secret}", "Idempotency-Key": "k-3"})  # fmt: skip
    assert again.json() == first.json()


def test_paying_twice_with_the_same_key_charges_once(world):
    url = f"/api/v1/invoices/{world.invoice.uuid}/pay"
    body = {"payment_method_id": world.method.pk}
    first = world.api.post(url, body, key="pay-1")
    second = world.api.post(url, body, key="pay-1")
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert Payment.objects.filter(invoice=world.invoice, kind="payment").count() == 1
    world.invoice.refresh_from_db()
    assert world.invoice.status == Invoice.Status.PAID


def test_a_declined_charge_is_replayed_not_retried(world):
    from core.billing.services.methods import save_payment_method

    declined = save_payment_method(world.customer, "sandbox", "4000000000000002")
    url = f"/api/v1/invoices/{world.invoice.uuid}/pay"
    first = world.api.post(url, {"payment_method_id": declined.pk}, key="pay-2")
    attempts = Payment.objects.filter(invoice=world.invoice).count()
    second = world.api.post(url, {"payment_method_id": declined.pk}, key="pay-2")
    assert first.status_code == second.status_code == 402
    assert Payment.objects.filter(invoice=world.invoice).count() == attempts


def test_keys_are_per_user(world, other_world):
    world.api.post("/api/v1/orders", _order_body(world), key="shared")
    theirs = other_world.api.post("/api/v1/orders", _order_body(other_world), key="shared")
    assert theirs.status_code == 201
    assert Order.objects.get(uuid=theirs.json()["id"]).customer == other_world.customer


def test_unauthenticated_or_throttled_answers_are_not_stored(world, settings):
    from tests.api.conftest import Api

    assert Api("ezs_wrong").post("/api/v1/orders", _order_body(world), key="k-4").status_code == 401
    assert not IdempotencyKey.objects.filter(key="k-4").exists()


def test_a_new_token_secret_is_replayed_but_stored_encrypted(world):
    from django.db import connection

    first = world.api.post("/api/v1/tokens", {"name": "deploy", "scopes": ["read"]}, key="tok-1")
    second = world.api.post("/api/v1/tokens", {"name": "deploy", "scopes": ["read"]}, key="tok-1")
    assert first.status_code == 201 and second.json()["secret"] == first.json()["secret"]
    assert world.customer.user.api_tokens.filter(name="deploy").count() == 1
    with connection.cursor() as cursor:
        column = connection.ops.quote_name("key")  # a reserved word on MariaDB
        cursor.execute(f"SELECT response_body FROM portal_api_idempotencykey WHERE {column} = %s", ["tok-1"])
        stored = cursor.fetchone()[0]
    assert first.json()["secret"] not in stored


def test_a_request_still_running_answers_409(world, rf):
    import json

    from portal.api.idempotency import request_hash

    body = _order_body(world)
    running = rf.post("/api/v1/orders", json.dumps(body), content_type="application/json")
    IdempotencyKey.objects.create(user=world.customer.user, key="busy", request_hash=request_hash(running))
    orders = Order.objects.count()
    response = world.api.post("/api/v1/orders", body, key="busy")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_in_progress"
    assert response["Retry-After"] == "1"
    assert Order.objects.count() == orders


def test_expired_keys_are_purged_and_may_be_used_again(world, settings):
    import datetime as dt

    from django.core.management import call_command

    from core import clock

    first = world.api.post("/api/v1/orders", _order_body(world), key="old")
    IdempotencyKey.objects.filter(key="old").update(created_at=clock.now() - dt.timedelta(hours=25))
    call_command("purge_idempotency_keys")
    assert not IdempotencyKey.objects.filter(key="old").exists()
    again = world.api.post("/api/v1/orders", _order_body(world), key="old")
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]
