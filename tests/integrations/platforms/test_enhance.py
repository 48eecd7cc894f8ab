"""Enhance (orchd) driver against respx-mocked answers shaped like open-api.yml (orchd 12.3.0)."""

import datetime as dt
import json
import logging
from pathlib import Path

import httpx
import pytest
import respx

from core import clock
from core.provisioning.drivers import (
    AlreadyExists,
    BuildState,
    CapacityError,
    CustomerService,
    DriverError,
    NotFound,
    PowerAction,
    ProvisionRequest,
)
from core.provisioning.models import Service
from core.provisioning.services.lifecycle import save_platform_ids
from integrations.platforms.enhance.driver import EnhanceDriver
from tests.factories import PlatformConnectionFactory, ProductFactory, ServiceFactory

PANEL = "https://panel.example.org"
API = f"{PANEL}/api"
TOKEN = "enh-access-token-4f9aSECRET"
PASSWORD = "Cust-Pass-81xSECRET"
MO = "7f1d3c52-9a7e-4f0b-8d2e-0a1b2c3d4e5f"
ORG = "b3a8e0c4-5d61-4a9e-9f3c-2e7d1c6b8a90"
LOGIN = "4c2f9a1e-7b3d-4e8a-a6f5-d9c0b1e2f3a4"
MEMBER = "e9d8c7b6-a5f4-4e3d-9c2b-1a0f9e8d7c6b"
SITE = "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a"
GROUP = "aaaabbbb-cccc-4ddd-8eee-ffff00001111"
PAYLOADS = Path(__file__).parent / "payloads" / "enhance"

pytestmark = pytest.mark.django_db


def payload(name: str, external_id: str = ""):
    text = (PAYLOADS / name).read_text()
    return json.loads(text.replace("{external_id}", external_id))


def ok(name: str, status: int = 200, external_id: str = "") -> httpx.Response:
    return httpx.Response(status, json=payload(name, external_id))


NO_CONTENT = httpx.Response(204)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def connection():
    return PlatformConnectionFactory(
        name="enhance-eu",
        platform="enhance",
        base_url=PANEL,
        api_key=TOKEN,
        defaults={"master_org_id": MO, "server_group_id": GROUP},
    )


@pytest.fixture
def driver(connection, sleeps):
    return EnhanceDriver(connection, sleep=sleeps.append)


@pytest.fixture
def api():
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


@pytest.fixture
def product():
    return ProductFactory(service_type="hosting", platform="enhance", platform_settings={"plan_id": 7})


@pytest.fixture
def new_service(connection, product):
    return ServiceFactory(
        connection=connection, product=product, status="provisioning", hostname="shop.example.org", primary_ip=None
    )


@pytest.fixture
def active_service(connection, product):
    return ServiceFactory(
        connection=connection,
        product=product,
        hostname="shop.example.org",
        platform_customer_id=ORG,
        platform_service_id="123",
        platform_data={
            "org_id": ORG,
            "login_id": LOGIN,
            "member_id": MEMBER,
            "subscription_id": 123,
            "website_id": SITE,
        },
    )


def make_request(service, **overrides) -> ProvisionRequest:
    fields = {
        "external_id": str(service.uuid),
        "customer_external_id": str(service.customer_id),
        "customer_email": "jane@example.com",
        "customer_name": "Jane Doe",
        "hostname": "shop.example.org",
        "product_settings": {"plan_id": 7},
        "features": {},
        "config": {},
        "password": PASSWORD,
        # What the lifecycle sets: progress is stored on the service at once.
        "on_progress": lambda ids: save_platform_ids(service.pk, ids),
    }
    fields.update(overrides)
    return ProvisionRequest(**fields)


def body_of(call) -> dict:
    return json.loads(call.request.content)


def mock_new_customer(api):
    routes = {
        "customers": api.get(f"/orgs/{MO}/customers").mock(return_value=ok("customers_empty.json")),
        "create_org": api.post(f"/orgs/{MO}/customers").mock(return_value=ok("customer_created.json", 201)),
        "owners": api.get(f"/orgs/{ORG}/members").mock(return_value=ok("members_empty.json")),
        "create_login": api.post("/logins").mock(return_value=ok("login_created.json", 201)),
        "create_member": api.post(f"/orgs/{ORG}/members").mock(return_value=ok("member_created.json", 201)),
    }
    return routes


