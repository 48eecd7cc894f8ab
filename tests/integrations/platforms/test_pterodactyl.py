"""Pterodactyl driver against a mocked panel (respx). Payload shapes follow pterodactyl/panel 1.11 transformers."""

import copy
import json
import logging
from pathlib import Path

import httpx
import pytest
import respx

from core.provisioning.drivers import (
    AlreadyExists,
    BuildState,
    CapacityError,
    DriverError,
    NotFound,
    PowerAction,
    ProvisionRequest,
)
from integrations.platforms.pterodactyl.driver import PterodactylDriver, panel_username
from tests.factories import PlatformConnectionFactory, ServiceFactory

PAYLOADS = Path(__file__).parent / "payloads" / "pterodactyl"
PANEL = "https://panel.example.com"
APP = f"{PANEL}/api/application"
CLIENT = f"{PANEL}/api/client"
APP_KEY = "ptla_AppKeyS3cretValue0123456789abcdefghijklmnop"
CLIENT_KEY = "ptlc_ClientKeyS3cretValue0123456789abcdefghijkl"
SERVICE_UUID = "3f2a9c1b-7d4e-4a61-9b0c-5e8f7a6d2c10"
PASSWORD = "Game-Panel-Pw-8812x"

pytestmark = pytest.mark.django_db


