"""POST /api/v1/services/{id}/reinstall: queued through core's reinstall_service (the portal's), scope
`services`, 404 for another customer's service, 422 with the field for a template the product does not
offer or a state that does not allow it, and Idempotency-Key honoured like the other POSTs."""

import pytest

from core.audit.models import AuditLog
from core.provisioning.models import ProvisioningJob, Service

from .conftest import Api, token_for

pytestmark = pytest.mark.django_db
V1 = "/api/v1"
TEMPLATES = [{"id": 12, "label": "Debian 12"}, {"id": 14, "label": "Ubuntu 24.04"}]


@pytest.fixture
def vps(world):
    product = world.service.product
    product.order_options = {"hostname": "optional", "os_templates": TEMPLATES}
    product.save()
    # A slow install, so the answer shows the reinstall still pending.
    connection = world.service.connection
    connection.defaults = {"build_seconds": 600}
    connection.save()
    return world.service


def url(service) -> str:
    return f"{V1}/services/{service.uuid}/reinstall"


def reinstall_jobs(service):
    return ProvisioningJob.objects.filter(service=service, action="reinstall")


def test_reinstall_is_accepted_queued_and_audited(world, vps):
    response = world.api.post(url(vps), {"template": 14})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["id"] == str(vps.uuid) and body["pending_action"] == "reinstall" and body["status"] == "active"
    job = reinstall_jobs(vps).get()
    assert job.argument == "14" and job.requested_by == world.customer.user
    assert AuditLog.objects.filter(action="service.reinstall_requested", data__template="14").exists()
    assert job.outcome == "queued"  # handed to the queue after the request's transaction commits


def test_a_template_the_product_does_not_offer_is_422_on_the_template_field(world, vps):
    response = world.api.post(url(vps), {"template": "99"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "reinstall_not_allowed"
    assert "not offered" in body["fields"]["template"][0]
    assert not reinstall_jobs(vps).exists()


def test_a_suspended_service_is_refused_with_the_reason(world, vps):
    Service.objects.filter(pk=vps.pk).update(status="suspended")
    response = world.api.post(url(vps), {"template": 12})
    assert response.status_code == 422
    assert "suspended" in response.json()["message"]
    assert not reinstall_jobs(vps).exists()


def test_another_customers_service_is_404_and_nothing_is_queued(world, other_world, vps):
    response = world.api.post(url(other_world.service), {})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert not ProvisioningJob.objects.filter(service=other_world.service, action="reinstall").exists()


def test_the_services_scope_is_needed(world, vps):
    reader = Api(token_for(world.customer, scopes=["read"], name="reader"))
    response = reader.post(url(vps), {"template": 12})
    assert response.status_code == 403 and response.json()["code"] == "insufficient_scope"
    assert not reinstall_jobs(vps).exists()


def test_the_same_idempotency_key_replays_the_answer_and_another_body_is_422(world, vps):
    first = world.api.post(url(vps), {"template": 12}, key="reinstall-1")
    again = world.api.post(url(vps), {"template": 12}, key="reinstall-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    other = world.api.post(url(vps), {"template": 14}, key="reinstall-1")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert reinstall_jobs(vps).count() == 1


def test_without_a_key_the_same_template_twice_still_queues_one_reinstall(world, vps):
    assert world.api.post(url(vps), {"template": 12}).status_code == 202
    assert world.api.post(url(vps), {"template": "12"}).status_code == 202
    assert reinstall_jobs(vps).count() == 1
    different = world.api.post(url(vps), {"template": 14})
    assert different.status_code == 422 and different.json()["code"] == "action_in_progress"