def mock_subscription_and_site(api):
    return {
        "subs": api.get(f"/orgs/{MO}/customers/{ORG}/subscriptions").mock(return_value=ok("subscriptions_empty.json")),
        "create_sub": api.post(f"/orgs/{MO}/customers/{ORG}/subscriptions").mock(
            return_value=ok("subscription_created.json", 201)
        ),
        "sites": api.get(f"/orgs/{ORG}/websites").mock(return_value=ok("websites_empty.json")),
        "create_site": api.post(f"/orgs/{ORG}/websites").mock(return_value=ok("website_created.json", 201)),
    }


# --- create ---------------------------------------------------------------------------


def test_create_makes_org_owner_subscription_and_website_for_a_new_customer(driver, api, new_service):
    routes = {**mock_new_customer(api), **mock_subscription_and_site(api)}

    result = driver.create(make_request(new_service))

    assert body_of(routes["create_org"].calls.last) == {"name": "Jane Doe"}
    login_call = routes["create_login"].calls.last
    assert login_call.request.url.params["orgId"] == ORG
    assert body_of(login_call) == {"email": "jane@example.com", "name": "Jane Doe", "password": PASSWORD}
    assert body_of(routes["create_member"].calls.last) == {"loginId": LOGIN, "roles": ["Owner"]}
    # Integers go as JSON numbers: orchd rejects "7" where it expects an i32.
    assert body_of(routes["create_sub"].calls.last) == {"planId": 7, "friendlyName": str(new_service.uuid)}
    assert body_of(routes["create_site"].calls.last) == {
        "domain": "shop.example.org",
        "subscriptionId": 123,
        "serverGroupId": GROUP,
    }
    for call in api.calls:
        assert call.request.headers["authorization"] == f"Bearer {TOKEN}"
    assert result.platform_service_id == "123"
    assert result.platform_customer_id == ORG
    assert result.platform_data == {
        "org_id": ORG,
        "login_id": LOGIN,
        "login_created": True,
        "member_id": MEMBER,
        "subscription_id": 123,
        "website_id": SITE,
    }
    assert result.state == BuildState.BUILDING
    assert result.credentials == {"username": "jane@example.com", "password": PASSWORD}
    assert result.adopted is False
    assert result.password_applied is True
    new_service.refresh_from_db()
    assert new_service.platform_data["website_id"] == SITE
    assert new_service.platform_customer_id == ORG


def test_client_uses_the_connection_timeout_and_the_api_base(connection, sleeps):
    connection.timeout_seconds = 17
    driver = EnhanceDriver(connection, sleep=sleeps.append)

    assert driver.client._client.timeout.read == 17
    assert driver.client.base_url == API


def test_create_finds_the_customer_org_by_owner_email_across_pages(driver, api, new_service):
    customers = api.get(f"/orgs/{MO}/customers").mock(
        side_effect=[ok("customers_page1.json"), ok("customers_page2.json")]
    )
    create_org = api.post(f"/orgs/{MO}/customers")
    create_login = api.post("/logins")
    mock_subscription_and_site(api)

    result = driver.create(make_request(new_service))

    assert [c.request.url.params["offset"] for c in customers.calls] == ["0", "2"]
    assert create_org.call_count == 0 and create_login.call_count == 0
    assert result.platform_data["org_id"] == ORG
    assert result.platform_data["member_id"] == MEMBER
    assert result.credentials == {}  # the existing login keeps its password
    assert result.password_applied is False


def test_create_reuses_the_org_of_the_customers_other_service(driver, api, new_service):
    customers = api.get(f"/orgs/{MO}/customers")
    api.get(f"/orgs/{ORG}/members").mock(return_value=ok("members_owner.json"))
    create_login = api.post("/logins")
    mock_subscription_and_site(api)
    others = [CustomerService(platform_service_id="99", platform_customer_id=ORG)]

    result = driver.create(make_request(new_service, customer_services=others))

    assert customers.call_count == 0 and create_login.call_count == 0
    assert result.platform_data["org_id"] == ORG and result.platform_data["login_id"] == LOGIN


