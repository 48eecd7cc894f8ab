"""A game server created with the egg the customer chose from the product's list (config egg_id/nest_id):
that egg's image, startup and variables, not the product's own egg's."""

import dataclasses
import json

import pytest
import respx

from integrations.platforms.pterodactyl.driver import PterodactylDriver

from . import test_pterodactyl as ptero

pytestmark = pytest.mark.django_db
VANILLA = json.loads((ptero.PAYLOADS / "egg_vanilla.json").read_text())


@pytest.fixture
def driver(connection):
    return PterodactylDriver(connection, sleep=lambda s: None)


connection = ptero.connection
request_ = ptero.request_


@respx.mock(assert_all_called=True)
def test_create_uses_the_chosen_egg_with_its_image_startup_and_variables(respx_mock, driver, request_):
    respx_mock.get(f"{ptero.APP}/servers/external/{ptero.SERVICE_UUID}").respond(
        404, json=ptero.load("error_not_found")
    )
    respx_mock.get(f"{ptero.APP}/users/external/1234").respond(404, json=ptero.load("error_not_found"))
    respx_mock.get(f"{ptero.APP}/users").respond(200, json=ptero.load("users_empty"))
    respx_mock.post(f"{ptero.APP}/users").respond(201, json=ptero.load("user"))
    egg = respx_mock.get(f"{ptero.APP}/nests/1/eggs/16", params={"include": "variables"}).respond(200, json=VANILLA)
    create = respx_mock.post(f"{ptero.APP}/servers", params={"include": "allocations"}).respond(
        201, json=ptero.server(egg=16)
    )
    request = dataclasses.replace(
        request_, config={"egg_id": 16, "nest_id": 1, "environment": {"VANILLA_VERSION": "1.21.1"}}
    )

    driver.create(request)

    assert egg.called
    body = ptero.body_of(create)
    assert body["egg"] == 16
    assert body["docker_image"] == "ghcr.io/pterodactyl/yolks:java_21"
    assert body["startup"] == VANILLA["attributes"]["startup"]
    # The product's MINECRAFT_VERSION belongs to its own egg (Paper): Vanilla does not declare it.
    assert body["environment"] == {"SERVER_JARFILE": "server.jar", "VANILLA_VERSION": "1.21.1"}


@respx.mock(assert_all_called=True)
def test_without_a_choice_the_products_egg_is_used(respx_mock, driver, request_):
    ptero.mock_lookups_none(respx_mock)
    respx_mock.post(f"{ptero.APP}/users").respond(201, json=ptero.load("user"))
    create = respx_mock.post(f"{ptero.APP}/servers", params={"include": "allocations"}).respond(
        201, json=ptero.server()
    )

    driver.create(request_)

    assert ptero.body_of(create)["egg"] == 5