def load(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def server(**changes) -> dict:
    body = copy.deepcopy(load("server"))
    body["attributes"].update(changes)
    return body


def body_of(route, index=-1) -> dict:
    return json.loads(route.calls[index].request.content)


@pytest.fixture
def connection():
    return PlatformConnectionFactory(
        name="ptero-main",
        platform="pterodactyl",
        base_url=PANEL,
        api_key=APP_KEY,
        api_secret=CLIENT_KEY,
        timeout_seconds=9,
    )


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def driver(connection, sleeps):
    return PterodactylDriver(connection, sleep=sleeps.append)


@pytest.fixture
def request_():
    return ProvisionRequest(
        external_id=SERVICE_UUID,
        customer_external_id="1234",
        customer_email="jane@example.com",
        customer_name="Jane Doe",
        hostname="mc1.example.net",
        product_settings={
            "nest_id": 1,
            "egg_id": 5,
            "location_id": 2,
            "port_range": ["25565-25600"],
            "databases": 1,
            "allocations": 2,
            "backups": 3,
            "environment": {"MINECRAFT_VERSION": "1.20.4"},
        },
        features={"cpu_cores": 2, "ram_mb": 4096, "disk_gb": 80},
        config={"environment": {"BUILD_NUMBER": "496", "DL_PATH": "https://evil.example/x.jar"}},
        password=PASSWORD,
    )


@pytest.fixture
def ptero_service(connection):
    return ServiceFactory(
        connection=connection,
        platform_service_id="77",
        platform_customer_id="42",
        platform_data={"server_id": 77, "identifier": "1a7ce997", "user_id": 42},
    )


def mock_lookups_none(mock):
    mock.get(f"{APP}/servers/external/{SERVICE_UUID}").respond(404, json=load("error_not_found"))
    mock.get(f"{APP}/users/external/1234").respond(404, json=load("error_not_found"))
    mock.get(f"{APP}/users").respond(200, json=load("users_empty"))
    mock.get(f"{APP}/nests/1/eggs/5").respond(200, json=load("egg"))


# -- create ---------------------------------------------------------------------------------


@respx.mock(assert_all_called=True)
def test_create_makes_the_user_and_server_with_egg_defaults_and_our_external_ids(respx_mock, driver, request_):
    mock_lookups_none(respx_mock)
    create_user = respx_mock.post(f"{APP}/users").respond(201, json=load("user"))
    create = respx_mock.post(f"{APP}/servers", params={"include": "allocations"}).respond(201, json=server())

    result = driver.create(request_)

    assert create.calls[0].request.headers["Authorization"] == f"Bearer {APP_KEY}"
    assert body_of(create_user) == {
        "email": "jane@example.com",
        "username": "jane1234",
        "first_name": "Jane",
        "last_name": "Doe",
        "external_id": "1234",
        "password": PASSWORD,
    }
    assert body_of(create) == {
        "name": "mc1.example.net",
        "user": 42,
        "egg": 5,
        "docker_image": "ghcr.io/pterodactyl/yolks:java_17",
        "startup": load("egg")["attributes"]["startup"],
        # egg defaults, then the product's, then the customer's user-editable ones (DL_PATH is not).
        "environment": {
            "MINECRAFT_VERSION": "1.20.4",
            "SERVER_JARFILE": "server.jar",
            "DL_PATH": "",
            "BUILD_NUMBER": "496",
        },
        "limits": {"memory": 4096, "swap": 0, "disk": 81920, "io": 500, "cpu": 200},
        "feature_limits": {"databases": 1, "allocations": 2, "backups": 3},
        "external_id": SERVICE_UUID,
        "description": "",
        "start_on_completion": True,
        "oom_disabled": True,
        "deploy": {"locations": [2], "dedicated_ip": False, "port_range": ["25565-25600"]},
    }
    assert result.platform_service_id == "77"
    assert result.platform_customer_id == "42"
    assert result.platform_data["identifier"] == "1a7ce997"
    assert result.platform_data["address"] == "fra1.games.example.net:25565"
    assert result.state == BuildState.BUILDING
    assert result.primary_ip == "203.0.113.50"
    assert result.ip_addresses == ["203.0.113.50"]
    assert result.username == "jane1234"
    assert result.credentials == {"username": "jane1234", "sftp_username": "jane1234.1a7ce997", "password": PASSWORD}
    assert result.adopted is False


@respx.mock(assert_all_called=False)
def test_create_adopts_the_server_that_already_carries_our_external_id(respx_mock, driver, request_):
    respx_mock.get(f"{APP}/servers/external/{SERVICE_UUID}").respond(200, json=server(status=None))
    respx_mock.get(f"{APP}/users/42").respond(200, json=load("user"))
    create = respx_mock.post(f"{APP}/servers")

    result = driver.create(request_)

    assert not create.called
    assert result.adopted is True
    assert result.state == BuildState.READY
    assert "password" not in result.credentials


@respx.mock(assert_all_called=False)
def test_create_colliding_on_external_id_looks_the_server_up_and_adopts_it(respx_mock, driver, request_):
    lookup = respx_mock.get(f"{APP}/servers/external/{SERVICE_UUID}")
    lookup.side_effect = [
        httpx.Response(404, json=load("error_not_found")),
        httpx.Response(200, json=server()),
    ]
    respx_mock.get(f"{APP}/users/external/1234").respond(200, json=load("user"))
    respx_mock.get(f"{APP}/nests/1/eggs/5").respond(200, json=load("egg"))
    create = respx_mock.post(f"{APP}/servers").respond(422, json=load("error_external_id_taken"))

    result = driver.create(request_)

    assert create.call_count == 1
    assert result.adopted is True
    assert result.platform_service_id == "77"


@respx.mock(assert_all_called=False)
def test_new_server_for_an_existing_panel_user_says_our_password_was_not_applied(respx_mock, driver, request_):
    respx_mock.get(f"{APP}/servers/external/{SERVICE_UUID}").respond(404, json=load("error_not_found"))
    respx_mock.get(f"{APP}/users/external/1234").respond(200, json=load("user"))
    respx_mock.get(f"{APP}/nests/1/eggs/5").respond(200, json=load("egg"))
    create_user = respx_mock.post(f"{APP}/users")
    respx_mock.post(f"{APP}/servers").respond(201, json=server())

    result = driver.create(request_)

    assert not create_user.called
    assert result.adopted is False
    assert result.password_applied is False
    assert "password" not in result.credentials


@respx.mock(assert_all_called=False)
def test_failure_after_creating_the_user_hands_back_the_user_for_the_retry(respx_mock, driver, request_):
    mock_lookups_none(respx_mock)
    respx_mock.post(f"{APP}/users").respond(201, json=load("user"))
    respx_mock.post(f"{APP}/servers").respond(400, json=load("error_no_viable_node"))

    with pytest.raises(CapacityError) as failure:
        driver.create(request_)

    assert failure.value.details["platform_customer_id"] == "42"
    assert failure.value.details["platform_data"] == {"user_id": 42, "user_created": True}

    # The retry finds that user again; our password is still its password.
    respx_mock.get(f"{APP}/users/42").respond(200, json=load("user"))
    respx_mock.post(f"{APP}/servers").respond(201, json=server())
    request_.existing = failure.value.details["platform_data"]

    result = driver.create(request_)

    assert result.password_applied is True
    assert result.credentials["password"] == PASSWORD


@respx.mock(assert_all_called=False)
def test_validation_error_becomes_a_driver_error_with_the_panel_message(respx_mock, driver, request_):
    mock_lookups_none(respx_mock)
    respx_mock.post(f"{APP}/users").respond(201, json=load("user"))
    respx_mock.post(f"{APP}/servers").respond(422, json=load("error_validation"))

    with pytest.raises(DriverError, match="The Server Jar File variable field is required.") as failure:
        driver.create(request_)

    assert failure.value.retryable is False
    assert failure.value.status_code == 422


@respx.mock(assert_all_called=False)
def test_no_viable_node_is_a_capacity_error(respx_mock, driver, request_):
    mock_lookups_none(respx_mock)
    respx_mock.post(f"{APP}/users").respond(201, json=load("user"))
    respx_mock.post(f"{APP}/servers").respond(400, json=load("error_no_viable_node"))

    with pytest.raises(CapacityError, match="No nodes satisfying"):
        driver.create(request_)


@respx.mock(assert_all_called=False)
def test_post_create_5xx_is_not_retried_and_the_next_attempt_adopts_by_external_id(respx_mock, driver, request_):
    mock_lookups_none(respx_mock)
    respx_mock.post(f"{APP}/users").respond(201, json=load("user"))
    create = respx_mock.post(f"{APP}/servers").respond(
        500,
        json={
            "errors": [
                {
                    "code": "HttpException",
                    "status": "500",
                    "detail": "An unexpected error was encountered while processing this request, please try again.",
                }
            ]
        },
    )

    with pytest.raises(DriverError) as failure:
        driver.create(request_)
    assert failure.value.retryable is True
    assert create.call_count == 1

    # The panel had stored the server before failing: the next attempt finds it first.
    respx_mock.get(f"{APP}/servers/external/{SERVICE_UUID}").respond(200, json=server())
    respx_mock.get(f"{APP}/users/42").respond(200, json=load("user"))

    result = driver.create(request_)

    assert create.call_count == 1
    assert result.adopted is True


@respx.mock(assert_all_called=False)
def test_create_timeout_is_retryable_and_not_resent(respx_mock, driver, request_):
    mock_lookups_none(respx_mock)
    respx_mock.post(f"{APP}/users").respond(201, json=load("user"))
    create = respx_mock.post(f"{APP}/servers").mock(side_effect=httpx.ReadTimeout("timed out"))

    with pytest.raises(DriverError) as failure:
        driver.create(request_)

    assert failure.value.retryable is True
    assert create.call_count == 1


@respx.mock(assert_all_called=False)
def test_create_with_an_explicit_allocation_sends_it_instead_of_deploy(respx_mock, driver, request_):
    request_.product_settings["allocation_id"] = 1201
    mock_lookups_none(respx_mock)
    respx_mock.post(f"{APP}/users").respond(201, json=load("user"))
    create = respx_mock.post(f"{APP}/servers").respond(201, json=server())

    driver.create(request_)

    sent = body_of(create)
    assert sent["allocation"] == {"default": 1201, "additional": []}
    assert "deploy" not in sent


@respx.mock(assert_all_called=False)
def test_create_resumes_with_the_recorded_user_and_does_not_look_it_up(respx_mock, driver, request_):
    request_.existing = {"user_id": 42}
    respx_mock.get(f"{APP}/servers/external/{SERVICE_UUID}").respond(404, json=load("error_not_found"))
    by_id = respx_mock.get(f"{APP}/users/42").respond(200, json=load("user"))
    by_external = respx_mock.get(f"{APP}/users/external/1234")
    respx_mock.get(f"{APP}/nests/1/eggs/5").respond(200, json=load("egg"))
    respx_mock.post(f"{APP}/servers").respond(201, json=server())

    result = driver.create(request_)

    assert by_id.called and not by_external.called
    assert "password" not in result.credentials  # an existing panel user keeps their password


@respx.mock(assert_all_called=False)
def test_existing_user_found_by_email_is_reused_when_unlinked(respx_mock, driver, request_):
    unlinked = load("user")
    unlinked["attributes"]["external_id"] = None
    respx_mock.get(f"{APP}/servers/external/{SERVICE_UUID}").respond(404, json=load("error_not_found"))
    respx_mock.get(f"{APP}/users/external/1234").respond(404, json=load("error_not_found"))
    page = {
        "object": "list",
        "data": [unlinked],
        "meta": {
            "pagination": {"total": 1, "count": 1, "per_page": 100, "current_page": 1, "total_pages": 1, "links": {}}
        },
    }
    search = respx_mock.get(f"{APP}/users").respond(200, json=page)
    create_user = respx_mock.post(f"{APP}/users")
    respx_mock.get(f"{APP}/nests/1/eggs/5").respond(200, json=load("egg"))
    respx_mock.post(f"{APP}/servers").respond(201, json=server())

    result = driver.create(request_)

    assert search.calls[0].request.url.params["filter[email]"] == "jane@example.com"
    assert not create_user.called
    assert result.platform_customer_id == "42"


@respx.mock(assert_all_called=False)
def test_email_owned_by_another_external_id_is_refused(respx_mock, driver, request_):
    other = load("user")
    other["attributes"]["external_id"] = "999"
    respx_mock.get(f"{APP}/servers/external/{SERVICE_UUID}").respond(404, json=load("error_not_found"))
    respx_mock.get(f"{APP}/users/external/1234").respond(404, json=load("error_not_found"))
    respx_mock.get(f"{APP}/users").respond(
        200,
        json={
            "object": "list",
            "data": [other],
            "meta": {
                "pagination": {
                    "total": 1,
                    "count": 1,
                    "per_page": 100,
                    "current_page": 1,
                    "total_pages": 1,
                    "links": {},
                }
            },
        },
    )

    with pytest.raises(AlreadyExists, match="belongs to external id 999") as failure:
        driver.create(request_)

    assert failure.value.retryable is False


@respx.mock(assert_all_called=False)
def test_taken_username_is_retried_once_with_another(respx_mock, driver, request_):
    mock_lookups_none(respx_mock)
    create_user = respx_mock.post(f"{APP}/users")
    create_user.side_effect = [
        httpx.Response(422, json=load("error_username_taken")),
        httpx.Response(201, json=load("user")),
    ]
    respx_mock.post(f"{APP}/servers").respond(201, json=server())

    driver.create(request_)

    assert create_user.call_count == 2
    first, second = body_of(create_user, 0)["username"], body_of(create_user, 1)["username"]
    assert first == "jane1234" and second != first and second.startswith("jane1234")


def test_panel_usernames_follow_the_panel_rules():
    assert panel_username("Jane.Doe+promo@example.com", "1234") == "jane.doepromo1234"
    assert panel_username("..@example.com", "7") == "user7"
    assert panel_username("-a-@example.com", "") == "a00"


# -- build status ---------------------------------------------------------------------------


@respx.mock(assert_all_called=False)
def test_build_status_follows_the_install_to_ready_with_ips(respx_mock, driver, ptero_service):
    route = respx_mock.get(f"{APP}/servers/77", params={"include": "allocations"})
    route.respond(200, json=server())
    assert driver.build_status(ptero_service).state == BuildState.BUILDING

    route.respond(200, json=server(status=None))
    status = driver.build_status(ptero_service)

    assert status.state == BuildState.READY
    assert status.primary_ip == "203.0.113.50"
    assert status.ip_addresses == ["203.0.113.50"]


@respx.mock(assert_all_called=False)
def test_build_status_reports_a_failed_install(respx_mock, driver, ptero_service):
    respx_mock.get(f"{APP}/servers/77").respond(200, json=server(status="install_failed"))

    assert driver.build_status(ptero_service).state == BuildState.FAILED


@respx.mock(assert_all_called=False)
def test_service_without_a_recorded_id_is_found_by_external_id(respx_mock, driver, connection):
    service = ServiceFactory(connection=connection, platform_service_id="", platform_data={})
    respx_mock.get(f"{APP}/servers/external/{service.uuid}").respond(200, json=server(id=88))
    suspend = respx_mock.post(f"{APP}/servers/88/suspend").respond(204)

    driver.suspend(service)

    assert suspend.called


# -- lifecycle ------------------------------------------------------------------------------


@respx.mock(assert_all_called=True)
def test_suspend_and_unsuspend_use_the_numeric_id(respx_mock, driver, ptero_service):
    respx_mock.post(f"{APP}/servers/77/suspend").respond(204)
    respx_mock.post(f"{APP}/servers/77/unsuspend").respond(204)

    driver.suspend(ptero_service)
    driver.unsuspend(ptero_service)


@respx.mock(assert_all_called=False)
def test_suspend_during_a_transfer_is_a_retryable_conflict(respx_mock, driver, ptero_service):
    respx_mock.post(f"{APP}/servers/77/suspend").respond(409, json=load("error_conflict"))

    with pytest.raises(DriverError, match="not yet completed its installation") as failure:
        driver.suspend(ptero_service)

    assert failure.value.retryable is True


@respx.mock(assert_all_called=False)
def test_suspend_of_a_missing_server_raises_not_found(respx_mock, driver, ptero_service):
    respx_mock.post(f"{APP}/servers/77/suspend").respond(404, json=load("error_not_found"))

    with pytest.raises(NotFound):
        driver.suspend(ptero_service)


@respx.mock(assert_all_called=False)
def test_terminate_deletes_and_counts_a_gone_server_as_success(respx_mock, driver, ptero_service):
    route = respx_mock.delete(f"{APP}/servers/77").respond(204)
    driver.terminate(ptero_service)
    assert route.called

    route.respond(404, json=load("error_not_found"))
    driver.terminate(ptero_service)


@respx.mock(assert_all_called=False)
def test_terminate_with_a_dead_node_fails_unless_forcing_is_configured(respx_mock, connection, ptero_service, sleeps):
    respx_mock.delete(f"{APP}/servers/77").respond(504, json=load("error_daemon"))
    force = respx_mock.delete(f"{APP}/servers/77/force").respond(204)

    with pytest.raises(DriverError) as failure:
        PterodactylDriver(connection, sleep=sleeps.append).terminate(ptero_service)
    assert failure.value.retryable is True
    assert not force.called

    connection.defaults = {"force_delete_on_daemon_error": True}
    PterodactylDriver(connection, sleep=sleeps.append).terminate(ptero_service)
    assert force.call_count == 1


@respx.mock(assert_all_called=False)
def test_change_package_patches_limits_keeping_the_default_allocation(respx_mock, driver, ptero_service):
    respx_mock.get(f"{APP}/servers/77").respond(200, json=server(status=None))
    build = respx_mock.patch(f"{APP}/servers/77/build").respond(200, json=server(status=None))
    startup = respx_mock.patch(f"{APP}/servers/77/startup")

    driver.change_package(
        ptero_service,
        {"nest_id": 1, "egg_id": 5, "databases": 2, "allocations": 3, "backups": 5},
        {"ram_mb": 8192, "disk_gb": 120, "cpu_cores": 4},
    )

    assert body_of(build) == {
        "allocation": 1201,
        "limits": {"memory": 8192, "swap": 0, "disk": 122880, "io": 500, "cpu": 400},
        "feature_limits": {"databases": 2, "allocations": 3, "backups": 5},
    }
    assert not startup.called  # same egg, image and startup: nothing to rewrite


@respx.mock(assert_all_called=False)
def test_change_package_to_another_egg_rewrites_startup_with_every_variable(respx_mock, driver, ptero_service):
    respx_mock.get(f"{APP}/servers/77").respond(200, json=server(status=None))
    respx_mock.patch(f"{APP}/servers/77/build").respond(200, json=server(status=None))
    other_egg = load("egg")
    other_egg["attributes"]["id"] = 6
    other_egg["attributes"]["docker_image"] = "ghcr.io/pterodactyl/yolks:java_21"
    respx_mock.get(f"{APP}/nests/1/eggs/6").respond(200, json=other_egg)
    startup = respx_mock.patch(f"{APP}/servers/77/startup").respond(200, json=server(status=None))

    driver.change_package(ptero_service, {"nest_id": 1, "egg_id": 6}, {"ram_mb": 4096, "disk_gb": 80, "cpu_cores": 2})

    assert body_of(startup) == {
        "startup": other_egg["attributes"]["startup"],
        "environment": {
            "MINECRAFT_VERSION": "1.20.4",
            "SERVER_JARFILE": "server.jar",
            "DL_PATH": "",
            "BUILD_NUMBER": "latest",
        },
        "egg": 6,
        "image": "ghcr.io/pterodactyl/yolks:java_21",
        "skip_scripts": False,
    }


@respx.mock(assert_all_called=False)
def test_customer_startup_changes_only_touch_user_editable_variables(respx_mock, driver, ptero_service):
    respx_mock.get(f"{APP}/servers/77").respond(200, json=server(status=None))
    respx_mock.get(f"{APP}/nests/1/eggs/5").respond(200, json=load("egg"))
    startup = respx_mock.patch(f"{APP}/servers/77/startup").respond(200, json=server(status=None))

    driver.update_startup(ptero_service, {"MINECRAFT_VERSION": "1.21", "DL_PATH": "https://evil.example/x.jar"})

    sent = body_of(startup)
    assert sent["environment"]["MINECRAFT_VERSION"] == "1.21"
    assert sent["environment"]["DL_PATH"] == ""
    assert sent["image"] == "ghcr.io/pterodactyl/yolks:java_17"
    assert "P_SERVER_UUID" not in sent["environment"]


@pytest.mark.parametrize(
    ("action", "signal"),
    [
        (PowerAction.BOOT, "start"),
        (PowerAction.SHUTDOWN, "stop"),
        (PowerAction.RESTART, "restart"),
        (PowerAction.HARD_STOP, "kill"),
    ],
)
@respx.mock(assert_all_called=True)
def test_power_sends_the_signal_through_the_client_api_key(respx_mock, driver, ptero_service, action, signal):
    route = respx_mock.post(f"{CLIENT}/servers/1a7ce997/power").respond(204)

    driver.power(ptero_service, action)

    assert body_of(route) == {"signal": signal}
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {CLIENT_KEY}"


def test_power_without_a_client_key_says_what_to_configure(connection, ptero_service):
    connection.api_secret = ""
    with pytest.raises(DriverError, match="no client API key"):
        PterodactylDriver(connection).power(ptero_service, PowerAction.BOOT)


@respx.mock(assert_all_called=True)
def test_usage_combines_live_stats_and_limits(respx_mock, driver, ptero_service):
    respx_mock.get(f"{APP}/servers/77").respond(200, json=server(status=None))
    respx_mock.get(f"{CLIENT}/servers/1a7ce997/resources").respond(200, json=load("resources"))

    usage = driver.usage(ptero_service)

    assert usage.power_state == "running"
    assert usage.cpu_percent == 37.52
    assert usage.memory_bytes == 1862270976
    assert usage.memory_limit_bytes == 4096 * 1024 * 1024
    assert usage.disk_bytes == 2147483648
    assert usage.disk_limit_bytes == 81920 * 1024 * 1024
    assert usage.traffic_in_bytes == 734003200
    assert usage.traffic_out_bytes == 1468006400
    assert usage.raw["uptime_ms"] == 5400000


@respx.mock(assert_all_called=True)
def test_usage_of_a_suspended_server_falls_back_to_limits(respx_mock, driver, ptero_service):
    respx_mock.get(f"{APP}/servers/77").respond(200, json=server(status="suspended", suspended=True))
    respx_mock.get(f"{CLIENT}/servers/1a7ce997/resources").respond(409, json=load("error_conflict"))

    usage = driver.usage(ptero_service)

    assert usage.power_state == "suspended"
    assert usage.memory_bytes is None
    assert usage.memory_limit_bytes == 4096 * 1024 * 1024


@respx.mock(assert_all_called=True)
def test_reset_credentials_sends_the_full_profile_with_the_new_password(respx_mock, driver, ptero_service):
    respx_mock.get(f"{APP}/users/42").respond(200, json=load("user"))
    update = respx_mock.patch(f"{APP}/users/42").respond(200, json=load("user"))

    credentials = driver.reset_credentials(ptero_service, "New-Pass-For-Jane-1")

    assert body_of(update) == {
        "email": "jane@example.com",
        "username": "jane1234",
        "first_name": "Jane",
        "last_name": "Doe",
        "external_id": "1234",
        "language": "en",
        "password": "New-Pass-For-Jane-1",
    }
    assert credentials == {"username": "jane1234", "password": "New-Pass-For-Jane-1"}


def test_panel_url_points_at_the_server_page(driver, ptero_service):
    assert driver.panel_url(ptero_service) == f"{PANEL}/server/1a7ce997"


# -- connection and capacity -----------------------------------------------------------------


@respx.mock(assert_all_called=True)
def test_check_verifies_both_keys(respx_mock, driver):
    nodes = respx_mock.get(f"{APP}/nodes").respond(200, json=load("nodes_page2"))
    account = respx_mock.get(f"{CLIENT}/account").respond(200, json=load("account"))

    result = driver.check()

    assert result.ok and result.authenticated and result.reachable
    assert nodes.calls[0].request.headers["Authorization"] == f"Bearer {APP_KEY}"
    assert account.calls[0].request.headers["Authorization"] == f"Bearer {CLIENT_KEY}"


@respx.mock(assert_all_called=False)
def test_check_reports_a_rejected_application_key(respx_mock, driver):
    respx_mock.get(f"{APP}/nodes").respond(401, json=load("error_unauthenticated"))

    result = driver.check()

    assert result.reachable is True and result.authenticated is False and result.ok is False
    assert "Unauthenticated" in result.message


@respx.mock(assert_all_called=False)
def test_check_capacity_pages_nodes_and_applies_overallocation(respx_mock, driver):
    nodes = respx_mock.get(f"{APP}/nodes")
    nodes.side_effect = [httpx.Response(200, json=load("nodes_page1")), httpx.Response(200, json=load("nodes_page2"))]
    full_node = respx_mock.get(f"{APP}/nodes/3/allocations")
    roomy = respx_mock.get(f"{APP}/nodes/5/allocations").respond(200, json=load("allocations"))

    # fra-node-1 has 2 GB left; fra-node-2 is over its 32 GB but has 25% overallocation.
    driver.check_capacity({"location_id": 2, "port_range": ["25565-25600"]}, {"ram_mb": 4096, "disk_gb": 80})

    assert nodes.calls[1].request.url.params["page"] == "2"
    assert not full_node.called
    assert roomy.called


@respx.mock(assert_all_called=False)
def test_check_capacity_raises_without_a_free_allocation_in_range(respx_mock, driver):
    respx_mock.get(f"{APP}/nodes").side_effect = [
        httpx.Response(200, json=load("nodes_page1")),
        httpx.Response(200, json=load("nodes_page2")),
    ]
    respx_mock.get(f"{APP}/nodes/5/allocations").respond(200, json=load("allocations"))

    with pytest.raises(CapacityError, match="fra-node-1: not enough memory; fra-node-2: no free allocation"):
        driver.check_capacity({"location_id": 2, "port_range": ["27015-27030"]}, {"ram_mb": 4096, "disk_gb": 80})


@respx.mock(assert_all_called=False)
def test_check_capacity_with_dedicated_ip_needs_a_wholly_free_ip(respx_mock, driver):
    respx_mock.get(f"{APP}/nodes").side_effect = [
        httpx.Response(200, json=load("nodes_page1")),
        httpx.Response(200, json=load("nodes_page2")),
    ]
    respx_mock.get(f"{APP}/nodes/3/allocations").respond(200, json=load("allocations"))
    respx_mock.get(f"{APP}/nodes/5/allocations").respond(200, json=load("allocations"))

    # Both nodes have room and a free port, but on an IP that already serves another server.
    with pytest.raises(CapacityError, match="fra-node-1: no free allocation; fra-node-2: no free allocation"):
        driver.check_capacity({"location_id": 2, "dedicated_ip": True}, {"ram_mb": 1024, "disk_gb": 10})


# -- HTTP behaviour ---------------------------------------------------------------------------


@respx.mock(assert_all_called=True)
def test_429_is_retried_after_retry_after(respx_mock, driver, ptero_service, sleeps):
    route = respx_mock.post(f"{APP}/servers/77/suspend")
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "4", "X-RateLimit-Limit": "240"}, json=load("error_throttled")),
        httpx.Response(204),
    ]

    driver.suspend(ptero_service)

    assert route.call_count == 2
    assert sleeps == [4.0]