def test_create_does_not_reuse_the_org_of_a_terminated_service(driver, api, new_service):
    routes = mock_new_customer(api)
    mock_subscription_and_site(api)
    others = [CustomerService(platform_service_id="99", platform_customer_id="gone-org", is_terminated=True)]

    result = driver.create(make_request(new_service, customer_services=others))

    assert routes["create_org"].call_count == 1
    assert result.platform_customer_id == ORG


def test_create_resumes_after_the_last_recorded_step(driver, api, new_service):
    routes = mock_subscription_and_site(api)
    customers = api.get(f"/orgs/{MO}/customers")

    result = driver.create(
        make_request(
            new_service, existing={"org_id": ORG, "login_id": LOGIN, "member_id": MEMBER, "subscription_id": 123}
        )
    )

    assert customers.call_count == 0
    assert routes["create_sub"].call_count == 0
    assert routes["create_site"].call_count == 1
    assert result.platform_data["website_id"] == SITE


def test_create_resumes_from_the_service_id_fields_the_lifecycle_passes(driver, api, new_service):
    routes = mock_subscription_and_site(api)
    api.get(f"/orgs/{ORG}/members").mock(return_value=ok("members_owner.json"))
    customers = api.get(f"/orgs/{MO}/customers")

    result = driver.create(
        make_request(new_service, existing={"platform_customer_id": ORG, "platform_service_id": "123"})
    )

    assert customers.call_count == 0 and routes["create_sub"].call_count == 0
    assert set(result.platform_data) == {"org_id", "login_id", "member_id", "subscription_id", "website_id"}


def test_a_conflict_that_is_not_ours_is_a_plain_error_not_an_adoption(driver, api, new_service):
    routes = mock_new_customer(api)
    routes["create_org"].mock(return_value=ok("error_already_exists_login.json", 409))

    with pytest.raises(DriverError, match="not recognisably ours") as info:
        driver.create(make_request(new_service))
    assert not isinstance(info.value, AlreadyExists)


def test_validation_error_keeps_the_finished_steps_for_the_retry(driver, api, new_service):
    routes = {**mock_new_customer(api), **mock_subscription_and_site(api)}
    routes["create_site"].mock(return_value=ok("error_invalid_domain.json", 400))

    with pytest.raises(DriverError, match="not a valid domain name") as info:
        driver.create(make_request(new_service))

    assert info.value.retryable is False
    assert info.value.status_code == 400
    assert info.value.details["platform_data"]["subscription_id"] == 123
    new_service.refresh_from_db()
    assert new_service.platform_data == {
        "org_id": ORG, "login_id": LOGIN, "login_created": True, "member_id": MEMBER, "subscription_id": 123,
    }  # fmt: skip


def test_existing_login_is_linked_when_orchd_says_already_exists(driver, api, new_service):
    routes = {**mock_new_customer(api), **mock_subscription_and_site(api)}
    routes["create_login"].mock(return_value=ok("error_already_exists_login.json", 409))
    api.get("/logins").mock(return_value=ok("logins_page.json"))

    result = driver.create(make_request(new_service))

    assert body_of(routes["create_member"].calls.last) == {"loginId": LOGIN, "roles": ["Owner"]}
    assert result.credentials == {}


def test_create_adopts_our_subscription_by_friendly_name_and_our_website_by_domain(driver, api, new_service):
    external_id = str(new_service.uuid)
    api.get(f"/orgs/{MO}/customers/{ORG}/subscriptions").mock(
        return_value=ok("subscriptions_ours.json", external_id=external_id)
    )
    create_sub = api.post(f"/orgs/{MO}/customers/{ORG}/subscriptions")
    sites = api.get(f"/orgs/{ORG}/websites").mock(return_value=ok("websites_search.json"))
    create_site = api.post(f"/orgs/{ORG}/websites")

    result = driver.create(make_request(new_service, existing={"org_id": ORG, "login_id": LOGIN, "member_id": MEMBER}))

    assert result.adopted is True
    assert create_sub.call_count == 0 and create_site.call_count == 0
    assert result.platform_data["subscription_id"] == 123  # not the deleted 100
    assert result.platform_data["website_id"] == SITE  # not the deleted one, not the partial match
    query = sites.calls.last.request.url.params
    assert query["search"] == "shop.example.org" and query["subscriptionId"] == "123"


