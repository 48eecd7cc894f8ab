"""SynergyCP driver against respx-mocked API answers shaped like the vendor client expects them."""

import json
import logging
from pathlib import Path

import httpx
import pytest
import respx

from core.provisioning.drivers import (
    BuildState,
    CapacityError,
    DriverError,
    NotFound,
    PowerAction,
    ProvisionRequest,
    billing_id_for,
)
from integrations.platforms.synergycp.driver import SynergyCPDriver
from tests.factories import PlatformConnectionFactory, ProductFactory, ServiceFactory

BASE = "https://scp-api.example.net"
API_KEY = "scp-admin-key-Zq81SECRET"
ROOT_PASSWORD = "Root-Pass-9f3kSECRET"
PAYLOADS = Path(__file__).parent / "payloads" / "synergycp"
PRODUCT_SETTINGS = {
    "cpu_billing": "cpu-e3-1270v6",
    "mem_billing": "mem-32g",
    "disks_billing": ["disk-1tb-nvme"],
    "ip_group_billing": ["DAL"],
    "ips_billing": "ip-29",
    "port_speed_billing": "speed-1000",
    "pxe_profile_billing": "ubuntu-2404",
    "max_bandwidth": "10TB",
}

pytestmark = pytest.mark.django_db


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def ok(name: str, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=payload(name))


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def connection():
    return PlatformConnectionFactory(
        name="scp-dallas", platform="synergycp", base_url=BASE, api_key=API_KEY, timeout_seconds=12
    )


@pytest.fixture
def driver(connection, sleeps):
    return SynergyCPDriver(connection, sleep=sleeps.append)


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
def product():
    return ProductFactory(service_type="dedicated", platform="synergycp", platform_settings=PRODUCT_SETTINGS)


@pytest.fixture
def new_service(connection, product):
    return ServiceFactory(connection=connection, product=product, status="provisioning", primary_ip=None)


@pytest.fixture
def active_service(connection, product):
    return ServiceFactory(
        connection=connection,
        product=product,
        platform_service_id="311",
        platform_customer_id="77",
        platform_data={"billing_id": "5521", "server_id": 311, "client_id": "77"},
    )


def make_request(service, **overrides) -> ProvisionRequest:
    fields = {
        "external_id": str(service.uuid),
        "customer_external_id": "42",
        "customer_email": "jane@example.com",
        "customer_name": "Jane Doe",
        "hostname": "ds1.example.net",
        "product_settings": PRODUCT_SETTINGS,
        "features": {"bandwidth_quota_gb": 10000},
        "config": {},
        "password": ROOT_PASSWORD,
        # What the lifecycle passes (core's rule: WHMCS id when imported, else pk + offset).
        "billing_id": billing_id_for(service),
    }
    fields.update(overrides)
    return ProvisionRequest(**fields)


def listed_with_billing_id(billing_id) -> httpx.Response:
    """The lookup answer for a server that carries `billing_id`."""
    listed = payload("server_by_billing_id.json")
    listed["data"]["data"][0]["billing"]["id"] = str(billing_id)
    return httpx.Response(200, json=listed)


def mock_entities(api):
    api.get("/entity", params={"server": "311", "page": "1"}).mock(return_value=ok("entities_page1.json"))
    api.get("/entity", params={"server": "311", "page": "2"}).mock(return_value=ok("entities_page2.json"))


def body_of(call) -> dict:
    return json.loads(call.request.content)


# --- create ---------------------------------------------------------------------------