@respx.mock(assert_all_called=True)
def test_5xx_on_a_get_is_retried(respx_mock, driver, ptero_service, sleeps):
    route = respx_mock.get(f"{APP}/servers/77")
    route.side_effect = [httpx.Response(502), httpx.Response(200, json=server(status=None))]

    assert driver.build_status(ptero_service).state == BuildState.READY
    assert route.call_count == 2
    assert len(sleeps) == 1


def test_clients_use_the_connection_timeout(driver):
    assert driver.app._client.timeout.read == 9
    assert driver.client_api._client.timeout.read == 9


@respx.mock(assert_all_called=False)
def test_keys_and_passwords_stay_out_of_logs_and_captured_requests(respx_mock, driver, request_, ptero_service, caplog):
    caplog.set_level(logging.DEBUG)
    mock_lookups_none(respx_mock)
    respx_mock.post(f"{APP}/users").respond(201, json=load("user"))
    respx_mock.post(f"{APP}/servers").respond(201, json=server())
    respx_mock.get(f"{APP}/users/42").respond(200, json=load("user"))
    respx_mock.patch(f"{APP}/users/42").respond(200, json=load("user"))
    respx_mock.post(f"{CLIENT}/servers/1a7ce997/power").respond(204)

    driver.create(request_)
    seen = [repr(driver.app.last_request)]
    driver.reset_credentials(ptero_service, "Rotated-Secret-Pw-77")
    seen.append(repr(driver.app.last_request))
    driver.power(ptero_service, PowerAction.RESTART)
    seen.append(repr(driver.client_api.last_request))

    for secret in (APP_KEY, CLIENT_KEY, PASSWORD, "Rotated-Secret-Pw-77"):
        assert secret not in caplog.text
        assert all(secret not in s for s in seen)
    assert "[REDACTED]" in seen[1]
