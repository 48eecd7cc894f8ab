"""The admin home shows KPI cards and chart data from the analytics queries."""

import json
from decimal import Decimal

from django.urls import reverse

from tests.factories import CurrencyFactory, CustomerFactory, PaymentFactory, PriceFactory, SubscriptionFactory


def test_dashboard_shows_converted_kpis_and_chart_data(staff_client, db):
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    eur = CurrencyFactory(code="EUR", exchange_rate=Decimal("0.5"))
    SubscriptionFactory(
        price=PriceFactory(currency=usd, amount=Decimal("30.00")), customer=CustomerFactory(currency=usd)
    )
    SubscriptionFactory(
        price=PriceFactory(currency=eur, cycle="annual", amount=Decimal("120.00")),
        customer=CustomerFactory(currency=eur),
    )
    PaymentFactory(customer=CustomerFactory(currency=usd), amount=Decimal("42.00"))

    response = staff_client.get(reverse("admin:index"))
    body = response.content.decode()
    assert response.status_code == 200
    # 30 USD + 10 EUR / 0.5 = 50 USD a month, converted and labelled as such
    assert "MRR (converted to USD)" in body
    assert "USD 50.00" in body
    assert "ARR (converted to USD)" in body
    assert "USD 600.00" in body
    for title in ("Active services", "Overdue invoices", "Open tickets", "Churn, last 30 days"):
        assert title in body
    revenue = json.loads(response.context["revenue_chart"])
    assert revenue["datasets"][0]["label"] == "USD"
    assert revenue["datasets"][0]["data"][-1] == "42.00"
    assert len(revenue["labels"]) == 12
    mrr = json.loads(response.context["mrr_chart"])
    assert dict(zip(mrr["labels"], mrr["datasets"][0]["data"], strict=True)) == {"EUR": "10.00", "USD": "30.00"}
    assert 'data-type="bar"' in body