def test_create_assigns_a_free_matching_server_to_a_new_client(driver, api, new_service):
    by_billing = api.get("/server", params={"billing_id": str(new_service.pk)}).mock(return_value=ok("list_empty.json"))
    api.get("/client", params={"billing_id": "42"}).mock(return_value=ok("list_empty.json"))
    api.get("/client", params={"email": "jane@example.com"}).mock(return_value=ok("list_empty.json"))
    create_client = api.post("/client").mock(return_value=ok("client_created.json"))
    free_ip = api.get("/entity", params={"server": "none"}).mock(return_value=ok("entities_free_block.json"))
    inventory = api.get("/server", params={"available": "1"}).mock(return_value=ok("server_available.json"))
    provision = api.post("/server/provision").mock(return_value=ok("provision_ok.json"))
    mock_entities(api)

    result = driver.create(make_request(new_service))

    assert by_billing.call_count == 1
    assert body_of(create_client.calls.last) == {
        "email": "jane@example.com",
        "first": "Jane",
        "last": "Doe",
        "billing_id": "42",
        "password": "",
    }
    ip_query = free_ip.calls.last.request.url.params
    assert ip_query["group[billing][0]"] == "DAL" and ip_query["billing_id"] == "ip-29"
    query = inventory.calls.last.request.url.params
    assert query["available"] == "1" and query["parts[exact]"] == "1"
    assert query["cpu_billing"] == "cpu-e3-1270v6" and query["mem_billing"] == "mem-32g"
    assert query["disks_billing[0]"] == "disk-1tb-nvme" and query["ip_group_billing[0]"] == "DAL"
    assert body_of(provision.calls.last) == {
        "server_id": 311,
        "client_id": 77,
        "nickname": "ds1.example.net",
        "password": ROOT_PASSWORD,
        "billing": {"id": new_service.pk, "max_bandwidth": "10TB"},
        "access": {"pxe": True, "ipmi": True, "switch": True},
        "ips_billing": "ip-29",
        "pxe_profile_billing": "ubuntu-2404",
        "port_speed_billing": "speed-1000",
    }
    # The key travels in the query string of every request, POSTs included, never in a header.
    for call in api.calls:
        assert call.request.url.params["key"] == API_KEY
        assert "authorization" not in call.request.headers
    assert result.platform_service_id == "311"
    assert result.platform_customer_id == "77"
    assert result.platform_data["billing_id"] == str(new_service.pk)
    assert result.platform_data["srv_id"] == "DAL-R4-U12"
    assert result.state == BuildState.BUILDING
    # Both pages of the server's IP entities are read.
    assert result.ip_addresses == ["203.0.113.18", "2001:db8:10::2", "198.51.100.10"]
    assert result.primary_ip == "203.0.113.18"
    assert result.credentials == {"username": "root", "password": ROOT_PASSWORD}
    assert result.adopted is False


def test_create_uses_the_whmcs_service_id_as_billing_id_for_imported_services(driver, api, new_service):
    new_service.whmcs_id = 5521
    new_service.save()
    api.get("/server", params={"billing_id": "5521"}).mock(return_value=ok("server_by_billing_id.json"))
    provision = api.post("/server/provision")
    mock_entities(api)

    result = driver.create(make_request(new_service))

    assert result.adopted is True
    assert provision.call_count == 0
    assert result.platform_service_id == "311"
    assert result.platform_customer_id == "77"
    assert result.credentials == {}


def test_billing_id_offset_keeps_new_ids_clear_of_whmcs_ids(connection, api, new_service, sleeps):
    connection.defaults = {"billing_id_offset": 1_000_000}
    driver = SynergyCPDriver(connection, sleep=sleeps.append)
    lookup = api.get("/server", params={"billing_id": str(new_service.pk + 1_000_000)}).mock(
        return_value=listed_with_billing_id(new_service.pk + 1_000_000)
    )
    mock_entities(api)

    result = driver.create(make_request(new_service))

    assert lookup.call_count == 1
    assert result.platform_data["billing_id"] == str(new_service.pk + 1_000_000)


def test_create_without_a_billing_id_is_refused_before_any_call(driver, api, new_service):
    lookup = api.get("/server")
    provision = api.post("/server/provision")

    with pytest.raises(DriverError, match="without its numeric billing id"):
        driver.create(make_request(new_service, billing_id=None))
    assert lookup.call_count == 0 and provision.call_count == 0


def test_create_labels_the_server_with_the_billing_id_it_is_given(driver, api, new_service):
    lookup = api.get("/server", params={"billing_id": "880001"}).mock(return_value=listed_with_billing_id(880001))
    mock_entities(api)

    result = driver.create(make_request(new_service, billing_id=880001))

    assert lookup.call_count == 1
    assert result.platform_data["billing_id"] == "880001"


def test_client_uses_the_connection_timeout(driver):
    assert driver.client._client.timeout.read == 12


def test_create_never_adopts_a_listed_server_with_another_billing_id(driver, api, new_service):
    # A panel that ignored the billing_id filter would list someone else's server first.
    api.get("/server", params={"billing_id": str(new_service.pk)}).mock(return_value=ok("server_by_billing_id.json"))
    api.get("/client", params={"billing_id": "42"}).mock(return_value=ok("client_found.json"))
    api.get("/entity", params={"server": "none"}).mock(return_value=ok("entities_free_block.json"))
    api.get("/server", params={"available": "1"}).mock(return_value=ok("server_available.json"))
    provision = api.post("/server/provision").mock(return_value=ok("provision_ok.json"))
    mock_entities(api)

    result = driver.create(make_request(new_service))

    assert result.adopted is False
    assert provision.call_count == 1


