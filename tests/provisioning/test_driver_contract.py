"""What core hands a driver and what it makes of the answer, through the lifecycle:

- drivers read none of our models: the service's numeric billing id and the customer's other
  services on the same connection come in the ProvisionRequest;
- a new service whose panel login already existed (Enhance login, Pterodactyl user) did not take
  our generated password: the lifecycle sets a fresh one before the welcome email, as it does for
  adopted resources; a login we created keeps ours and needs no reset.

The Enhance and Pterodactyl drivers are the real ones, against respx-mocked panels.
"""

import json
import re

import httpx
import pytest
import respx
from django.core import mail

from core.provisioning import drivers
from core.provisioning.models import ProvisioningJob, Service
from core.provisioning.services import create_service
from core.provisioning.services.build import customer_services_of
from tests.factories import CustomerFactory, PlatformConnectionFactory, ProductFactory, ServiceFactory
from tests.integrations.platforms import test_enhance as enhance_mocks
from tests.integrations.platforms import test_pterodactyl as ptero_mocks

from .conftest import paid_item, run_due_jobs

pytestmark = pytest.mark.django_db


def ready_emails():
    return [m for m in mail.outbox if "is ready" in m.subject]


def create_job(service: Service) -> ProvisioningJob:
    return ProvisioningJob.objects.filter(service=service, action="create").order_by("pk").first()


@pytest.fixture
def real_platforms(settings):
    settings.ALLOW_REAL_EXTERNAL_CALLS = True


# --- what core puts in the request ---------------------------------------------------------------


def test_billing_id_is_the_whmcs_id_for_imported_services_else_pk_plus_the_connection_offset(db):
    connection = PlatformConnectionFactory(name="scp", platform="synergycp", defaults={"billing_id_offset": 500_000})
    imported = ServiceFactory(connection=connection, whmcs_id=5521)
    ours = ServiceFactory(connection=connection)
    no_offset = ServiceFactory(connection=PlatformConnectionFactory(name="scp-2", platform="synergycp"))

    assert drivers.billing_id_for(imported) == 5521
    assert drivers.billing_id_for(ours) == ours.pk + 500_000
    assert drivers.billing_id_for(no_offset) == no_offset.pk


def test_a_billing_id_offset_that_is_not_a_number_is_refused_with_the_connection_named(db):
    service = ServiceFactory(connection=PlatformConnectionFactory(name="scp", defaults={"billing_id_offset": "lots"}))

    with pytest.raises(drivers.DriverError, match="'scp' has billing_id_offset 'lots'"):
        drivers.billing_id_for(service)


def test_customer_services_are_the_customers_others_on_the_same_connection_newest_first(db):
    connection = PlatformConnectionFactory(name="enhance-eu", platform="enhance")
    customer = CustomerFactory()
    service = ServiceFactory(customer=customer, connection=connection)
    older = ServiceFactory(customer=customer, connection=connection, platform_customer_id="org-1", status="terminated")
    newer = ServiceFactory(
        customer=customer, connection=connection, platform_service_id="55", platform_customer_id="org-2"
    )
    ServiceFactory(customer=customer, connection=connection)  # nothing on the platform yet
    ServiceFactory(customer=customer, platform_service_id="77")  # another connection
    ServiceFactory(connection=connection, platform_service_id="88")  # another customer
    Service.objects.filter(pk=older.pk).update(created_at=newer.created_at.replace(year=2020))

    others = customer_services_of(service)

    assert others == [
        drivers.CustomerService(platform_service_id="55", platform_customer_id="org-2"),
        drivers.CustomerService(platform_service_id="", platform_customer_id="org-1", is_terminated=True),
    ]


def test_the_create_job_carries_the_billing_id_and_the_customers_other_services(db, django_capture_on_commit_callbacks):
    sandbox = PlatformConnectionFactory(name="sbx-offset", defaults={"build_seconds": 0, "billing_id_offset": 1000})
    product = ProductFactory(platform="sandbox", platform_connection=sandbox)
    customer = CustomerFactory()
    ServiceFactory(customer=customer, connection=sandbox, product=product, platform_service_id="sbx-9")
    subscription, item = paid_item(product, customer=customer)

    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)

    request = create_job(service).request
    assert request["billing_id"] == service.pk + 1000
    assert request["customer_services"] == [
        {"platform_service_id": "sbx-9", "platform_customer_id": "", "is_terminated": False}
    ]


