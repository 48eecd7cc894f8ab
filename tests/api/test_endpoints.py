"""Each endpoint does what the portal does, through the same core services."""

from decimal import Decimal

from core.accounts.models import ApiToken
from core.billing.models import Invoice, Order, PaymentMethod, Subscription
from core.billing.services.methods import save_payment_method
from core.provisioning.models import ProvisioningJob

V1 = "/api/v1"


def test_account_get_and_update_through_profile_service(world):
    got = world.api.get(f"{V1}/account")
    assert got.status_code == 200, got.content
    assert got.json()["email"] == world.customer.user.email
    assert got.json()["currency"] == "USD"

    changed = world.api.patch(f"{V1}/account", {"city": "Berlin", "country": "de"})
    assert changed.status_code == 200, changed.content
    assert changed.json()["country"] == "DE"
    world.customer.refresh_from_db()
    assert (world.customer.city, world.customer.country) == ("Berlin", "DE")
    from core.audit.models import AuditLog

    assert AuditLog.objects.filter(action="customer.update").exists()


def test_account_currency_locked_once_billed(world):
    response = world.api.patch(f"{V1}/account", {"currency": "EUR"})
    assert response.status_code == 422
    assert "currency" in response.json()["fields"]


def test_catalog_lists_products_with_prices_in_callers_currency(world):
    from tests.factories import CurrencyFactory, PriceFactory

    PriceFactory(product=world.price.product, currency=CurrencyFactory(code="EUR"), amount=Decimal("9.00"))
    response = world.api.get(f"{V1}/catalog/products", {"service_type": "vps"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    product = next(p for p in body["items"] if p["slug"] == world.price.product.slug)
    assert [(p["currency"], p["amount"], p["cycle"]) for p in product["prices"]] == [("USD", "10.00", "monthly")]
    assert world.api.get(f"{V1}/catalog/products", {"service_type": "hosting"}).json()["count"] == 0
    one = world.api.get(f"{V1}/catalog/products/{world.price.product.slug}")
    assert one.status_code == 200 and one.json()["prices"][0]["id"] == world.price.pk


def test_order_preview_writes_nothing_and_place_order_issues_invoice(world):
    items = [{"price_id": world.price.pk, "quantity": 2, "options": {"hostname": "web1.example.com"}}]
    orders_before = Order.objects.count()
    preview = world.api.post(f"{V1}/orders/preview", {"items": items, "coupon_code": "NOPE"})
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert body["subtotal"] == "20.00" and body["currency"] == "USD"
    assert body["coupon"]["is_valid"] is False
    assert Order.objects.count() == orders_before

    placed = world.api.post(f"{V1}/orders", {"items": items}, key="order-1")
    assert placed.status_code == 201, placed.content
    order = Order.objects.get(uuid=placed.json()["id"])
    assert order.customer == world.customer
    assert order.items.get().hostname == "web1.example.com"
    assert placed.json()["total"] == str(order.invoice.total)
    assert world.api.get(f"{V1}/orders/{order.uuid}").json()["invoice_number"] == order.invoice.number


def test_invoices_list_detail_pdf(world):
    listed = world.api.get(f"{V1}/invoices", {"status": "issued"})
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json()["items"]] == [str(world.invoice.uuid)]
    assert world.api.get(f"{V1}/invoices", {"status": "paid"}).json()["count"] == 0
    detail = world.api.get(f"{V1}/invoices/{world.invoice.uuid}")
    assert detail.status_code == 200
    assert detail.json()["lines"][0]["amount"] == "10.00"
    pdf = world.api.get(f"{V1}/invoices/{world.invoice.uuid}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_pay_invoice_with_saved_card(world):
    response = world.api.post(f"{V1}/invoices/{world.invoice.uuid}/pay", {"payment_method_id": world.method.pk})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "succeeded"
    world.invoice.refresh_from_db()
    assert world.invoice.status == Invoice.Status.PAID


def test_pay_invoice_declined_card_answers_402_and_invoice_stays_open(world):
    declined = save_payment_method(world.customer, "sandbox", "4000000000000002")
    response = world.api.post(f"{V1}/invoices/{world.invoice.uuid}/pay", {"payment_method_id": declined.pk})
    assert response.status_code == 402, response.content
    assert response.json()["code"] == "payment_failed"
    world.invoice.refresh_from_db()
    assert world.invoice.status == Invoice.Status.ISSUED


def test_pay_invoice_needing_3ds_points_to_the_portal(world):
    card = save_payment_method(world.customer, "sandbox", "4000002500003155")
    response = world.api.post(f"{V1}/invoices/{world.invoice.uuid}/pay", {"payment_method_id": card.pk})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "requires_action"
    assert str(world.invoice.uuid) in response.json()["action_url"]


def test_services_list_detail_power_usage(world):
    listed = world.api.get(f"{V1}/services")
    assert listed.status_code == 200
    assert listed.json()["items"][0]["id"] == str(world.service.uuid)
    detail = world.api.get(f"{V1}/services/{world.service.uuid}")
    assert detail.json()["price_id"] == world.price.pk
    assert detail.json()["amount"] == "10.00"
    power = world.api.post(f"{V1}/services/{world.service.uuid}/power", {"action": "restart"})
    assert power.status_code == 202, power.content
    assert ProvisioningJob.objects.filter(service=world.service, action="power").exists()
    usage = world.api.get(f"{V1}/services/{world.service.uuid}/usage")
    assert usage.status_code == 200, usage.content
    assert set(usage.json()) == {"live", "bandwidth"}


def test_change_plan_preview_matches_confirm(world):
    url = f"{V1}/services/{world.service.uuid}/change-plan"
    preview = world.api.post(f"{url}/preview", {"price_id": world.bigger_price.pk})
    assert preview.status_code == 200, preview.content
    assert preview.json()["is_upgrade"] is True
    confirmed = world.api.post(url, {"price_id": world.bigger_price.pk}, key="plan-1")
    assert confirmed.status_code == 200, confirmed.content
    invoice = Invoice.objects.get(uuid=confirmed.json()["invoice_id"])
    assert invoice.total == Decimal(preview.json()["total"])
    world.subscription.refresh_from_db()
    assert world.subscription.price_id == world.bigger_price.pk


def test_cancel_at_period_end_and_undo(world):
    url = f"{V1}/services/{world.service.uuid}/cancellation"
    cancelled = world.api.post(url, {"reason": "too_expensive", "comment": "Budget cut"})
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["cancel_at_period_end"] is True
    world.subscription.refresh_from_db()
    assert (world.subscription.cancel_reason, world.subscription.cancel_comment) == ("too_expensive", "Budget cut")
    assert world.api.post(url, {"reason": "nonsense"}).status_code == 422
    undone = world.api.delete(url)
    assert undone.status_code == 200, undone.content
    world.subscription.refresh_from_db()
    assert world.subscription.cancel_at_period_end is False
    assert world.subscription.status == Subscription.Status.ACTIVE


def test_payment_methods_default_and_remove(world):
    second = save_payment_method(world.customer, "sandbox", "4242424242424242")
    listed = world.api.get(f"{V1}/payment-methods").json()
    assert listed["items"][0]["id"] == world.method.pk and listed["items"][0]["is_default"]
    made = world.api.post(f"{V1}/payment-methods/{second.pk}/default")
    assert made.status_code == 200 and made.json()["is_default"] is True
    removed = world.api.delete(f"{V1}/payment-methods/{world.method.pk}")
    assert removed.status_code == 204, removed.content
    assert PaymentMethod.objects.get(pk=world.method.pk).removed_at is not None
    assert world.api.delete(f"{V1}/payment-methods/{world.method.pk}").status_code == 404


def test_tokens_create_shows_secret_once_and_revoke(world):
    created = world.api.post(f"{V1}/tokens", {"name": "ci", "scopes": ["read"]})
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    token = ApiToken.objects.get(pk=created.json()["id"])
    assert token.token_hash == ApiToken.hash(secret) and secret not in str(token.__dict__)
    listed = world.api.get(f"{V1}/tokens").json()
    assert "secret" not in listed["items"][0]
    revoked = world.api.delete(f"{V1}/tokens/{token.pk}")
    assert revoked.status_code == 200 and revoked.json()["is_active"] is False