def test_create_adopts_the_server_already_carrying_our_billing_id(driver, api, new_service):
    api.get("/server", params={"billing_id": "5521"}).mock(return_value=ok("server_by_billing_id.json"))
    provision = api.post("/server/provision")
    mock_entities(api)

    result = driver.create(make_request(new_service, existing={"billing_id": "5521"}))

    assert result.adopted is True
    assert provision.call_count == 0
    assert result.ip_addresses[0] == "203.0.113.18"


def test_create_raises_capacity_error_when_no_hardware_matches(driver, api, new_service):
    api.get("/server", params={"billing_id": str(new_service.pk)}).mock(return_value=ok("list_empty.json"))
    api.get("/client", params={"billing_id": "42"}).mock(return_value=ok("client_found.json"))
    api.get("/entity", params={"server": "none"}).mock(return_value=ok("entities_free_block.json"))
    api.get("/server", params={"available": "1"}).mock(return_value=ok("list_empty.json"))
    provision = api.post("/server/provision")

    with pytest.raises(CapacityError, match="No free SynergyCP server"):
        driver.create(make_request(new_service))
    assert provision.call_count == 0


def test_create_raises_capacity_error_when_no_ip_block_is_free(driver, api, new_service):
    api.get("/server", params={"billing_id": str(new_service.pk)}).mock(return_value=ok("list_empty.json"))
    api.get("/client", params={"billing_id": "42"}).mock(return_value=ok("client_found.json"))
    api.get("/entity", params={"server": "none"}).mock(return_value=ok("list_empty.json"))

    with pytest.raises(CapacityError, match="IP block ip-29"):
        driver.create(make_request(new_service))


def test_validation_error_surfaces_the_platform_message(driver, api, new_service):
    api.get("/server", params={"billing_id": str(new_service.pk)}).mock(return_value=ok("list_empty.json"))
    api.get("/client", params={"billing_id": "42"}).mock(return_value=ok("client_found.json"))
    api.get("/entity", params={"server": "none"}).mock(return_value=ok("entities_free_block.json"))
    api.get("/server", params={"available": "1"}).mock(return_value=ok("server_available.json"))
    api.post("/server/provision").mock(return_value=ok("error_validation.json", 422))

    with pytest.raises(DriverError, match="The selected pxe profile billing is invalid") as info:
        driver.create(make_request(new_service))
    assert info.value.retryable is False
    assert info.value.status_code == 422


def test_error_envelope_on_http_200_is_a_failure(driver, api, new_service):
    api.get("/server", params={"billing_id": str(new_service.pk)}).mock(return_value=ok("list_empty.json"))
    api.get("/client", params={"billing_id": "42"}).mock(return_value=ok("client_found.json"))
    api.get("/entity", params={"server": "none"}).mock(return_value=ok("entities_free_block.json"))
    api.get("/server", params={"available": "1"}).mock(return_value=ok("server_available.json"))
    api.post("/server/provision").mock(return_value=ok("error_validation.json", 200))

    with pytest.raises(DriverError, match="pxe profile billing is invalid"):
        driver.create(make_request(new_service))


def test_provision_5xx_is_not_retried_and_the_next_attempt_adopts_the_server(driver, api, new_service, sleeps):
    lookup = api.get("/server", params={"billing_id": str(new_service.pk)})
    lookup.side_effect = [ok("list_empty.json"), listed_with_billing_id(new_service.pk)]
    api.get("/client", params={"billing_id": "42"}).mock(return_value=ok("client_found.json"))
    api.get("/entity", params={"server": "none"}).mock(return_value=ok("entities_free_block.json"))
    api.get("/server", params={"available": "1"}).mock(return_value=ok("server_available.json"))
    provision = api.post("/server/provision").mock(return_value=ok("error_server.json", 502))
    mock_entities(api)

    with pytest.raises(DriverError) as info:
        driver.create(make_request(new_service))
    assert info.value.retryable is True
    assert provision.call_count == 1  # a POST that may have landed is never repeated blindly

    result = driver.create(make_request(new_service))
    assert result.adopted is True
    assert provision.call_count == 1


