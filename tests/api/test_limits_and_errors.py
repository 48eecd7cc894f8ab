"""Rate limit per token (429 + Retry-After), 422 with field errors, pagination order."""

import datetime as dt

import pytest

from core import clock
from core.provisioning.models import Service
from tests.api.conftest import Api, token_for
from tests.factories import PriceFactory, ServiceFactory


def test_rate_limit_is_per_token_with_retry_after(world, settings):
    settings.API_RATE_LIMIT = "3/m"
    answers = [world.api.get("/api/v1/account").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    limited = world.api.get("/api/v1/account")
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    other_token = Api(token_for(world.customer, name="second"))
    assert other_token.get("/api/v1/account").status_code == 200


@pytest.mark.parametrize("rate, expected", [("600/m", (600, 60)), ("20/s", (20, 1)), ("1000/10m", (1000, 600))])
def test_rate_parsing(rate, expected):
    from portal.api.auth import parse_rate

    assert parse_rate(rate) == expected


def test_invalid_input_answers_422_with_field_errors(world):
    bad_order = world.api.post("/api/v1/orders", {"items": [{"price_id": world.price.pk, "quantity": 0}]})
    assert bad_order.status_code == 422
    assert bad_order.json()["code"] == "invalid_request"
    assert "items.0.quantity" in bad_order.json()["fields"]

    unknown_price = world.api.post("/api/v1/orders/preview", {"items": [{"price_id": 999999}]})
    assert unknown_price.status_code == 422
    assert unknown_price.json()["fields"] == {"items.0.price_id": ["No such price."]}

    bad_status = world.api.get("/api/v1/services", {"status": "nonsense"})
    assert bad_status.status_code == 422 and "status" in bad_status.json()["fields"]

    bad_country = world.api.patch("/api/v1/account", {"country": "Germany"})
    assert bad_country.status_code == 422 and "country" in bad_country.json()["fields"]

    not_json = world.api.client.post("/api/v1/orders", "{not json", content_type="application/json",
                                     headers={"Authorization": f"Bearer {world.secret}"})  # fmt: skip
    assert not_json.status_code == 422 and not_json.json()["code"] == "invalid_json"

    reversed_dates = world.api.get("/api/v1/invoices", {"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert reversed_dates.status_code == 422


def test_product_option_errors_name_the_item_and_option(world):
    product = world.price.product
    product.order_options = {"hostname": "required", "locations": [{"id": 1, "name": "Frankfurt"}]}
    product.save()
    response = world.api.post("/api/v1/orders/preview", {"items": [
        {"price_id": world.price.pk, "options": {"hostname": "-bad-", "location": 7}}]})  # fmt: skip
    assert response.status_code == 422, response.content
    fields = response.json()["fields"]
    assert set(fields) == {"items.0.options.hostname", "items.0.options.location"}


def test_domain_errors_answer_422_with_a_code(world):
    response = world.api.post(f"/api/v1/services/{world.service.uuid}/change-plan/preview",
                              {"price_id": world.price.pk})  # fmt: skip
    assert response.status_code == 422
    assert response.json()["code"] == "subscription"
    assert "already on this plan" in response.json()["message"]


def test_pages_are_stable_and_newest_first(world):
    base = clock.now()
    for _ in range(7):  # same created_at: the id decides the order
        ServiceFactory(customer=world.customer, product=world.price.product, created_at=base - dt.timedelta(days=1))
    ids, page = [], 1
    while True:
        body = world.api.get("/api/v1/services", {"page": page, "page_size": 3}).json()
        assert body["count"] == 8
        if not body["items"]:
            break
        ids += [s["id"] for s in body["items"]]
        page += 1
    expected = [str(u) for u in Service.objects.filter(customer=world.customer).order_by("-created_at", "-id")
                .values_list("uuid", flat=True)]  # fmt: skip
    assert ids == expected and len(set(ids)) == 8
    assert world.api.get("/api/v1/services", {"page_size": 101}).status_code == 422


def test_filters_on_status_and_dates(world):
    old = ServiceFactory(customer=world.customer, product=world.price.product, status="terminated",
                         created_at=clock.now() - dt.timedelta(days=400))  # fmt: skip
    terminated = world.api.get("/api/v1/services", {"status": "terminated"}).json()
    assert [s["id"] for s in terminated["items"]] == [str(old.uuid)]
    day = old.created_at.date().isoformat()
    same_day = world.api.get("/api/v1/services", {"date_from": day, "date_to": day}).json()
    assert [s["id"] for s in same_day["items"]] == [str(old.uuid)]
    today = clock.today().isoformat()
    assert world.api.get("/api/v1/invoices", {"date_from": today}).json()["count"] == 1
    assert world.api.get("/api/v1/invoices", {"date_to": "2000-01-01"}).json()["count"] == 0


def test_listing_services_costs_the_same_queries_for_1_or_30_rows(world, django_assert_max_num_queries):
    world.api.get("/api/v1/services")  # the token's last-used write happens at most once a minute
    with django_assert_max_num_queries(2):  # the token; the page with its total (COUNT(*) OVER ())
        assert world.api.get("/api/v1/services").json()["count"] == 1
    for _ in range(29):
        ServiceFactory(customer=world.customer, product=world.price.product)
    with django_assert_max_num_queries(2):
        assert len(world.api.get("/api/v1/services", {"page_size": 100}).json()["items"]) == 30


def test_a_plan_in_another_cycle_is_refused_on_the_price_id_field(world):
    yearly = PriceFactory(product=world.bigger_price.product, currency=world.price.currency, cycle="annual")
    response = world.api.post(f"/api/v1/services/{world.service.uuid}/change-plan/preview", {"price_id": yearly.pk})
    assert response.status_code == 422
    assert list(response.json()["fields"]) == ["price_id"]


def test_lists_refuse_unknown_query_parameters(world):
    response = world.api.get("/api/v1/invoices", {"stauts": "paid"})
    assert response.status_code == 422
    assert response.json()["fields"] == {"stauts": ["Unknown query parameter."]}
    assert world.api.get("/api/v1/invoices", {"status": "paid", "page": 1}).status_code == 200