def test_subscription_conflict_is_resolved_by_lookup(driver, api, new_service):
    external_id = str(new_service.uuid)
    api.get(f"/orgs/{MO}/customers/{ORG}/subscriptions").mock(
        side_effect=[ok("subscriptions_empty.json"), ok("subscriptions_ours.json", external_id=external_id)]
    )
    api.post(f"/orgs/{MO}/customers/{ORG}/subscriptions").mock(
        return_value=ok("error_already_exists_subscription.json", 409)
    )
    api.get(f"/orgs/{ORG}/websites").mock(return_value=ok("websites_empty.json"))
    api.post(f"/orgs/{ORG}/websites").mock(return_value=ok("website_created.json", 201))

    result = driver.create(make_request(new_service, existing={"org_id": ORG, "login_id": LOGIN, "member_id": MEMBER}))

    assert result.adopted is True
    assert result.platform_service_id == "123"


def test_5xx_on_subscription_create_is_not_retried_and_the_next_attempt_adopts(driver, api, new_service):
    external_id = str(new_service.uuid)
    routes = {**mock_new_customer(api), **mock_subscription_and_site(api)}
    routes["create_sub"].mock(return_value=ok("error_internal.json", 502))
    routes["subs"].side_effect = [
        ok("subscriptions_empty.json"),
        ok("subscriptions_ours.json", external_id=external_id),
    ]

    with pytest.raises(DriverError) as info:
        driver.create(make_request(new_service))
    assert info.value.retryable is True
    assert routes["create_sub"].call_count == 1

    new_service.refresh_from_db()
    result = driver.create(make_request(new_service, existing=new_service.platform_data))

    assert routes["create_sub"].call_count == 1
    assert routes["create_org"].call_count == 1  # the org from the first attempt is reused
    assert result.adopted is True and result.platform_service_id == "123"


def test_timeout_on_create_is_a_retryable_driver_error(driver, api, new_service):
    routes = mock_new_customer(api)
    routes["create_org"].mock(side_effect=httpx.ReadTimeout("timed out"))

    with pytest.raises(DriverError) as info:
        driver.create(make_request(new_service))
    assert info.value.retryable is True
    assert routes["create_org"].call_count == 1


def test_get_answered_429_is_retried_after_the_platform_delay(driver, api, active_service, sleeps):
    api.get(f"/orgs/{ORG}/websites/{SITE}").mock(
        side_effect=[
            httpx.Response(
                429, headers={"Retry-After": "2"}, json={"code": "too_many_requests", "detail": "slow down"}
            ),
            ok("website_active.json"),
        ]
    )

    assert driver.build_status(active_service).state == BuildState.READY
    assert sleeps == [2.0]


def test_get_5xx_is_retried_then_succeeds(driver, api, active_service, sleeps):
    route = api.get(f"/orgs/{ORG}/websites/{SITE}").mock(
        side_effect=[ok("error_internal.json", 500), ok("website_active.json")]
    )

    assert driver.build_status(active_service).state == BuildState.READY
    assert route.call_count == 2 and len(sleeps) == 1


# --- build ----------------------------------------------------------------------------


def test_build_status_waits_for_server_ips_then_reports_them_primary_first(driver, api, active_service):
    api.get(f"/orgs/{ORG}/websites/{SITE}").mock(side_effect=[ok("website_pending.json"), ok("website_active.json")])

    assert driver.build_status(active_service).state == BuildState.BUILDING

    ready = driver.build_status(active_service)
    assert ready.state == BuildState.READY
    assert ready.primary_ip == "198.51.100.40"
    assert ready.ip_addresses == ["198.51.100.40", "2001:db8:20::5"]


# --- lifecycle ------------------------------------------------------------------------


def test_suspend_and_unsuspend_patch_the_subscription(driver, api, active_service):
    patch = api.patch(f"/orgs/{ORG}/subscriptions/123").mock(return_value=NO_CONTENT)

    driver.suspend(active_service)
    driver.unsuspend(active_service)

    assert [body_of(c) for c in patch.calls] == [{"isSuspended": True}, {"isSuspended": False}]


def test_suspend_of_a_missing_subscription_raises_not_found(driver, api, active_service):
    api.patch(f"/orgs/{ORG}/subscriptions/123").mock(return_value=ok("error_not_found.json", 404))

    with pytest.raises(NotFound):
        driver.suspend(active_service)


