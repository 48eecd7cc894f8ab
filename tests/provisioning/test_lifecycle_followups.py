"""The lifecycle's side of the driver contract: ids of partial creates are kept and handed back,
dedicated servers without hardware wait for staff, adopted resources get a fresh password before
the welcome email, and the suspended/unsuspended emails go out once per suspension.

The drivers here are the real ones (sandbox, and VirtFusion/Enhance against respx-mocked panels).
"""

import json
import re
from pathlib import Path

import httpx
import pytest
import respx
from django.core import mail
from django.urls import reverse

from core.notifications.models import Notification
from core.provisioning import drivers
from core.provisioning.models import ProvisioningJob, SandboxResource, Service
from core.provisioning.services import (
    assign_hardware,
    create_service,
    reset_service_credentials,
    retry_provisioning,
    suspend_service,
    unsuspend_service,
)
from core.provisioning.services.jobs import as_payload
from integrations.platforms.sandbox.driver import inject_fault
from tests.factories import PlatformConnectionFactory, ProductFactory
from tests.integrations.platforms import test_enhance as enhance_mocks

from .conftest import paid_item, run_due_jobs

pytestmark = pytest.mark.django_db

VF_API = "https://cp.example.com/api/v1"
VF_PAYLOADS = Path(__file__).parents[1] / "integrations" / "platforms" / "payloads" / "virtfusion"


def vf(name: str) -> dict:
    return json.loads((VF_PAYLOADS / f"{name}.json").read_text())


def ready_emails():
    return [m for m in mail.outbox if "is ready" in m.subject]


def staff_alerts(title_part: str):
    return Notification.objects.filter(channel="discord", subject__icontains=title_part)


# --- 1. ids of a failed create are kept and passed back --------------------------------------


@pytest.fixture
def real_platforms(settings):
    settings.ALLOW_REAL_EXTERNAL_CALLS = True


@pytest.fixture
def vf_product(real_platforms):
    connection = PlatformConnectionFactory(
        name="vf-main", platform="virtfusion", base_url="https://cp.example.com", api_key="vf-token"
    )
    return ProductFactory(
        platform="virtfusion",
        platform_connection=connection,
        platform_settings={"package_id": 3, "hypervisor_group_id": 2, "os_template_id": 12},
    )


@respx.mock(base_url=VF_API, assert_all_called=False)
def test_virtfusion_server_created_before_a_failed_build_is_resumed_on_retry_not_created_again(
    respx_mock, vf_product, django_capture_on_commit_callbacks
):
    respx_mock.get(url__regex=r".*/users/\d+/byExtRelation$").respond(200, json=vf("user"))
    respx_mock.get("/servers/user/57").respond(200, json={"data": []})
    create = respx_mock.post("/servers").respond(201, json=vf("server"))
    get_server = respx_mock.get("/servers/412").respond(200, json=vf("server"))
    build = respx_mock.post("/servers/412/build").mock(
        side_effect=[
            httpx.Response(422, json=vf("error_validation")),
            httpx.Response(200, json=vf("server")),
        ]
    )
    subscription, item = paid_item(vf_product)

    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    service.refresh_from_db()

    assert service.status == "failed"
    assert service.platform_service_id == "412"
    assert service.platform_customer_id == "57"
    assert service.platform_data["server_id"] == 412 and service.platform_data["user_id"] == 57

    with django_capture_on_commit_callbacks(execute=True):
        retry_provisioning(service, actor=None)
    service.refresh_from_db()

    assert create.call_count == 1  # the server from the first attempt was resumed
    assert get_server.call_count == 1 and build.call_count == 2
    second = ProvisioningJob.objects.filter(service=service, action="create").order_by("-pk").first()
    assert second.request["existing"]["server_id"] == 412
    assert second.request["existing"]["user_id"] == 57
    assert service.status == "provisioning"  # building; polling takes over


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


