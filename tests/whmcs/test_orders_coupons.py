"""WHMCS orders come over with their items (services and addons, linked to the imported services),
and coupons with their redemptions (orders' promo codes, services' promotions), reconciled to
WHMCS's `uses` in the report."""

import pytest

from core.billing.models import Coupon, CouponRedemption, Invoice, Order, OrderItem, Subscription
from core.billing.services.orders import fulfil_order
from core.catalog.models import Price
from core.provisioning.models import Service
from integrations.whmcs.importer import import_whmcs
from tests.whmcs.source_db import insert

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db]


@pytest.fixture(scope="module")
def source(whmcs_source):
    """The generated history, with each client's services ordered in the client's order (WHMCS order
    id = client id), the broken service 900 in order 1, and promotions on services: order 5's
    services carry WELCOME10 like their order; service 3 (order 2, no code) got FIVEOFF from staff.
    Service 2 is a one-time service (no price or subscription here); order 1 also registered a domain."""
    cur = whmcs_source["conn"].cursor()
    cur.execute("UPDATE tblhosting SET orderid = userid")
    cur.execute("UPDATE tblhosting SET promoid = 1 WHERE orderid = 5")
    cur.execute("UPDATE tblhosting SET promoid = 2 WHERE id = 3")
    cur.execute("UPDATE tblhosting SET billingcycle = 'One Time' WHERE id = 2")
    cur.close()
    insert(whmcs_source["conn"], "tbldomains", [{"id": 1, "userid": 1, "orderid": 1, "domain": "example.org",
                                                 "status": "Active", "registrationperiod": 1}])  # fmt: skip
    return whmcs_source


def counts() -> dict:
    return {
        "items": OrderItem.objects.count(),
        "redemptions": CouponRedemption.objects.count(),
        "orders": Order.objects.count(),
        "service_history": Service.history.model.objects.count(),
        "coupon_history": Coupon.history.model.objects.count(),
    }


def test_orders_come_over_with_their_items_linked_to_the_services(source):
    report = import_whmcs(source["url"], batch_size=7)

    order = Order.objects.get(whmcs_id=1)
    items = {i.whmcs_ref: i for i in order.items.all()}
    assert set(items) == {"hosting:1", "hosting:2", "addon:1"}
    # Service 1: product 2 in EUR (client 1), Quarterly -> our quarterly EUR price of that product.
    service = Service.objects.get(whmcs_id=1)
    assert service.order_item == items["hosting:1"]
    assert items["hosting:1"].price == Price.objects.get(product=service.product, currency="EUR", cycle="quarterly")
    assert items["hosting:1"].hostname == "srv1.example.net"
    assert items["hosting:1"].config["whmcs"]["billing_cycle"] == "Quarterly"
    assert items["hosting:1"].subscription_id == service.subscription_id
    # Service 2 is One Time: no price here, what WHMCS charged is kept.
    assert items["hosting:2"].price is None
    assert items["hosting:2"].config["whmcs"] == {
        "type": "hosting", "id": 2, "billing_cycle": "One Time", "first_payment_amount": "89.00",
        "amount": "89.00", "status": "Suspended",
    }  # fmt: skip
    assert Service.objects.get(whmcs_id=2).order_item == items["hosting:2"]
    assert items["addon:1"].price is None
    assert items["addon:1"].config["whmcs"]["name"] == "Extra IPv4"
    assert items["addon:1"].config["whmcs"]["recurring"] == "2.00"
    # Every imported service belongs to its order's item; the service of a skipped product is reported.
    assert not Service.objects.filter(whmcs_id__isnull=False, order_item__isnull=True).exists()
    assert OrderItem.objects.filter(whmcs_ref__startswith="hosting:").count() == Service.objects.count()
    skipped = {(i.table, i.whmcs_id): i for i in report.issues}
    assert skipped[("tblorders.items", "hosting:900")].action == "skipped"
    assert "domains are not modelled here" in skipped[("tblorders.items", "domain:1")].reason
    assert report.tables["tblorders.items"].imported == Service.objects.count() + 1

    # Orders name the coupon of their promo code.
    assert Order.objects.get(whmcs_id=5).coupon.code == "WELCOME10"
    assert Order.objects.get(whmcs_id=1).coupon is None


def test_coupon_redemptions_match_whmcs_uses_or_are_reported(source):
    report = import_whmcs(source["url"], batch_size=7)

    welcome = Coupon.objects.get(code="WELCOME10")
    five = Coupon.objects.get(code="FIVEOFF")
    # One redemption per order naming the code (orders 5, 10, 15, 20); order 5's services add none.
    assert sorted(welcome.redemptions.values_list("whmcs_ref", flat=True)) == [
        "order:10", "order:15", "order:20", "order:5"
    ]  # fmt: skip
    first = welcome.redemptions.get(whmcs_ref="order:5")
    assert first.order == Order.objects.get(whmcs_id=5)
    assert first.customer.whmcs_id == 5
    assert first.redeemed_at == first.order.created_at
    # A promotion staff put on a service without an order code: one redemption for that service.
    only = five.redemptions.get()
    assert (only.whmcs_ref, only.order, only.customer.whmcs_id) == ("hosting:3", None, 2)
    assert only.subscription_id == Service.objects.get(whmcs_id=3).subscription_id
    # Times redeemed stays WHMCS's count; WELCOME10's 3 uses against 4 orders is in the report.
    assert (welcome.times_redeemed, five.times_redeemed) == (3, 1)
    notes = [n for n in report.notes if n.startswith("Coupon ")]
    assert notes == ["Coupon WELCOME10 (tblpromotions 1): WHMCS counts 3 uses, 4 orders/services name it; "
                     "times redeemed kept at WHMCS's count"]  # fmt: skip
    assert f"note,{notes[0]}" in report.to_csv().replace('"', "")  # the CSV report carries the notes too