# --- Enhance: the customer's org and Owner login already exist ----------------------------------


@pytest.fixture
def enhance_product(real_platforms):
    connection = PlatformConnectionFactory(
        name="enhance-eu",
        platform="enhance",
        base_url=enhance_mocks.PANEL,
        api_key="enh-token",
        defaults={"master_org_id": enhance_mocks.MO, "server_group_id": enhance_mocks.GROUP},
    )
    return ProductFactory(
        service_type="hosting", platform="enhance", platform_connection=connection, platform_settings={"plan_id": 7}
    )


def test_new_enhance_site_for_a_customer_with_a_login_gets_a_fresh_password_before_the_welcome_email(
    enhance_product, django_capture_on_commit_callbacks
):
    subscription, item = paid_item(enhance_product)
    item.hostname = "shop.example.org"
    item.save()
    # The customer's first website on this panel: its org (and Owner login) already exist.
    ServiceFactory(
        customer=subscription.customer, connection=enhance_product.platform_connection, product=enhance_product,
        platform_customer_id=enhance_mocks.ORG, platform_service_id="99",
    )  # fmt: skip
    with respx.mock(base_url=enhance_mocks.API, assert_all_called=False) as api:
        customers = api.get(f"/orgs/{enhance_mocks.MO}/customers")
        create_login = api.post("/logins")
        api.get(f"/orgs/{enhance_mocks.ORG}/members").mock(return_value=enhance_mocks.ok("members_owner.json"))
        routes = enhance_mocks.mock_subscription_and_site(api)
        api.get(f"/orgs/{enhance_mocks.ORG}/websites/{enhance_mocks.SITE}").mock(
            return_value=enhance_mocks.ok("website_active.json")
        )
        set_password = api.put(f"/v2/logins/{enhance_mocks.LOGIN}/password").mock(return_value=httpx.Response(204))

        with django_capture_on_commit_callbacks(execute=True):
            service = create_service(subscription, item)
            run_due_jobs()
        service.refresh_from_db()

    assert customers.call_count == 0 and create_login.call_count == 0  # the org of the other service
    assert routes["create_sub"].call_count == 1 and routes["create_site"].call_count == 1  # not adopted
    assert set_password.call_count == 1
    new_password = json.loads(set_password.calls[0].request.content)["newPassword"]
    assert service.status == "active" and service.pending_action == ""
    assert service.credentials["password"] == new_password
    assert ProvisioningJob.objects.get(service=service, action="reset_credentials").outcome == "succeeded"
    emails = ready_emails()
    assert len(emails) == 1 and new_password in emails[0].body


# --- Pterodactyl: the panel user already exists ---------------------------------------------------


@pytest.fixture
def ptero_product(real_platforms):
    connection = PlatformConnectionFactory(
        name="ptero-main", platform="pterodactyl", base_url=ptero_mocks.PANEL,
        api_key=ptero_mocks.APP_KEY, api_secret=ptero_mocks.CLIENT_KEY,
    )  # fmt: skip
    return ProductFactory(
        service_type="game",
        platform="pterodactyl",
        platform_connection=connection,
        platform_settings={"nest_id": 1, "egg_id": 5, "location_id": 2, "port_range": ["25565-25600"]},
    )


def mock_ptero_panel(api, *, user_exists: bool, users_by_email: dict | None = None):
    app = ptero_mocks.APP
    api.get(url__regex=rf"{re.escape(app)}/servers/external/.+").respond(404, json=ptero_mocks.load("error_not_found"))
    user_lookup = api.get(url__regex=rf"{re.escape(app)}/users/external/\d+")
    if user_exists:
        user_lookup.respond(200, json=ptero_mocks.load("user"))
    else:
        user_lookup.respond(404, json=ptero_mocks.load("error_not_found"))
        api.get(f"{app}/users").respond(200, json=users_by_email or ptero_mocks.load("users_empty"))
    api.get(f"{app}/nests/1/eggs/5").respond(200, json=ptero_mocks.load("egg"))
    api.get(f"{app}/users/42").respond(200, json=ptero_mocks.load("user"))
    return {
        "user_lookup": user_lookup,
        "create_user": api.post(f"{app}/users").respond(201, json=ptero_mocks.load("user")),
        "create_server": api.post(f"{app}/servers").respond(201, json=ptero_mocks.server(status=None)),
        "update_user": api.patch(f"{app}/users/42").respond(200, json=ptero_mocks.load("user")),
    }


