"""Reinstall on the real drivers against respx-mocked panels: the platform calls each one makes, what
it hands back to the lifecycle (new root password, installed template, queue id), and how the install
is followed afterwards. Payload shapes follow each platform's API (see the per-driver test modules)."""

import json

import httpx
import pytest
import respx

from core.provisioning.drivers import BuildState, DriverError, NotFound, ReinstallRequest
from integrations.platforms.enhance.driver import EnhanceDriver
from integrations.platforms.pterodactyl.driver import PterodactylDriver
from integrations.platforms.synergycp.driver import SynergyCPDriver
from integrations.platforms.virtfusion.driver import VirtFusionDriver
from tests.factories import PlatformConnectionFactory, ServiceFactory

from . import test_pterodactyl as ptero
from . import test_synergycp as scp
from . import test_virtfusion as vf

pytestmark = pytest.mark.django_db


def reinstall_request(template="", **config) -> ReinstallRequest:
    return ReinstallRequest(
        template=template,
        hostname="vps1.example.net",
        password="Ours-Reinstall-Pw-42x",
        product_settings={"package_id": 3, "hypervisor_group_id": 2, "os_template_id": None},
        config=config,
    )


# -- VirtFusion: a build call on a built server rebuilds it -------------------------------------------------


@pytest.fixture
def vf_driver():
    connection = PlatformConnectionFactory(
        name="vf-main", platform="virtfusion", base_url="https://cp.example.com", api_key=vf.TOKEN
    )
    service = ServiceFactory(
        connection=connection,
        platform_service_id="412",
        platform_customer_id="57",
        platform_data={"server_id": 412, "user_id": 57, "ext_relation_id": "1234", "name": vf.MARKER},
        username="root",
        config={"os_template_id": 12, "ssh_key_ids": [44]},
    )
    return VirtFusionDriver(connection, sleep=lambda s: None), service


@respx.mock(base_url=vf.API, assert_all_called=True)
def test_virtfusion_rebuilds_with_the_chosen_template_keeps_our_name_and_returns_the_new_root_password(
    respx_mock, vf_driver
):
    driver, service = vf_driver
    rebuild = respx_mock.post("/servers/412/build").respond(200, json=vf.load("server_rebuild"))

    result = driver.reinstall(service, reinstall_request("14", os_template_id=12, ssh_key_ids=[44]))

    assert rebuild.calls[0].request.headers["Authorization"] == f"Bearer {vf.TOKEN}"
    assert json.loads(rebuild.calls[0].request.content) == {
        "operatingSystemId": 14,
        "name": vf.MARKER,
        "hostname": "vps1.example.net",
        "ipv6": True,
        "email": False,
        "sshKeys": [44],
    }
    assert result.state == BuildState.BUILDING
    assert result.credentials == {"username": "root", "password": "Vf-Root-Rebuilt-71qa"}
    assert result.password_applied is False
    assert result.config == {"os_template_id": 14}
    # The redacted request/response kept for the job log carry no password.
    assert "Vf-Root-Rebuilt-71qa" not in json.dumps(driver.client.last_response)


@respx.mock(base_url=vf.API, assert_all_called=True)
def test_virtfusion_reinstall_without_a_choice_uses_the_template_the_server_was_built_with(respx_mock, vf_driver):
    driver, service = vf_driver
    rebuild = respx_mock.post("/servers/412/build").respond(200, json=vf.load("server_rebuild"))

    driver.reinstall(service, reinstall_request("", os_template_id=12))

    assert json.loads(rebuild.calls[0].request.content)["operatingSystemId"] == 12


@respx.mock(base_url=vf.API, assert_all_called=True)
def test_virtfusion_locked_server_is_a_retryable_error(respx_mock, vf_driver):
    driver, service = vf_driver
    respx_mock.post("/servers/412/build").respond(423, json=vf.load("error_locked"))

    with pytest.raises(DriverError) as caught:
        driver.reinstall(service, reinstall_request("14"))
    assert caught.value.retryable is True


