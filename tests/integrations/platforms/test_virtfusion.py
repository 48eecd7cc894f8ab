"""VirtFusion driver against a mocked panel (respx). Payload shapes follow VirtFusion's API spec."""

import copy
import json
import logging
from pathlib import Path

import httpx
import pytest
import respx

from core.provisioning.drivers import (
    BuildState,
    CapacityError,
    CustomerService,
    DriverError,
    NotFound,
    PowerAction,
    ProvisionRequest,
)
from integrations.platforms.virtfusion.driver import VirtFusionDriver, server_marker
from tests.factories import PlatformConnectionFactory, ServiceFactory

PAYLOADS = Path(__file__).parent / "payloads" / "virtfusion"
API = "https://cp.example.com/api/v1"
TOKEN = "vf-token-Zq81sEcReT"
SERVICE_UUID = "3f2a9c1b-7d4e-4a61-9b0c-5e8f7a6d2c10"
MARKER = "vps-3f2a9c1b7d4e"
ROOT_PASSWORD = "Vf-Root-Initial-55xz"

pytestmark = pytest.mark.django_db


def load(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def server(**changes) -> dict:
    """The spec-shaped server object with some fields changed (e.g. built, name)."""
    body = copy.deepcopy(load("server"))
    body["data"].update(changes)
    return body


def built_server(**changes) -> dict:
    fields = {"name": MARKER, "hostname": "vps1.example.net", "built": "2026-11-26T07:45:00+00:00", **changes}
    body = server(**fields)
    body["data"]["settings"]["decryptedPassword"] = ROOT_PASSWORD
    return body


@pytest.fixture
def connection():
    return PlatformConnectionFactory(
        name="vf-main", platform="virtfusion", base_url="https://cp.example.com", api_key=TOKEN, timeout_seconds=12
    )


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def driver(connection, sleeps):
    return VirtFusionDriver(connection, sleep=sleeps.append)


@pytest.fixture
def request_():
    return ProvisionRequest(
        external_id=SERVICE_UUID,
        customer_external_id="1234",
        customer_email="jane@example.com",
        customer_name="Jane Doe",
        hostname="vps1.example.net",
        product_settings={"package_id": 3, "hypervisor_group_id": 2, "os_template_id": None},
        features={"cpu_cores": 2, "ram_mb": 4096, "disk_gb": 80, "bandwidth_quota_gb": 2000},
        config={"os_template_id": 12},
        password="ours-unused-Pw1",
    )


@pytest.fixture
def vf_service(connection):
    return ServiceFactory(
        connection=connection,
        platform_service_id="412",
        platform_customer_id="57",
        platform_data={"server_id": 412, "user_id": 57, "ext_relation_id": "1234"},
        username="root",
    )


def body_of(route, index=-1) -> dict:
    return json.loads(route.calls[index].request.content)


# -- create ---------------------------------------------------------------------------------


@respx.mock(base_url=API, assert_all_called=True)
def test_create_makes_user_then_server_then_build_and_returns_ids_ips_and_root_password(respx_mock, driver, request_):
    lookup = respx_mock.get("/users/1234/byExtRelation").respond(404, json={"msg": "user not found"})
    create_user = respx_mock.post("/users").respond(201, json=load("user_created"))
    listing = respx_mock.get("/servers/user/57").respond(200, json={"data": []})
    create = respx_mock.post("/servers").respond(201, json=server())
    build = respx_mock.post("/servers/412/build").respond(200, json=built_server(built=None))

    result = driver.create(request_)

    assert lookup.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert body_of(create_user) == {
        "name": "Jane Doe",
        "email": "jane@example.com",
        "extRelationId": 1234,
        "sendMail": False,
    }
    assert listing.called
    assert body_of(create) == {
        "packageId": 3,
        "userId": 57,
        "hypervisorId": 2,
        "ipv4": 1,
        "memory": 4096,
        "cpuCores": 2,
        "storage": 80,
    }
    assert body_of(build) == {
        "operatingSystemId": 12,
        "name": MARKER,
        "hostname": "vps1.example.net",
        "ipv6": True,
        "email": False,
    }
    assert result.platform_service_id == "412"
    assert result.platform_customer_id == "57"
    assert result.platform_data["server_id"] == 412
    assert result.platform_data["name"] == MARKER
    assert result.platform_data["ipv6_subnets"] == ["2001:db8:42:17::/64"]
    assert result.state == BuildState.BUILDING
    assert result.primary_ip == "198.51.100.23"
    assert result.ip_addresses == ["198.51.100.23"]
    assert result.credentials["username"] == "root"
    assert result.credentials["password"] == ROOT_PASSWORD
    assert result.credentials["panel_password"] == "Pn4-panel-Generated-7q"
    assert result.adopted is False


@respx.mock(base_url=API, assert_all_called=False)
def test_create_reuses_the_user_linked_by_ext_relation_id(respx_mock, driver, request_):
    respx_mock.get("/users/1234/byExtRelation").respond(200, json=load("user"))
    create_user = respx_mock.post("/users")
    respx_mock.get("/servers/user/57").respond(200, json={"data": []})
    respx_mock.post("/servers").respond(201, json=server())
    respx_mock.post("/servers/412/build").respond(200, json=built_server(built=None))

    result = driver.create(request_)

    assert not create_user.called
    assert result.platform_customer_id == "57"
    assert "panel_password" not in result.credentials


@respx.mock(base_url=API, assert_all_called=False)
def test_create_resumes_a_recorded_server_without_creating_another(respx_mock, driver, request_):
    request_.existing = {"user_id": 57, "server_id": 412}
    users = respx_mock.route(path__startswith="/api/v1/users")
    create = respx_mock.post("/servers")
    respx_mock.get("/servers/412").respond(200, json=server())
    build = respx_mock.post("/servers/412/build").respond(200, json=built_server(built=None))

    result = driver.create(request_)

    assert not users.called and not create.called
    assert build.call_count == 1
    assert result.adopted is True
    assert result.platform_service_id == "412"


@respx.mock(base_url=API, assert_all_called=False)
def test_create_adopts_a_server_already_built_under_our_marker_without_rebuilding(respx_mock, driver, request_):
    respx_mock.get("/users/1234/byExtRelation").respond(200, json=load("user"))
    respx_mock.get("/servers/user/57").respond(200, json={"data": [built_server()["data"]]})
    create = respx_mock.post("/servers")
    build = respx_mock.post("/servers/412/build")

    result = driver.create(request_)

    assert not create.called and not build.called
    assert result.adopted is True
    assert result.state == BuildState.READY
    assert result.primary_ip == "198.51.100.23"


@respx.mock(base_url=API, assert_all_called=False)
def test_post_create_5xx_is_not_retried_and_the_next_attempt_adopts_the_unbuilt_server(respx_mock, driver, request_):
    respx_mock.get("/users/1234/byExtRelation").respond(200, json=load("user"))
    listing = respx_mock.get("/servers/user/57")
    listing.respond(200, json={"data": []})
    create = respx_mock.post("/servers").respond(502, json={"msg": "Bad gateway"})

    with pytest.raises(DriverError) as failure:
        driver.create(request_)
    assert failure.value.retryable is True
    assert create.call_count == 1  # a POST is never retried blindly

    # The panel had in fact created server 412 (no name of ours yet: the build never ran).
    listing.respond(200, json={"data": [server()["data"]]})
    build = respx_mock.post("/servers/412/build").respond(200, json=built_server(built=None))

    result = driver.create(request_)

    assert create.call_count == 1
    assert build.call_count == 1
    assert result.adopted is True
    assert result.platform_service_id == "412"


@respx.mock(base_url=API, assert_all_called=False)
def test_create_timeout_is_a_retryable_driver_error_and_is_not_resent(respx_mock, driver, request_):
    respx_mock.get("/users/1234/byExtRelation").respond(200, json=load("user"))
    respx_mock.get("/servers/user/57").respond(200, json={"data": []})
    create = respx_mock.post("/servers").mock(side_effect=httpx.ReadTimeout("timed out"))

    with pytest.raises(DriverError) as failure:
        driver.create(request_)

    assert failure.value.retryable is True
    assert create.call_count == 1


@pytest.mark.parametrize("is_terminated", [False, True])
@respx.mock(base_url=API, assert_all_called=False)
def test_create_does_not_adopt_an_unbuilt_server_another_service_owns(respx_mock, driver, request_, is_terminated):
    request_.customer_services = [CustomerService(platform_service_id="412", is_terminated=is_terminated)]
    respx_mock.get("/users/1234/byExtRelation").respond(200, json=load("user"))
    respx_mock.get("/servers/user/57").respond(200, json={"data": [server()["data"]]})
    create = respx_mock.post("/servers").respond(201, json=server(id=413))
    respx_mock.post("/servers/413/build").respond(200, json=built_server(id=413, built=None))

    result = driver.create(request_)

    assert create.called
    assert result.platform_service_id == "413"
    assert result.adopted is False


@respx.mock(base_url=API, assert_all_called=False)
def test_create_refuses_to_guess_between_two_unknown_unbuilt_servers(respx_mock, driver, request_):
    respx_mock.get("/users/1234/byExtRelation").respond(200, json=load("user"))
    respx_mock.get("/servers/user/57").respond(200, json={"data": [server()["data"], server(id=413)["data"]]})
    create = respx_mock.post("/servers")

    with pytest.raises(DriverError, match="2 unbuilt servers") as failure:
        driver.create(request_)

    assert failure.value.retryable is False
    assert not create.called


@respx.mock(base_url=API, assert_all_called=False)
def test_build_validation_error_carries_platform_message_and_the_created_server_ids(respx_mock, driver, request_):
    respx_mock.get("/users/1234/byExtRelation").respond(200, json=load("user"))
    respx_mock.get("/servers/user/57").respond(200, json={"data": []})
    respx_mock.post("/servers").respond(201, json=server())
    respx_mock.post("/servers/412/build").respond(422, json=load("error_validation"))

    with pytest.raises(DriverError) as failure:
        driver.create(request_)

    error = failure.value
    assert "The selected operating system is not available for this server package." in str(error)
    assert error.retryable is False
    assert error.status_code == 422
    assert error.details["platform_service_id"] == "412"
    assert error.details["platform_data"]["server_id"] == 412


@respx.mock(base_url=API, assert_all_called=False)
def test_user_create_rejected_for_a_taken_email_explains_what_staff_must_do(respx_mock, driver, request_):
    respx_mock.get("/users/1234/byExtRelation").respond(404, json={"msg": "user not found"})
    respx_mock.post("/users").respond(422, json=load("error_laravel_validation"))

    with pytest.raises(DriverError, match="The email has already been taken.*extRelationId") as failure:
        driver.create(request_)

    assert failure.value.retryable is False


@respx.mock(base_url=API, assert_all_called=False)
def test_create_uploads_the_customer_ssh_key_and_builds_with_its_id(respx_mock, driver, request_):
    request_.config = {"os_template_id": 12, "ssh_public_key": "ssh-ed25519 AAAAC3Nza jane@laptop"}
    respx_mock.get("/users/1234/byExtRelation").respond(200, json=load("user"))
    respx_mock.get("/servers/user/57").respond(200, json={"data": []})
    respx_mock.post("/servers").respond(201, json=server())
    key = respx_mock.post("/ssh_keys").respond(201, json={"data": {"id": 44, "name": MARKER}})
    build = respx_mock.post("/servers/412/build").respond(200, json=built_server(built=None))

    driver.create(request_)

    assert body_of(key) == {"userId": 57, "name": MARKER, "publicKey": "ssh-ed25519 AAAAC3Nza jane@laptop"}
    assert body_of(build)["sshKeys"] == [44]


def test_server_marker_is_stable_for_a_service_uuid():
    assert server_marker(SERVICE_UUID) == MARKER
    assert server_marker(SERVICE_UUID.upper()) == MARKER


# -- build status ---------------------------------------------------------------------------


@respx.mock(base_url=API, assert_all_called=False)
def test_build_status_is_building_until_built_then_ready_with_ips(respx_mock, driver, vf_service):
    route = respx_mock.get("/servers/412")
    building = server(name=MARKER)
    building["data"]["tasks"]["active"] = True
    route.respond(200, json=building)

    assert driver.build_status(vf_service).state == BuildState.BUILDING

    route.respond(200, json=built_server())
    status = driver.build_status(vf_service)

    assert status.state == BuildState.READY
    assert status.primary_ip == "198.51.100.23"
    assert status.ip_addresses == ["198.51.100.23"]


@respx.mock(base_url=API, assert_all_called=False)
def test_build_status_reports_a_failed_build_queue_item(respx_mock, driver, vf_service):
    vf_service.platform_data["build_queue_id"] = 7700
    respx_mock.get("/servers/412").respond(200, json=server(name=MARKER))
    respx_mock.get("/queue/7700").respond(200, json=load("queue_failed"))

    status = driver.build_status(vf_service)

    assert status.state == BuildState.FAILED
    assert "Failed to download OS template image" in status.message


@respx.mock(base_url=API, assert_all_called=False)
def test_build_status_flags_build_failed(respx_mock, driver, vf_service):
    respx_mock.get("/servers/412").respond(200, json=server(buildFailed=True))

    assert driver.build_status(vf_service).state == BuildState.FAILED


# -- lifecycle ------------------------------------------------------------------------------


@respx.mock(base_url=API, assert_all_called=False)
def test_suspend_and_unsuspend_post_to_the_server(respx_mock, driver, vf_service):
    suspend = respx_mock.post("/servers/412/suspend").respond(204)
    unsuspend = respx_mock.post("/servers/412/unsuspend").respond(204)

    driver.suspend(vf_service)
    driver.unsuspend(vf_service)

    assert suspend.call_count == 1 and unsuspend.call_count == 1


@respx.mock(base_url=API, assert_all_called=False)
def test_suspending_a_missing_server_raises_not_found(respx_mock, driver, vf_service):
    respx_mock.post("/servers/412/suspend").respond(404, json=load("error_not_found"))

    with pytest.raises(NotFound, match="server not found"):
        driver.suspend(vf_service)


@respx.mock(base_url=API, assert_all_called=False)
def test_locked_server_gives_a_retryable_error(respx_mock, driver, vf_service):
    respx_mock.post("/servers/412/unsuspend").respond(423, json=load("error_locked"))

    with pytest.raises(DriverError, match="locked") as failure:
        driver.unsuspend(vf_service)

    assert failure.value.retryable is True


@respx.mock(base_url=API, assert_all_called=False)
def test_terminate_sends_an_explicit_delay_and_counts_a_gone_server_as_success(respx_mock, driver, vf_service):
    route = respx_mock.delete("/servers/412").respond(204)

    driver.terminate(vf_service)
    assert route.calls[0].request.url.params["delay"] == "0"

    route.respond(404, json=load("error_not_found"))
    driver.terminate(vf_service)  # no exception


@respx.mock(base_url=API, assert_all_called=False)
def test_change_package_keeps_the_disk_on_downgrade_and_sets_memory_and_cores(respx_mock, driver, vf_service):
    before = server()
    after = server()
    after["data"]["settings"]["resources"] = {"memory": 4096, "storage": 80, "traffic": 1000, "cpuCores": 2}
    reads = respx_mock.get("/servers/412")
    reads.side_effect = [httpx.Response(200, json=before), httpx.Response(200, json=after)]
    move = respx_mock.put("/servers/412/package/5").respond(204)
    memory = respx_mock.put("/servers/412/modify/memory").respond(201, json={"data": {}})
    cores = respx_mock.put("/servers/412/modify/cpuCores").respond(201, json={"data": {}})

    driver.change_package(vf_service, {"package_id": 5}, {"ram_mb": 2048, "cpu_cores": 1, "disk_gb": 40})

    assert body_of(move) == {"primaryDiskSize": False}
    assert body_of(memory) == {"memory": 2048}
    assert body_of(cores) == {"cores": 1}


@respx.mock(base_url=API, assert_all_called=False)
def test_change_package_upgrade_moves_everything_and_accepts_200(respx_mock, driver, vf_service):
    upgraded = server()
    upgraded["data"]["settings"]["resources"] = {"memory": 8192, "storage": 160, "traffic": 4000, "cpuCores": 4}
    respx_mock.get("/servers/412").side_effect = [
        httpx.Response(200, json=server()),
        httpx.Response(200, json=upgraded),
    ]
    move = respx_mock.put("/servers/412/package/7").respond(200, json=load("change_package"))
    modify = respx_mock.route(method="PUT", path__regex=r"/modify/")

    driver.change_package(vf_service, {"package_id": 7}, {"ram_mb": 8192, "cpu_cores": 4, "disk_gb": 160})

    assert move.calls[0].request.content in (b"", b"null")
    assert not modify.called


@pytest.mark.parametrize(
    ("action", "endpoint"),
    [
        (PowerAction.BOOT, "boot"),
        (PowerAction.SHUTDOWN, "shutdown"),
        (PowerAction.RESTART, "restart"),
        (PowerAction.HARD_STOP, "poweroff"),
    ],
)
@respx.mock(base_url=API, assert_all_called=False)
def test_power_actions_use_virtfusion_power_endpoints(respx_mock, driver, vf_service, action, endpoint):
    route = respx_mock.post(f"/servers/412/power/{endpoint}").respond(200, json=load("power"))

    driver.power(vf_service, action)

    assert route.called
    assert driver.supports_hard_stop is True


@respx.mock(base_url=API, assert_all_called=False)
def test_usage_reads_live_state_and_the_current_traffic_period(respx_mock, driver, vf_service):
    live = server(built="2026-11-26T07:45:00+00:00")
    live["data"]["remoteState"] = load("remote_state")
    state = respx_mock.get("/servers/412", params={"remoteState": "true"}).respond(200, json=live)
    respx_mock.get("/servers/412/traffic").respond(200, json=load("traffic"))

    usage = driver.usage(vf_service)

    assert state.called
    assert usage.power_state == "running"
    assert usage.cpu_percent == 12.5
    assert usage.memory_bytes == (4194304 - 3145728) * 1024
    assert usage.memory_limit_bytes == 4096 * 1024 * 1024
    assert usage.disk_bytes == 5368709120 + 6291456
    assert usage.disk_limit_bytes == 80 * 1024**3
    assert usage.traffic_in_bytes == 53687091200
    assert usage.traffic_out_bytes == 10737418240


@respx.mock(base_url=API, assert_all_called=False)
def test_usage_of_a_suspended_server_says_suspended(respx_mock, driver, vf_service):
    respx_mock.get("/servers/412").respond(200, json=server(suspended=True))
    respx_mock.get("/servers/412/traffic").respond(200, json={"data": {"monthly": []}})

    usage = driver.usage(vf_service)

    assert usage.power_state == "suspended"
    assert usage.traffic_in_bytes is None


@respx.mock(base_url=API, assert_all_called=False)
def test_reset_credentials_returns_the_password_virtfusion_sets_and_disables_its_mail(respx_mock, driver, vf_service):
    route = respx_mock.post("/servers/412/resetPassword").respond(200, json=load("reset_password"))

    credentials = driver.reset_credentials(vf_service, "ignored-by-virtfusion")

    assert body_of(route) == {"user": "root", "sendMail": False}
    assert credentials == {"username": "root", "password": "Vf-Root-Reset-92kq"}


# -- connection, capacity, panel -------------------------------------------------------------


@respx.mock(base_url=API, assert_all_called=False)
def test_check_accepts_a_valid_token(respx_mock, driver):
    respx_mock.get("/connect").respond(200, json={"data": []})

    result = driver.check()

    assert result.ok and result.reachable and result.authenticated


@respx.mock(base_url=API, assert_all_called=False)
def test_check_reports_a_rejected_token(respx_mock, driver):
    respx_mock.get("/connect").respond(401)

    result = driver.check()

    assert result.reachable is True
    assert result.authenticated is False
    assert result.ok is False
    assert "API token" in result.message


@respx.mock(base_url=API, assert_all_called=False)
def test_check_reports_an_unreachable_panel(respx_mock, driver, sleeps):
    respx_mock.get("/connect").mock(side_effect=httpx.ConnectError("no route"))

    result = driver.check()

    assert result.reachable is False and result.ok is False
    assert len(sleeps) == 2  # GET retried with backoff before giving up


@respx.mock(base_url=API, assert_all_called=False)
def test_check_capacity_follows_pages_until_a_hypervisor_fits(respx_mock, driver):
    route = respx_mock.get("/compute/hypervisors/groups/2/resources")
    route.side_effect = [
        httpx.Response(200, json=load("group_resources")),
        httpx.Response(200, json=load("group_resources_page2")),
    ]

    driver.check_capacity({"package_id": 3, "hypervisor_group_id": 2}, {"ram_mb": 4096, "disk_gb": 80, "cpu_cores": 2})

    assert route.call_count == 2
    assert route.calls[1].request.url.params["page"] == "2"
    assert route.calls[1].request.url.host == "cp.example.com"


@respx.mock(base_url=API, assert_all_called=False)
def test_check_capacity_raises_when_no_hypervisor_has_room(respx_mock, driver):
    full = load("group_resources")
    full["next_page_url"] = None
    respx_mock.get("/compute/hypervisors/groups/2/resources").respond(200, json=full)

    with pytest.raises(CapacityError, match="PHV 1 \\(RED\\): not enough memory, localStorage"):
        driver.check_capacity({"hypervisor_group_id": 2}, {"ram_mb": 4096, "disk_gb": 200, "cpu_cores": 2})


@respx.mock(base_url=API, assert_all_called=False)
def test_panel_url_is_an_absolute_one_time_login_link_for_the_server(respx_mock, driver, vf_service):
    vf_service.customer_id = 1234
    route = respx_mock.post("/users/1234/serverAuthenticationTokens/412").respond(200, json=load("auth_token"))

    url = driver.panel_url(vf_service)

    assert route.called
    assert url.startswith("https://cp.example.com/token_authentication?1=9d1b2f7c0a")
    assert "/api/v1" not in url


# -- HTTP behaviour ---------------------------------------------------------------------------


@respx.mock(base_url=API, assert_all_called=False)
def test_429_is_retried_after_the_advertised_delay(respx_mock, driver, vf_service, sleeps):
    route = respx_mock.post("/servers/412/suspend")
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "3"}, json={"msg": "Too Many Attempts."}),
        httpx.Response(204),
    ]

    driver.suspend(vf_service)

    assert route.call_count == 2
    assert sleeps == [3.0]