def test_enhance_progress_survives_a_failed_website_step_and_the_retry_resumes_after_it(
    enhance_product, django_capture_on_commit_callbacks
):
    with respx.mock(base_url=enhance_mocks.API, assert_all_called=False) as api:
        routes = {**enhance_mocks.mock_new_customer(api), **enhance_mocks.mock_subscription_and_site(api)}
        routes["create_site"].mock(
            side_effect=[
                enhance_mocks.ok("error_invalid_domain.json", 400),
                enhance_mocks.ok("website_created.json", 201),
            ]
        )
        subscription, item = paid_item(enhance_product)
        item.hostname = "shop.example.org"
        item.save()

        with django_capture_on_commit_callbacks(execute=True):
            service = create_service(subscription, item)
        service.refresh_from_db()

        assert service.status == "failed"
        assert service.platform_customer_id == enhance_mocks.ORG
        assert service.platform_service_id == "123"
        assert service.platform_data == {
            "org_id": enhance_mocks.ORG,
            "login_id": enhance_mocks.LOGIN,
            "login_created": True,
            "member_id": enhance_mocks.MEMBER,
            "subscription_id": 123,
        }

        with django_capture_on_commit_callbacks(execute=True):
            retry_provisioning(service, actor=None)
        service.refresh_from_db()

    assert routes["create_org"].call_count == 1
    assert routes["create_login"].call_count == 1
    assert routes["create_sub"].call_count == 1
    assert routes["create_site"].call_count == 2
    assert service.platform_data["website_id"] == enhance_mocks.SITE
    assert service.status == "provisioning"


def test_progress_callback_is_not_stored_on_the_job_log():
    request = drivers.ProvisionRequest(
        external_id="x", customer_external_id="1", customer_email="a@example.com", customer_name="A",
        hostname="h", product_settings={}, features={}, config={}, password="secret-pw",
        on_progress=lambda ids: None,
    )  # fmt: skip

    payload = as_payload(request)

    assert "on_progress" not in payload
    assert payload["password"] == "[REDACTED]"
    json.dumps(payload)


# --- 3. dedicated server with no matching hardware ---------------------------------------------


@pytest.fixture
def full_sandbox(db):
    return PlatformConnectionFactory(name="sbx-full", defaults={"build_seconds": 0, "max_services": 0})


def test_dedicated_server_without_hardware_waits_for_staff_instead_of_failing(
    full_sandbox, django_capture_on_commit_callbacks
):
    product = ProductFactory(service_type="dedicated", platform="sandbox", platform_connection=full_sandbox)
    subscription, item = paid_item(product)

    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    service.refresh_from_db()

    assert service.status == "awaiting_stock"
    assert "No matching hardware" in service.last_error
    assert ProvisioningJob.objects.filter(service=service, action="create").count() == 1  # no retries
    assert staff_alerts("Hardware to assign").count() == 1
    assert not staff_alerts("Provisioning failed").exists()

    # Staff add hardware, then assign it: provisioning runs again and finishes.
    full_sandbox.defaults = {"build_seconds": 0}
    full_sandbox.save()
    with django_capture_on_commit_callbacks(execute=True):
        assign_hardware(service, note="rack 4 / box 17", actor=None)
    service.refresh_from_db()
    assert service.status == "active"
    assert len(ready_emails()) == 1


def test_vps_without_capacity_fails_rather_than_waiting_for_hardware(full_sandbox, django_capture_on_commit_callbacks):
    product = ProductFactory(service_type="vps", platform="sandbox", platform_connection=full_sandbox)
    subscription, item = paid_item(product)

    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
        run_due_jobs()
    service.refresh_from_db()

    assert service.status == "failed"
    assert staff_alerts("Provisioning failed").count() == 1
    assert not staff_alerts("Hardware to assign").exists()


# --- 4. adopted resources get a fresh password before the welcome email ----------------------


def test_adopted_sandbox_server_gets_a_new_password_and_the_welcome_email_carries_it(
    sandbox, product, django_capture_on_commit_callbacks
):
    # The platform creates the server, then the answer is lost: the retry adopts it.
    inject_fault(sandbox, "create", "after", times=1)
    subscription, item = paid_item(product)

    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    first_password = Service.objects.get(pk=service.pk).credentials["password"]  # sent with the lost create
    with django_capture_on_commit_callbacks(execute=True):
        run_due_jobs()
    service.refresh_from_db()

    assert service.status == "active"
    assert SandboxResource.objects.filter(external_id=str(service.uuid)).count() == 1
    reset = ProvisioningJob.objects.get(service=service, action="reset_credentials")
    assert reset.outcome == "succeeded"
    password = service.credentials["password"]
    assert password and password != first_password
    assert service.pending_action == ""
    emails = ready_emails()
    assert len(emails) == 1 and password in emails[0].body and first_password not in emails[0].body
    resource = SandboxResource.objects.get(external_id=str(service.uuid))
    assert resource.password_set_at > resource.created_at