def test_timeout_on_provision_is_a_retryable_driver_error(driver, api, new_service):
    api.get("/server", params={"billing_id": str(new_service.pk)}).mock(return_value=ok("list_empty.json"))
    api.get("/client", params={"billing_id": "42"}).mock(return_value=ok("client_found.json"))
    api.get("/entity", params={"server": "none"}).mock(return_value=ok("entities_free_block.json"))
    api.get("/server", params={"available": "1"}).mock(return_value=ok("server_available.json"))
    provision = api.post("/server/provision").mock(side_effect=httpx.ReadTimeout("timed out"))

    with pytest.raises(DriverError) as info:
        driver.create(make_request(new_service))
    assert info.value.retryable is True
    assert provision.call_count == 1


def test_get_answered_429_is_retried_after_the_platform_delay(driver, api, active_service, sleeps):
    api.get("/server/311/install").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}, json=payload("error_server.json")),
            ok("installs_empty.json"),
        ]
    )
    mock_entities(api)

    status = driver.build_status(active_service)

    assert status.state == BuildState.READY
    assert sleeps == [3.0]


def test_get_5xx_is_retried_then_succeeds(driver, api, active_service, sleeps):
    route = api.get("/server/311/install").mock(side_effect=[ok("error_server.json", 503), ok("installs_empty.json")])
    mock_entities(api)

    assert driver.build_status(active_service).state == BuildState.READY
    assert route.call_count == 2
    assert len(sleeps) == 1


def test_timeout_on_get_is_retried_then_reported_retryable(driver, api, active_service):
    route = api.get("/server/311/install").mock(side_effect=httpx.ConnectTimeout("timed out"))

    with pytest.raises(DriverError) as info:
        driver.build_status(active_service)
    assert info.value.retryable is True
    assert route.call_count == 3


# --- build ----------------------------------------------------------------------------


def test_build_status_reports_install_progress_then_ready_with_ips(driver, api, active_service):
    api.get("/server/311/install").mock(side_effect=[ok("installs_running.json"), ok("installs_empty.json")])
    mock_entities(api)

    building = driver.build_status(active_service)
    assert building.state == BuildState.BUILDING
    assert "Installing packages (45%)" in building.message

    ready = driver.build_status(active_service)
    assert ready.state == BuildState.READY
    assert ready.primary_ip == "203.0.113.18"
    assert ready.ip_addresses == ["203.0.113.18", "2001:db8:10::2", "198.51.100.10"]


# --- suspend / unsuspend / terminate --------------------------------------------------


def test_suspend_deactivates_the_primary_access_as_a_billing_action(driver, api, active_service):
    active_service.suspension_reason = "Invoice INV-2026-000123 overdue"
    api.get("/server", params={"billing_id": "5521"}).mock(return_value=ok("server_by_billing_id.json"))
    access = api.get("/server/311/access", params={"is_primary": "1"}).mock(
        return_value=ok("access_primary_active.json")
    )
    patch = api.patch("/server/311/access/901").mock(return_value=ok("access_updated.json"))

    driver.suspend(active_service)

    assert access.called
    assert body_of(patch.calls.last) == {
        "is_active": False,
        "auto": True,
        "suspension_reason": "Invoice INV-2026-000123 overdue",
    }


def test_unsuspend_reactivates_the_primary_access(driver, api, active_service):
    api.get("/server", params={"billing_id": "5521"}).mock(return_value=ok("server_by_billing_id.json"))
    api.get("/server/311/access").mock(return_value=ok("access_primary_suspended.json"))
    patch = api.patch("/server/311/access/901").mock(return_value=ok("access_updated.json"))

    driver.unsuspend(active_service)

    assert body_of(patch.calls.last) == {"is_active": True}


def test_suspend_of_an_already_suspended_server_sends_nothing(driver, api, active_service):
    api.get("/server", params={"billing_id": "5521"}).mock(return_value=ok("server_by_billing_id.json"))
    api.get("/server/311/access").mock(return_value=ok("access_primary_suspended.json"))
    patch = api.patch("/server/311/access/901")

    driver.suspend(active_service)

    assert patch.call_count == 0


def test_suspend_refused_for_a_vip_client_says_staff_must_act(driver, api, active_service):
    api.get("/server", params={"billing_id": "5521"}).mock(return_value=ok("server_by_billing_id.json"))
    api.get("/server/311/access").mock(return_value=ok("access_primary_active.json"))
    api.patch("/server/311/access/901").mock(return_value=ok("error_vip_ignored.json", 403))

    with pytest.raises(DriverError, match="VIP") as info:
        driver.suspend(active_service)
    assert info.value.retryable is False