def test_terminate_deletes_the_website_then_the_subscription(driver, api, active_service):
    site = api.delete(f"/orgs/{ORG}/websites/{SITE}").mock(return_value=NO_CONTENT)
    sub = api.delete(f"/orgs/{ORG}/subscriptions/123").mock(return_value=NO_CONTENT)

    driver.terminate(active_service)

    assert [c.request.url.path for c in api.calls] == [
        f"/api/orgs/{ORG}/websites/{SITE}",
        f"/api/orgs/{ORG}/subscriptions/123",
    ]
    assert site.calls.last.request.url.params["force"] == "false"
    assert sub.calls.last.request.url.params["force"] == "false"


def test_terminate_of_resources_already_gone_succeeds(driver, api, active_service):
    api.delete(f"/orgs/{ORG}/websites/{SITE}").mock(return_value=ok("error_not_found.json", 404))
    sub = api.delete(f"/orgs/{ORG}/subscriptions/123").mock(return_value=ok("error_not_found.json", 404))

    driver.terminate(active_service)

    assert sub.call_count == 1


def test_change_package_patches_the_plan_id_as_a_number(driver, api, active_service):
    patch = api.patch(f"/orgs/{ORG}/subscriptions/123").mock(return_value=NO_CONTENT)

    driver.change_package(active_service, {"plan_id": 9}, {})

    assert body_of(patch.calls.last) == {"planId": 9}


def test_restart_restarts_php_and_other_power_actions_are_refused(driver, api, active_service):
    restart = api.post(f"/v2/websites/{SITE}/restart_php").mock(return_value=httpx.Response(200))

    driver.power(active_service, PowerAction.RESTART)
    assert restart.call_count == 1

    with pytest.raises(DriverError, match="no 'boot' power action"):
        driver.power(active_service, PowerAction.BOOT)


def test_usage_reads_disk_transfer_and_this_months_website_traffic(driver, api, active_service):
    api.get(f"/orgs/{ORG}/subscriptions/123").mock(return_value=ok("subscription_detail_suspended.json"))
    bandwidth = api.get(f"/orgs/{ORG}/subscriptions/123/bandwidth").mock(return_value=ok("bandwidth.json"))
    metrics = api.get(f"/orgs/{ORG}/websites/{SITE}/metrics").mock(return_value=ok("metrics.json"))

    with clock.frozen_at(dt.datetime(2026, 11, 26, 8, 30, tzinfo=dt.UTC)):
        usage = driver.usage(active_service)

    assert bandwidth.calls.last.request.url.params["refreshCache"] == "true"
    query = metrics.calls.last.request.url.params
    assert query["start"] == "2026-11-01T00:00:00Z" and query["end"] == "2026-11-26T08:30:00Z"
    assert usage.power_state == "suspended"
    assert usage.disk_bytes == 2147483648 and usage.disk_limit_bytes == 10737418240
    assert usage.traffic_in_bytes == 3_500_000 and usage.traffic_out_bytes == 125_000_000
    assert usage.raw["transfer_bytes"] == 6442450944
    assert usage.raw["transfer_limit_bytes"] == 107374182400


# --- credentials / panel / health ----------------------------------------------------


def test_reset_credentials_sets_the_owner_login_password_without_recording_it(driver, api, active_service):
    put = api.put(f"/v2/logins/{LOGIN}/password").mock(return_value=httpx.Response(200))

    creds = driver.reset_credentials(active_service, "New-Pass-552SECRET")

    assert body_of(put.calls.last) == {"newPassword": "New-Pass-552SECRET"}
    assert creds["password"] == "New-Pass-552SECRET"
    assert "New-Pass-552SECRET" not in json.dumps(driver.client.last_request)


def test_reset_credentials_finds_the_owner_when_ids_were_not_recorded(driver, api, active_service):
    active_service.platform_data = {"org_id": ORG, "subscription_id": 123}
    api.get(f"/orgs/{ORG}/members", params={"role": "Owner"}).mock(return_value=ok("members_owner.json"))
    put = api.put(f"/v2/logins/{LOGIN}/password").mock(return_value=httpx.Response(200))

    creds = driver.reset_credentials(active_service, "New-Pass-552SECRET")

    assert put.call_count == 1
    assert creds["username"] == "jane@example.com"