@respx.mock(base_url=VF_API, assert_all_called=False)
def test_adopted_virtfusion_server_gets_its_root_password_reset_before_the_welcome_email(
    respx_mock, vf_product, django_capture_on_commit_callbacks
):
    subscription, item = paid_item(vf_product)
    service = Service.objects.create(
        customer=subscription.customer, subscription=subscription, order_item=item, product=vf_product,
        connection=vf_product.platform_connection, hostname="vps1.example.net", status="pending",
    )  # fmt: skip
    marker = f"vps-{service.uuid.hex[:12]}"
    built = vf("server")
    built["data"].update(name=marker, built="2026-11-26T07:45:00+00:00")
    built["data"]["settings"].pop("decryptedPassword", None)
    respx_mock.get(url__regex=r".*/users/\d+/byExtRelation$").respond(200, json=vf("user"))
    respx_mock.get("/servers/user/57").respond(200, json={"data": [built["data"]]})
    respx_mock.get("/servers/412").respond(200, json=built)
    create = respx_mock.post("/servers")
    build = respx_mock.post(re.compile(r".*/build$"))
    reset = respx_mock.post("/servers/412/resetPassword").respond(200, json=vf("reset_password"))

    with django_capture_on_commit_callbacks(execute=True):
        from core.provisioning.services import provision_service

        provision_service(service)
    service.refresh_from_db()

    assert not create.called and not build.called
    assert reset.call_count == 1
    assert service.status == "active"
    assert service.credentials["password"] == "Vf-Root-Reset-92kq"
    emails = ready_emails()
    assert len(emails) == 1 and "Vf-Root-Reset-92kq" in emails[0].body


def test_failed_reset_after_adoption_alerts_staff_and_the_staff_reset_sends_the_welcome(
    sandbox, product, django_capture_on_commit_callbacks
):
    inject_fault(sandbox, "create", "after", times=1)
    inject_fault(sandbox, "reset_credentials", "before", times=3)
    subscription, item = paid_item(product)

    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
        run_due_jobs()
    service.refresh_from_db()

    assert service.status == "active" and service.pending_action == ""
    assert "password" not in (service.credentials or {})
    assert ready_emails() == []
    assert staff_alerts("Reset credentials failed").count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        reset_service_credentials(service, actor=None)
    service.refresh_from_db()
    emails = ready_emails()
    assert len(emails) == 1 and service.credentials["password"] in emails[0].body


# --- 5. traffic counted as one figure ---------------------------------------------------------


def test_portal_shows_total_traffic_when_the_platform_does_not_split_in_and_out(
    customer, customer_client, product, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(*paid_item(product, customer=customer))
    usage = drivers.ResourceUsage(power_state="running", traffic_total_bytes=500_000_000_000)
    monkeypatch.setattr("portal.services.views.service_usage", lambda s: usage)

    response = customer_client.get(reverse("portal:service_detail", args=[service.uuid]))

    assert "465.7\xa0GB this period (in and out)".encode() in response.content


# --- 8. suspended / unsuspended emails --------------------------------------------------------


def test_suspended_email_once_per_suspension_and_unsuspended_email_when_lifted(
    product, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(*paid_item(product))
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            suspend_service(service, reason="Overdue invoice INV-1")
            suspend_service(service, reason="Overdue invoice INV-1")
        with django_capture_on_commit_callbacks(execute=True):
            unsuspend_service(service)
            unsuspend_service(service)
        service.refresh_from_db()
        assert service.status == "active"

    suspended = [m for m in mail.outbox if "has been suspended" in m.subject]
    unsuspended = [m for m in mail.outbox if "running again" in m.subject]
    assert len(suspended) == 2 and len(unsuspended) == 2
    assert "no longer suspended" in unsuspended[0].body
    assert f"/services/{service.uuid}/" in unsuspended[0].body