def test_new_game_server_for_an_existing_panel_user_gets_a_fresh_password_before_the_welcome_email(
    ptero_product, django_capture_on_commit_callbacks
):
    subscription, item = paid_item(ptero_product)
    with respx.mock(assert_all_called=False) as api:
        routes = mock_ptero_panel(api, user_exists=True)

        with django_capture_on_commit_callbacks(execute=True):
            service = create_service(subscription, item)
            run_due_jobs()
        service.refresh_from_db()

    assert routes["create_user"].call_count == 0
    assert routes["create_server"].call_count == 1  # a new server, not an adopted one
    assert routes["update_user"].call_count == 1
    new_password = json.loads(routes["update_user"].calls[0].request.content)["password"]
    assert service.status == "active" and service.pending_action == ""
    assert service.credentials["password"] == new_password
    assert service.credentials["username"] == "jane1234"
    emails = ready_emails()
    assert len(emails) == 1 and new_password in emails[0].body


def test_new_game_server_with_a_panel_user_we_create_keeps_our_password_and_needs_no_reset(
    ptero_product, django_capture_on_commit_callbacks
):
    subscription, item = paid_item(ptero_product)
    with respx.mock(assert_all_called=False) as api:
        routes = mock_ptero_panel(api, user_exists=False)

        with django_capture_on_commit_callbacks(execute=True):
            service = create_service(subscription, item)
            run_due_jobs()
        service.refresh_from_db()

    sent = json.loads(routes["create_user"].calls[0].request.content)["password"]
    assert routes["update_user"].call_count == 0
    assert not ProvisioningJob.objects.filter(service=service, action="reset_credentials").exists()
    assert service.status == "active" and service.credentials["password"] == sent
    emails = ready_emails()
    assert len(emails) == 1 and sent in emails[0].body


def test_retry_after_a_failed_server_create_knows_the_panel_user_it_created_has_our_password(
    ptero_product, django_capture_on_commit_callbacks
):
    subscription, item = paid_item(ptero_product)
    with respx.mock(assert_all_called=False) as api:
        routes = mock_ptero_panel(api, user_exists=False)
        routes["create_server"].mock(
            side_effect=[
                httpx.Response(400, json=ptero_mocks.load("error_no_viable_node")),
                httpx.Response(201, json=ptero_mocks.server(status=None)),
            ]
        )

        with django_capture_on_commit_callbacks(execute=True):
            service = create_service(subscription, item)
        service.refresh_from_db()
        assert service.status == "provisioning" and service.platform_data == {"user_id": 42, "user_created": True}
        with django_capture_on_commit_callbacks(execute=True):
            run_due_jobs()
        service.refresh_from_db()

    sent = json.loads(routes["create_user"].calls[0].request.content)["password"]
    assert routes["create_user"].call_count == 1 and routes["create_server"].call_count == 2
    assert routes["update_user"].call_count == 0  # no reset: the user has the password we sent
    assert service.status == "active" and service.credentials["password"] == sent
    assert len(ready_emails()) == 1


def test_a_panel_user_taken_by_someone_else_fails_the_service_for_staff_instead_of_adopting(
    ptero_product, django_capture_on_commit_callbacks
):
    subscription, item = paid_item(ptero_product)
    someone_else = ptero_mocks.load("user")
    someone_else["attributes"].update(external_id="999", email=subscription.customer.user.email)
    listed = {**ptero_mocks.load("users_empty"), "data": [someone_else]}
    with respx.mock(assert_all_called=False) as api:
        routes = mock_ptero_panel(api, user_exists=False, users_by_email=listed)

        with django_capture_on_commit_callbacks(execute=True):
            service = create_service(subscription, item)
            run_due_jobs()
        service.refresh_from_db()

    assert routes["create_user"].call_count == 0 and routes["create_server"].call_count == 0
    assert service.status == "failed"
    assert "belongs to external id 999" in service.last_error
    assert not ProvisioningJob.objects.filter(service=service, action="poll").exists()
    assert not ready_emails()
