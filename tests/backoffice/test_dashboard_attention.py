"""The dashboard's Needs attention items and MRR movement figures each open a list of exactly those rows."""

import datetime as dt
from decimal import Decimal

from django.urls import reverse

from core import clock
from core.analytics import movement
from core.billing.models import Payment, PaymentMethod, PendingPolicyAction, WebhookEvent
from core.provisioning.models import ProvisioningJob
from tests.factories import CurrencyFactory, CustomerFactory, PaymentFactory, ServiceFactory, SubscriptionFactory

TODAY = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)


def _result_count(client, href):
    """Rows on the admin changelist behind a link."""
    response = client.get(href)
    assert response.status_code == 200, href
    assert "?e=1" not in response.get("Location", ""), f"{href}: the admin ignored a filter"
    return len(response.context["cl"].result_list)


def test_needs_attention_counts_link_to_filtered_lists(staff_client, db):
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    customer = CustomerFactory(currency=usd)
    with clock.frozen_at(TODAY):
        ServiceFactory(customer=customer, status="awaiting_stock")
        ServiceFactory(customer=customer, status="active")
        service = ServiceFactory(customer=customer, status="active")
        ProvisioningJob.objects.create(service=service, action="create", outcome="failed")
        ProvisioningJob.objects.create(service=service, action="create", outcome="succeeded")
        PendingPolicyAction.objects.create(service=service, action="suspend", reason="Overdue", run_date=TODAY.date())
        PaymentFactory(customer=customer, status=Payment.Status.FAILED, received_at=TODAY)
        PaymentFactory(customer=customer, status=Payment.Status.FAILED, received_at=TODAY - dt.timedelta(days=1))
        PaymentFactory(customer=customer, is_disputed=True, received_at=TODAY - dt.timedelta(days=3))
        WebhookEvent.objects.create(gateway="stripe", event_id="e1", event_type="x", payload={}, status="failed")
        WebhookEvent.objects.create(gateway="stripe", event_id="e2", event_type="x", payload={}, status="processed")
        for n, (year, month) in enumerate(((2026, 3), (2026, 3), (2027, 3))):
            PaymentMethod.objects.create(customer=customer if n < 2 else CustomerFactory(currency=usd),
                                         gateway="sandbox", gateway_method_id=f"pm_{n}", exp_year=year,
                                         exp_month=month)  # fmt: skip
        response = staff_client.get(reverse("admin:index"))
        assert response.status_code == 200
        items = {item["key"]: item for item in response.context["attention"]}
        expected = {"failed_jobs": 1, "awaiting_stock": 1, "held_actions": 1, "disputes": 1, "failed_payments": 1,
                    "failed_webhooks": 1, "expiring_cards": 1}  # fmt: skip
        assert {k: items[k]["count"] for k in expected} == expected
        body = response.content.decode()
        assert "Needs attention" in body
        lists = {"failed_jobs": 1, "awaiting_stock": 1, "held_actions": 1, "disputes": 1, "failed_payments": 1,
                 "failed_webhooks": 1, "expiring_cards": 2}  # two cards of the one customer  # fmt: skip
        for key, rows in lists.items():
            assert _result_count(staff_client, items[key]["href"]) == rows, key


def test_movement_figure_opens_the_customers_behind_it(staff_client, db):
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    stays, leaves = CustomerFactory(currency=usd), CustomerFactory(currency=usd)
    with clock.frozen_at(dt.datetime(2026, 2, 20, tzinfo=dt.UTC)):
        SubscriptionFactory(customer=stays)
        gone = SubscriptionFactory(customer=leaves)
        movement.refresh_mrr_snapshot()
    gone.status = "cancelled"
    gone.save()
    with clock.frozen_at(TODAY):
        movement.refresh_mrr_snapshot()
        response = staff_client.get(reverse("admin:index"), {"month": "2026-03"})
        cards = {c["key"]: c for c in response.context["movement_cards"]}
        assert cards["churned"]["customers"] == 1
        assert cards["churned"]["value"] == "-USD 20.00"
        listing = staff_client.get(cards["churned"]["href"]).content.decode()
        assert leaves.display_name in listing and stays.display_name not in listing
        assert "Logo churn" in response.content.decode()
        rates = {r["title"]: r["value"] for r in response.context["movement_rates"]}
        assert rates == {"Logo churn": "50.0%", "Revenue churn": "50.0%", "Net revenue retention": "50.0%"}
        feb = staff_client.get(reverse("admin:index"), {"month": "2026-02"})
        assert {c["key"]: c["customers"] for c in feb.context["movement_cards"]}["new"] == 2


def test_large_list_search_finds_by_prefix_uuid_and_customer(staff_client, db):
    """The index-friendly search on the invoice, payment and service lists still finds what staff type."""
    from tests.factories import InvoiceFactory

    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    acme, other = CustomerFactory(currency=usd, company="Acme Rockets"), CustomerFactory(currency=usd, company="Zed")
    mine = InvoiceFactory(customer=acme, status="issued", number="INV-2026-000777")
    InvoiceFactory(customer=other, status="issued", number="INV-2026-000888")
    url = reverse("admin:billing_invoice_changelist")

    def found(q):
        return {obj.pk for obj in staff_client.get(url, {"q": q}).context["cl"].result_list}

    assert found("INV-2026-000777") == {mine.pk}
    assert found("Acme Rock") == {mine.pk}  # customers are matched by prefix
    assert found(acme.user.email) == {mine.pk}
    assert found(str(mine.uuid)) == {mine.pk}
    assert found("nothing-like-this") == set()
    payment = PaymentFactory(customer=acme, reference="WIRE-42")
    assert {p.pk for p in staff_client.get(reverse("admin:billing_payment_changelist"), {"q": "WIRE"})
            .context["cl"].result_list} == {payment.pk}  # fmt: skip
    service = ServiceFactory(customer=acme, hostname="alpha.example.net")
    listed = staff_client.get(reverse("admin:provisioning_service_changelist"), {"q": "alpha.example"})
    assert {s.pk for s in listed.context["cl"].result_list} == {service.pk}


def test_large_list_pages_keep_the_list_order(db):
    from backoffice.admin.scale import EstimatedCountPaginator
    from core.billing.models import Invoice
    from tests.factories import InvoiceFactory

    made = [InvoiceFactory() for _ in range(5)]
    qs = Invoice.objects.select_related("customer__user", "currency").order_by("-created_at", "-id")
    paginator = EstimatedCountPaginator(qs, 2)
    assert paginator.count == 5
    assert [i.pk for i in paginator.page(1).object_list] == [made[4].pk, made[3].pk]
    assert [i.pk for i in paginator.page(3).object_list] == [made[0].pk]
    filtered = EstimatedCountPaginator(qs.filter(pk__in=[m.pk for m in made[:3]]), 2)
    assert filtered.count == 3 and [i.pk for i in filtered.page(2).object_list] == [made[0].pk]