def test_suspend_of_a_server_no_longer_carrying_our_billing_id_raises_not_found(driver, api, active_service):
    api.get("/server", params={"billing_id": "5521"}).mock(return_value=ok("list_empty.json"))
    patch = api.patch("/server/311/access/901")

    with pytest.raises(NotFound):
        driver.suspend(active_service)
    assert patch.call_count == 0


def test_terminate_wipes_the_server_back_into_inventory(driver, api, active_service):
    api.get("/server", params={"billing_id": "5521"}).mock(return_value=ok("server_by_billing_id.json"))
    wipe = api.patch("/server/311").mock(return_value=ok("server_updated.json"))

    driver.terminate(active_service)

    assert body_of(wipe.calls.last) == {"wiped": "1", "auto": True}


def test_terminate_of_a_server_already_gone_succeeds(driver, api, active_service):
    api.get("/server", params={"billing_id": "5521"}).mock(return_value=ok("list_empty.json"))
    wipe = api.patch("/server/311")

    driver.terminate(active_service)

    assert wipe.call_count == 0


def test_terminate_never_wipes_a_server_listed_with_another_billing_id(driver, api, active_service):
    api.get("/server", params={"billing_id": "5521"}).mock(return_value=ok("server_list_other_billing.json"))
    wipe = api.patch("/server/311")

    driver.terminate(active_service)

    assert wipe.call_count == 0


def test_terminate_treats_a_not_found_answer_to_the_wipe_as_done(driver, api, active_service):
    api.get("/server", params={"billing_id": "5521"}).mock(return_value=ok("server_by_billing_id.json"))
    wipe = api.patch("/server/311").mock(return_value=ok("error_not_found.json", 404))

    driver.terminate(active_service)

    assert wipe.call_count == 1


def test_reading_a_missing_server_raises_not_found(driver, api, active_service):
    api.get("/server/311/install").mock(return_value=ok("error_not_found.json", 404))

    with pytest.raises(NotFound, match="No query results"):
        driver.build_status(active_service)


# --- package / power / usage ---------------------------------------------------------


def test_change_package_updates_the_bandwidth_allowance(driver, api, active_service):
    patch = api.patch("/server/311").mock(return_value=ok("server_updated.json"))

    driver.change_package(active_service, {**PRODUCT_SETTINGS, "max_bandwidth": "20TB"}, {})

    assert body_of(patch.calls.last) == {"billing": {"id": "5521", "max_bandwidth": "20TB"}}


def test_change_package_to_other_hardware_needs_staff(driver, api, active_service):
    patch = api.patch("/server/311")

    with pytest.raises(DriverError, match="mem_billing") as info:
        driver.change_package(active_service, {**PRODUCT_SETTINGS, "mem_billing": "mem-64g"}, {})
    assert info.value.retryable is False
    assert patch.call_count == 0


@pytest.mark.parametrize(
    ("action", "command"),
    [
        (PowerAction.BOOT, {"power": "on"}),
        (PowerAction.SHUTDOWN, {"power": "soft"}),
        (PowerAction.RESTART, {"power": "reset"}),
        (PowerAction.HARD_STOP, {"power": "off"}),
    ],
)
def test_power_sends_the_ipmi_command(driver, api, active_service, action, command):
    api.get("/server/311/control").mock(return_value=ok("controls.json"))
    send = api.post("/server/311/control/12/command").mock(return_value=ok("command_ok.json"))

    driver.power(active_service, action)

    assert body_of(send.calls.last) == command


def test_power_refused_to_the_admin_key_is_sent_with_a_client_key(driver, api, active_service):
    api.get("/server/311/control", params={"key": API_KEY}).mock(return_value=ok("error_unauthenticated.json", 403))
    mint = api.post("/key").mock(return_value=ok("key_created.json"))
    api.get("/server/311/control", params={"key": "c1ient-key-0123456789abcdef"}).mock(return_value=ok("controls.json"))
    send = api.post("/server/311/control/12/command").mock(return_value=ok("command_ok.json"))

    driver.power(active_service, PowerAction.RESTART)

    assert body_of(mint.calls.last) == {"owner_id": 77, "owner_type": "client"}
    assert send.calls.last.request.url.params["key"] == "c1ient-key-0123456789abcdef"


