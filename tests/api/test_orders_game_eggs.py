"""Ordering a game server over the API: the catalog lists the product's eggs with their variables, and an
order names one (`options.egg`) with that egg's variables, checked before anything is written."""

from decimal import Decimal

import pytest

from core.billing.models import Order
from tests.factories import PriceFactory, ProductFactory

pytestmark = pytest.mark.django_db
V1 = "/api/v1"
EGGS = [
    {"id": 5, "label": "Paper", "nest_id": 1, "variables": [{"name": "MINECRAFT_VERSION", "default": "latest"}]},
    {"id": 16, "label": "Vanilla", "nest_id": 1, "variables": [{"name": "VANILLA_VERSION", "required": True}]},
]


@pytest.fixture
def game_price(world):
    product = ProductFactory(
        slug="mc-api", service_type="game_server", platform_connection=world.service.connection,
        order_options={"hostname": "none", "eggs": EGGS},
    )  # fmt: skip
    return PriceFactory(product=product, currency=world.customer.currency, amount=Decimal("12.00"))


def test_the_catalog_lists_the_eggs_and_their_variables(world, game_price):
    body = world.api.get(f"{V1}/catalog/products/mc-api").json()
    assert [e["id"] for e in body["order_options"]["eggs"]] == [5, 16]
    assert body["order_options"]["eggs"][1]["variables"][0]["name"] == "VANILLA_VERSION"


def test_an_order_with_a_missing_egg_variable_is_422_per_field_and_writes_nothing(world, game_price):
    items = [{"price_id": game_price.pk, "options": {"egg": 16}}]
    response = world.api.post(f"{V1}/orders", {"items": items}, key="mc-1")
    assert response.status_code == 422
    assert any("required" in m for messages in response.json()["fields"].values() for m in messages)
    assert not Order.objects.filter(items__price=game_price).exists()


def test_an_order_names_the_egg_and_its_variables(world, game_price):
    items = [{"price_id": game_price.pk, "options": {"egg": 16, "variables": {"VANILLA_VERSION": "1.21.1"}}}]
    response = world.api.post(f"{V1}/orders", {"items": items}, key="mc-2")
    assert response.status_code == 201, response.content
    item = Order.objects.get(uuid=response.json()["id"]).items.get()
    assert item.config == {"egg_id": 16, "nest_id": 1, "environment": {"VANILLA_VERSION": "1.21.1"}}