def test_panel_url_is_the_owners_one_time_login_link(driver, api, active_service):
    api.get(f"/orgs/{ORG}/members/{MEMBER}/sso").mock(return_value=ok("sso_link.json", 201))

    url = driver.panel_url(active_service)

    assert url == payload("sso_link.json")
    assert "otp-9f8e7d6c5b4aSECRET" not in json.dumps(driver.client.last_response)


def test_panel_url_falls_back_to_the_panel_when_sso_is_refused(driver, api, active_service):
    api.get(f"/orgs/{ORG}/members/{MEMBER}/sso").mock(return_value=ok("error_unauthorized.json", 403))

    assert driver.panel_url(active_service) == PANEL


def test_check_reports_version_and_authentication(driver, api):
    api.get("/version").mock(return_value=ok("version.json"))
    api.get(f"/orgs/{MO}").mock(return_value=ok("org_master.json"))

    result = driver.check()

    assert (result.ok, result.reachable, result.authenticated, result.api_version) == (True, True, True, "12.3.0")


def test_check_reports_a_rejected_token(driver, api):
    api.get("/version").mock(return_value=ok("version.json"))
    api.get(f"/orgs/{MO}").mock(return_value=ok("error_unauthorized.json", 401))

    result = driver.check()

    assert (result.ok, result.reachable, result.authenticated) == (False, True, False)


def test_check_capacity_accepts_an_existing_plan(driver, api):
    plan = api.get(f"/orgs/{MO}/plans/7").mock(return_value=ok("plan.json"))

    driver.check_capacity({"plan_id": 7}, {})

    assert plan.call_count == 1


def test_check_capacity_rejects_a_missing_plan(driver, api):
    api.get(f"/orgs/{MO}/plans/8").mock(return_value=ok("error_not_found.json", 404))

    with pytest.raises(CapacityError, match="plan 8 does not exist"):
        driver.check_capacity({"plan_id": 8}, {})


# --- secrets --------------------------------------------------------------------------


def test_token_and_password_stay_out_of_logs_and_recorded_requests(driver, api, new_service, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    mock_new_customer(api)
    mock_subscription_and_site(api)
    recorded = []
    original = driver.client.request

    def spy(method, path, **kw):
        try:
            return original(method, path, **kw)
        finally:
            recorded.append(json.dumps([driver.client.last_request, driver.client.last_response]))

    driver.client.request = spy

    driver.create(make_request(new_service))

    assert any("[REDACTED]" in r and "logins" in r for r in recorded)
    for secret in (TOKEN, PASSWORD):
        assert secret not in caplog.text
        assert all(secret not in r for r in recorded)
    assert "logins" in caplog.text


@pytest.mark.parametrize("external_id", ["00000000-0000-4000-8000-0000000000ff", "whmcs-service-881"])
def test_create_without_a_progress_callback_writes_no_service_row(driver, api, new_service, external_id):
    """The driver never writes core models itself: without on_progress nothing is stored."""
    routes = {**mock_new_customer(api), **mock_subscription_and_site(api)}
    request = make_request(new_service, external_id=external_id, on_progress=None)

    result = driver.create(request)

    assert result.platform_service_id == "123"
    assert routes["create_site"].call_count == 1
    assert Service.objects.get(pk=new_service.pk).platform_data == {}


def test_progress_is_reported_after_each_step_with_the_service_id_fields(driver, api, new_service):
    routes = {**mock_new_customer(api), **mock_subscription_and_site(api)}
    routes["create_site"].mock(return_value=ok("error_internal.json", 502))
    reported = []

    with pytest.raises(DriverError):
        driver.create(make_request(new_service, on_progress=reported.append))

    assert [sorted(r["platform_data"]) for r in reported] == [
        ["org_id"],
        ["login_created", "login_id", "org_id"],
        ["login_created", "login_id", "member_id", "org_id"],
        ["login_created", "login_id", "member_id", "org_id", "subscription_id"],
    ]
    assert reported[-1]["platform_customer_id"] == ORG
    assert reported[-1]["platform_service_id"] == "123"
    assert Service.objects.get(pk=new_service.pk).platform_data == {}