@respx.mock(base_url=API, assert_all_called=False)
def test_5xx_on_a_get_is_retried(respx_mock, driver, vf_service, sleeps):
    route = respx_mock.get("/servers/412")
    route.side_effect = [httpx.Response(503, json={"msg": "maintenance"}), httpx.Response(200, json=built_server())]

    assert driver.build_status(vf_service).state == BuildState.READY
    assert route.call_count == 2
    assert len(sleeps) == 1


def test_client_uses_the_connection_timeout(driver):
    assert driver.client._client.timeout.read == 12


@respx.mock(base_url=API, assert_all_called=False)
def test_token_and_passwords_stay_out_of_logs_and_captured_requests(respx_mock, driver, request_, caplog):
    caplog.set_level(logging.DEBUG)
    respx_mock.get("/users/1234/byExtRelation").respond(404, json={"msg": "user not found"})
    respx_mock.post("/users").respond(201, json=load("user_created"))
    respx_mock.get("/servers/user/57").respond(200, json={"data": []})
    respx_mock.post("/servers").respond(201, json=server())
    respx_mock.post("/servers/412/build").respond(200, json=built_server(built=None))

    result = driver.create(request_)
    seen_after_build = repr(driver.client.last_request) + repr(driver.client.last_response)
    respx_mock.post("/servers/412/resetPassword").respond(200, json=load("reset_password"))
    driver.reset_credentials(
        type("S", (), {"platform_service_id": "412", "platform_data": {}, "username": "root"})(), "x"
    )
    seen_after_reset = repr(driver.client.last_request) + repr(driver.client.last_response)

    assert result.credentials["password"] == ROOT_PASSWORD  # returned to the caller, never logged
    for secret in (TOKEN, ROOT_PASSWORD, "Pn4-panel-Generated-7q", "Vf-Root-Reset-92kq"):
        assert secret not in caplog.text
        assert secret not in seen_after_build
        assert secret not in seen_after_reset
    assert "[REDACTED]" in seen_after_build