@respx.mock(base_url=vf.API, assert_all_called=True)
def test_virtfusion_rebuild_is_building_while_its_queue_item_runs_even_though_built_is_set(respx_mock, vf_driver):
    driver, service = vf_driver
    service.platform_data = {**service.platform_data, "build_queue_id": 7712}
    idle = vf.load("server_rebuild")
    idle["data"]["tasks"] = {"active": False, "actions": {"pending": []}}
    respx_mock.get("/servers/412").respond(200, json=idle)
    queue = respx_mock.get("/queue/7712")
    queue.respond(200, json=vf.load("queue_running"))

    assert driver.build_status(service).state == BuildState.BUILDING

    finished = vf.load("queue_running")
    finished["data"].update(progress=100, finished="2026-12-06T08:14:40+00:00")
    queue.respond(200, json=finished)
    assert driver.build_status(service).state == BuildState.READY


# -- Pterodactyl: the egg's install script runs again -----------------------------------------------------


@pytest.fixture
def ptero_driver():
    connection = PlatformConnectionFactory(
        name="ptero-main", platform="pterodactyl", base_url=ptero.PANEL, api_key=ptero.APP_KEY,
        api_secret=ptero.CLIENT_KEY,
    )  # fmt: skip
    service = ServiceFactory(
        connection=connection,
        platform_service_id="77",
        platform_customer_id="42",
        platform_data={"server_id": 77, "identifier": "1a7ce997", "user_id": 42},
        credentials={"username": "jane1234", "password": ptero.PASSWORD},
    )
    return PterodactylDriver(connection, sleep=lambda s: None), service


def test_pterodactyl_reinstall_of_the_same_egg_posts_reinstall_and_keeps_the_panel_password(ptero_driver):
    driver, service = ptero_driver
    with respx.mock(base_url=ptero.APP, assert_all_called=True) as mock:
        mock.get("/servers/77").respond(200, json=ptero.server(status=None))
        reinstall = mock.post("/servers/77/reinstall").respond(204)

        result = driver.reinstall(service, reinstall_request(""))

    assert reinstall.calls[0].request.headers["Authorization"] == f"Bearer {ptero.APP_KEY}"
    assert result.state == BuildState.BUILDING
    assert result.credentials == {"password": ptero.PASSWORD}
    assert result.config == {}


def test_pterodactyl_reinstall_with_another_egg_switches_startup_first_with_the_full_variable_set(ptero_driver):
    driver, service = ptero_driver
    choice = {"id": 16, "label": "Vanilla Minecraft", "nest_id": 1}
    with respx.mock(base_url=ptero.APP, assert_all_called=True) as mock:
        mock.get("/servers/77").respond(200, json=ptero.server(status=None))
        egg = mock.get("/nests/1/eggs/16", params={"include": "variables"}).respond(
            200, json=json.loads((ptero.PAYLOADS / "egg_vanilla.json").read_text())
        )
        startup = mock.patch("/servers/77/startup").respond(200, json=ptero.server(egg=16))
        reinstall = mock.post("/servers/77/reinstall").respond(204)

        request = reinstall_request("16", environment={"VANILLA_VERSION": "1.21.1"})
        request.choice = choice
        result = driver.reinstall(service, request)
        order = [f"{c.request.method} {c.request.url.path}" for c in mock.calls]

    assert egg.called
    assert json.loads(startup.calls[0].request.content) == {
        "startup": "java -Xms128M -XX:MaxRAMPercentage=95.0 -jar {{SERVER_JARFILE}}",
        "environment": {"SERVER_JARFILE": "server.jar", "VANILLA_VERSION": "1.21.1"},
        "egg": 16,
        "image": "ghcr.io/pterodactyl/yolks:java_21",
        "skip_scripts": False,
    }
    # The egg is switched before the install script runs, so the new egg's script is the one that runs.
    assert order.index("PATCH /api/application/servers/77/startup") < order.index(
        "POST /api/application/servers/77/reinstall"
    )
    assert reinstall.called
    assert result.config == {"egg_id": 16, "nest_id": 1}