def test_usage_reports_bandwidth_in_bytes_from_bits(driver, api, active_service):
    api.get("/server/311").mock(return_value=ok("server_detail.json"))
    api.get("/server/311/access").mock(return_value=ok("access_primary_suspended.json"))

    usage = driver.usage(active_service)

    assert usage.traffic_total_bytes == 500_000_000_000  # 4e12 bits
    assert usage.traffic_in_bytes is None and usage.traffic_out_bytes is None
    assert usage.raw["traffic_limit_bytes"] == 10_000_000_000_000
    assert usage.power_state == "suspended"
    assert usage.cpu_percent is None


# --- credentials / panel / health ----------------------------------------------------


def test_reset_credentials_sets_the_panel_password_without_leaking_it(driver, api, active_service):
    patch = api.patch("/client/77").mock(return_value=ok("client_updated.json"))

    creds = driver.reset_credentials(active_service, "New-Panel-Pass-77SECRET")

    assert body_of(patch.calls.last) == {"password": "New-Panel-Pass-77SECRET"}
    assert creds == {"panel_username": "jane@example.com", "panel_password": "New-Panel-Pass-77SECRET"}
    assert "New-Panel-Pass-77SECRET" not in json.dumps(driver.client.last_request)


def test_panel_url_is_a_single_sign_on_link_for_this_server(driver, api, active_service):
    mint = api.post("/key").mock(return_value=ok("key_created.json"))

    url = driver.panel_url(active_service)

    assert body_of(mint.calls.last) == {"owner_id": 77, "owner_type": "client"}
    assert url == f"{BASE}/auth/sso?key=c1ient-key-0123456789abcdef&view_type=server&view_id=311"


def test_check_reports_a_reachable_authenticated_panel(driver, api):
    route = api.get("/client", params={"per_page": "1"}).mock(return_value=ok("client_found.json"))

    result = driver.check()

    assert result.ok and result.reachable and result.authenticated
    assert route.calls.last.request.url.params["key"] == API_KEY


def test_check_reports_a_rejected_key(driver, api):
    api.get("/client").mock(return_value=ok("error_unauthenticated.json", 401))

    result = driver.check()

    assert (result.ok, result.reachable, result.authenticated) == (False, True, False)
    assert "Unauthenticated" in result.message


def test_check_reads_an_error_envelope_on_http_200_as_a_rejected_key(driver, api):
    api.get("/client").mock(return_value=ok("error_unauthenticated.json", 200))

    result = driver.check()

    assert (result.ok, result.reachable, result.authenticated) == (False, True, False)


def test_check_reports_an_unreachable_panel(driver, api):
    api.get("/client").mock(side_effect=httpx.ConnectError("refused"))

    result = driver.check()

    assert (result.ok, result.reachable) == (False, False)


def test_check_capacity_passes_with_free_hardware_and_ips(driver, api):
    inventory = api.get("/server", params={"available": "1"}).mock(return_value=ok("server_available.json"))
    api.get("/entity", params={"server": "none"}).mock(return_value=ok("entities_free_block.json"))

    driver.check_capacity(PRODUCT_SETTINGS, {})

    assert inventory.calls.last.request.url.params["mem_billing"] == "mem-32g"


def test_check_capacity_raises_when_inventory_is_empty(driver, api):
    api.get("/server", params={"available": "1"}).mock(return_value=ok("list_empty.json"))

    with pytest.raises(CapacityError):
        driver.check_capacity(PRODUCT_SETTINGS, {})


# --- secrets --------------------------------------------------------------------------


def test_api_key_and_root_password_stay_out_of_logs_and_recorded_requests(driver, api, new_service, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # httpx logs every request URL at INFO
    api.get("/server", params={"billing_id": str(new_service.pk)}).mock(return_value=ok("list_empty.json"))
    api.get("/client", params={"billing_id": "42"}).mock(return_value=ok("client_found.json"))
    api.get("/entity", params={"server": "none"}).mock(return_value=ok("entities_free_block.json"))
    api.get("/server", params={"available": "1"}).mock(return_value=ok("server_available.json"))
    api.post("/server/provision").mock(return_value=ok("provision_ok.json"))
    mock_entities(api)
    recorded = []
    original = driver.client.request

    def spy(method, path, **kw):
        try:
            return original(method, path, **kw)
        finally:
            recorded.append(json.dumps([driver.client.last_request, driver.client.last_response]))

    driver.client.request = spy

    driver.create(make_request(new_service))

    provision_record = next(r for r in recorded if "server/provision" in r)
    assert "[REDACTED]" in provision_record
    for secret in (API_KEY, ROOT_PASSWORD):
        assert secret not in caplog.text
        assert all(secret not in r for r in recorded)
    assert "server/provision" in caplog.text  # the calls were logged, only without secrets