def test_a_rerun_writes_no_item_or_redemption_and_a_changed_service_is_updated(source):
    import_whmcs(source["url"], batch_size=7)
    before = counts()
    report = import_whmcs(source["url"], batch_size=7)
    assert counts() == before
    for table in ("tblorders.items", "tblorders.promocode", "tblhosting.promoid"):
        stats = report.tables[table]
        assert (stats.imported, stats.updated) == (0, 0), table
        assert stats.unchanged > 0, table

    cur = source["conn"].cursor()
    cur.execute("UPDATE tblhosting SET billingcycle = 'Annually', qty = 2 WHERE id = 1")
    cur.close()
    try:
        report = import_whmcs(source["url"], batch_size=7)
    finally:
        cur = source["conn"].cursor()
        cur.execute("UPDATE tblhosting SET billingcycle = 'Quarterly', qty = 1 WHERE id = 1")
        cur.close()
    item = OrderItem.objects.get(whmcs_ref="hosting:1")
    assert (item.price.cycle, item.quantity, item.config["whmcs"]["billing_cycle"]) == ("annual", 2, "Annually")
    assert report.tables["tblorders.items"].updated == 1
    assert OrderItem.objects.count() == before["items"]


def test_paying_an_imported_order_never_starts_its_items_again(source):
    import_whmcs(source["url"], batch_size=7, only=["currencies", "clients", "products", "pricing", "services",
                                                    "invoices", "orders"])  # fmt: skip
    order = Order.objects.get(whmcs_id=1)
    assert order.items.count() == 3
    paid = Invoice.objects.filter(customer=order.customer, status="paid").first()
    Order.objects.filter(pk=order.pk).update(status="pending", invoice=paid)
    subscriptions = Subscription.objects.count()

    fulfil_order(order)

    assert Subscription.objects.count() == subscriptions
    assert Service.objects.filter(customer=order.customer).count() == 2
    assert Order.objects.get(pk=order.pk).status == "fulfilled"


def test_dry_run_writes_no_items_or_redemptions(source):
    report = import_whmcs(source["url"], batch_size=7, dry_run=True)
    assert report.tables["tblorders.items"].imported > 0
    assert OrderItem.objects.count() == CouponRedemption.objects.count() == 0


def test_orders_and_coupon_uses_read_and_write_per_batch_not_per_row(source):
    """A rerun of the order and coupon-use steps issues as many queries with 64 orders as with 24
    (one batch each): items, services, coupons and redemptions are looked up and written per batch."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import_whmcs(source["url"], batch_size=500)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            import_whmcs(source["url"], batch_size=500, only=["orders", "couponuses"])
        return len(ctx.captured_queries)

    before = queries()
    conn = source["conn"]
    insert(conn, "tblorders", [
        {"id": 100 + n, "ordernum": 5000 + n, "userid": (n % 20) + 1, "date": "2024-03-01 10:00:00",
         "amount": "5.00", "invoiceid": 0, "status": "Active", "ipaddress": "", "promocode": "WELCOME10"}
        for n in range(40)
    ])  # fmt: skip
    cur = conn.cursor()
    try:
        cur.execute("UPDATE tblhosting SET orderid = 100 + id - 1, promoid = 2 WHERE id BETWEEN 1 AND 40")
        import_whmcs(source["url"], batch_size=500, only=["orders", "couponuses"])
        assert OrderItem.objects.filter(order__whmcs_id__gte=100).count() == 40
        assert CouponRedemption.objects.filter(whmcs_ref__startswith="order:1").count() >= 40
        after = queries()
    finally:
        cur.execute("DELETE FROM tblorders WHERE id >= 100")
        cur.execute("UPDATE tblhosting SET orderid = userid, promoid = 0")
        cur.execute("UPDATE tblhosting SET promoid = 1 WHERE orderid = 5")
        cur.execute("UPDATE tblhosting SET promoid = 2 WHERE id = 3")
        cur.close()
    assert after == before


def test_staff_see_an_imported_order_with_its_items_and_the_coupon_redemptions(source, client):
    from django.urls import reverse

    from tests.conftest import login_verified
    from tests.factories import StaffUserFactory

    import_whmcs(source["url"], batch_size=500)
    login_verified(client, StaffUserFactory(is_superuser=True))
    order = Order.objects.get(whmcs_id=1)

    page = client.get(reverse("admin:billing_order_change", args=[order.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "hosting:1" in html and "addon:1" in html

    redemptions = client.get(reverse("admin:billing_couponredemption_changelist"))
    assert redemptions.status_code == 200
    assert "WELCOME10" in redemptions.content.decode()