def test_pterodactyl_reinstall_failure_is_seen_by_build_status(ptero_driver):
    driver, service = ptero_driver
    with respx.mock(base_url=ptero.APP, assert_all_called=True) as mock:
        mock.get("/servers/77", params={"include": "allocations"}).respond(
            200, json=ptero.server(status="reinstall_failed")
        )
        status = driver.build_status(service)
    assert status.state == BuildState.FAILED


def test_pterodactyl_server_gone_is_not_found(ptero_driver):
    driver, service = ptero_driver
    with respx.mock(base_url=ptero.APP, assert_all_called=True) as mock:
        mock.get("/servers/77").respond(404, json=ptero.load("error_not_found"))
        with pytest.raises(NotFound):
            driver.reinstall(service, reinstall_request(""))


# -- SynergyCP: an OS install from a PXE profile ------------------------------------------------------------


@pytest.fixture
def scp_driver():
    connection = PlatformConnectionFactory(
        name="scp-dallas", platform="synergycp", base_url=scp.BASE, api_key=scp.API_KEY
    )
    service = ServiceFactory(
        connection=connection,
        platform_service_id="311",
        platform_customer_id="77",
        platform_data={"billing_id": "5521", "server_id": 311, "client_id": "77"},
        config={"os": "ubuntu-2404"},
    )
    return SynergyCPDriver(connection, sleep=lambda s: None), service


def test_synergycp_reinstall_queues_an_os_install_with_our_root_password(scp_driver):
    driver, service = scp_driver
    with respx.mock(base_url=scp.BASE, assert_all_called=True) as mock:
        install = mock.post("/server/311/install").mock(return_value=scp.ok("install_queued.json"))
        result = driver.reinstall(service, reinstall_request("debian-12"))

    sent = install.calls[0].request
    assert sent.url.params["key"] == scp.API_KEY
    assert json.loads(sent.content) == {"pxe_profile_billing": "debian-12", "password": "Ours-Reinstall-Pw-42x"}
    assert result.password_applied is True
    assert result.credentials == {"username": "root"}
    assert result.config == {"os": "debian-12", "pxe_profile_billing": "debian-12"}
    assert result.platform_data == {"install_id": 7002}


def test_synergycp_reinstall_without_a_choice_installs_the_profile_chosen_at_order(scp_driver):
    driver, service = scp_driver
    with respx.mock(base_url=scp.BASE, assert_all_called=True) as mock:
        install = mock.post("/server/311/install").mock(return_value=scp.ok("install_queued.json"))
        result = driver.reinstall(service, reinstall_request("", os="ubuntu-2404"))
    assert json.loads(install.calls[0].request.content)["pxe_profile_billing"] == "ubuntu-2404"
    assert result.config == {}


def test_synergycp_refused_install_is_a_driver_error_with_the_panels_message(scp_driver):
    driver, service = scp_driver
    with respx.mock(base_url=scp.BASE, assert_all_called=True) as mock:
        mock.post("/server/311/install").mock(
            return_value=httpx.Response(422, json=scp.payload("error_validation.json"))
        )
        with pytest.raises(DriverError):
            driver.reinstall(service, reinstall_request("debian-12"))


# -- Enhance: web hosting, nothing to reinstall --------------------------------------------------------------


def test_enhance_does_not_offer_reinstall_and_says_what_to_do_instead():
    connection = PlatformConnectionFactory(name="enhance", platform="enhance", base_url="https://cp.example.org")
    assert EnhanceDriver.supports_reinstall is False
    with pytest.raises(DriverError, match="restore files or a website from a backup"):
        EnhanceDriver(connection).reinstall(ServiceFactory(connection=connection), reinstall_request(""))
