import pytest
from django.urls import reverse

from core.audit.models import AuditLog
from core.provisioning.models import SandboxResource
from core.provisioning.services import create_service
from integrations.platforms.sandbox.driver import inject_fault

from .conftest import paid_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_active(product, django_capture_on_commit_callbacks):
    services = []
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            services.append(create_service(*paid_item(product)))
    for s in services:
        s.refresh_from_db()
    return services


def test_bulk_suspend_asks_for_confirmation_first(staff_client, two_active):
    url = reverse("admin:provisioning_service_changelist")
    response = staff_client.post(url, {"action": "bulk_suspend", "_selected_action": [s.pk for s in two_active]})
    assert response.status_code == 200
    assert b"Suspend: 2 services" in response.content
    for s in two_active:
        s.refresh_from_db()
        assert s.status == "active" and s.pending_action == ""


def test_bulk_suspend_confirmed_suspends_and_audits_the_staff_user(
    staff_client, staff_user, two_active, django_capture_on_commit_callbacks
):
    url = reverse("admin:provisioning_service_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            url,
            {"action": "bulk_suspend", "_selected_action": [s.pk for s in two_active], "confirm": "yes",
             "reason": "Abuse report"},
        )  # fmt: skip
    assert response.status_code == 302
    for s in two_active:
        s.refresh_from_db()
        assert s.status == "suspended" and s.suspension_reason == "Abuse report"
        assert AuditLog.objects.filter(action="service.suspend", object_id=str(s.pk), actor=staff_user).exists()


def test_detail_terminate_confirms_then_terminates(staff_client, two_active, django_capture_on_commit_callbacks):
    service = two_active[0]
    url = reverse("admin:provisioning_service_detail_terminate", args=[service.pk])
    assert staff_client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, {"confirm": "yes", "reason": "Customer asked"})
    assert response.status_code == 302
    service.refresh_from_db()
    assert service.status == "terminated"


def test_detail_power_reports_platform_errors(staff_client, two_active, sandbox):
    service = two_active[0]
    inject_fault(sandbox, "power", "before", retryable=False)
    url = reverse("admin:provisioning_service_detail_power", args=[service.pk])
    response = staff_client.post(url, {"confirm": "yes", "signal": "restart"}, follow=True)
    assert b"refused" in response.content
    assert SandboxResource.objects.get(external_id=str(service.uuid)).power_state == "running"


def test_row_retry_reprovisions_a_failed_service(
    staff_client, staff_user, product, sandbox, django_capture_on_commit_callbacks
):
    inject_fault(sandbox, "create", "before", retryable=False)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(*paid_item(product))
    service.refresh_from_db()
    assert service.status == "failed"
    url = reverse("admin:provisioning_service_row_retry", args=[service.pk])
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url, {"confirm": "yes"})
    service.refresh_from_db()
    assert service.status == "active"
    assert AuditLog.objects.filter(action="service.retry", actor=staff_user).exists()


def test_service_page_shows_the_job_log(staff_client, two_active):
    response = staff_client.get(reverse("admin:provisioning_service_change", args=[two_active[0].pk]))
    assert response.status_code == 200
    assert b"Create" in response.content and b"Succeeded" in response.content
