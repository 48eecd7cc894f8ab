"""Reinstall through the lifecycle, on the sandbox platform: queued as a job, refused with a reason for
states and templates that do not allow it, idempotent, audited, followed until the install finishes."""

import datetime as dt

import pytest

from core import clock
from core.audit.models import AuditLog
from core.notifications.models import Notification
from core.provisioning import drivers
from core.provisioning.errors import ActionInProgress, ReinstallNotAllowed
from core.provisioning.models import ProvisioningJob, SandboxResource
from core.provisioning.services import create_service, reinstall_blocker, reinstall_service, reinstall_templates
from integrations.platforms.sandbox.driver import inject_fault
from tests.factories import PlatformConnectionFactory, ProductFactory, ServiceFactory

from .conftest import paid_item, run_due_jobs

pytestmark = pytest.mark.django_db

TEMPLATES = [{"id": 12, "label": "Debian 12"}, {"id": 14, "label": "Ubuntu 24.04"}]


@pytest.fixture
def vps(product, django_capture_on_commit_callbacks):
    product.order_options = {"os_templates": TEMPLATES}
    product.save()
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    service.refresh_from_db()
    assert service.status == "active"
    return service


def test_reinstall_queues_one_job_runs_it_and_stores_the_new_password_and_template(
    vps, django_capture_on_commit_callbacks
):
    old_password = vps.credentials["password"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        reinstall_service(vps, template="14", actor=vps.customer.user)
    vps.refresh_from_db()
    assert vps.pending_action == "reinstall"
    job = ProvisioningJob.objects.get(service=vps, action="reinstall")
    assert (job.argument, job.outcome, job.requested_by) == ("14", "queued", vps.customer.user)
    assert AuditLog.objects.filter(action="service.reinstall_requested", data__template="14").exists()

    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    vps.refresh_from_db()
    job.refresh_from_db()
    assert job.outcome == "succeeded"
    assert job.request["password"] == "[REDACTED]"
    assert vps.pending_action == ""
    assert vps.status == "active"
    assert vps.config["os_template"] == "14"
    assert vps.credentials["password"] and vps.credentials["password"] != old_password
    assert AuditLog.objects.filter(action="service.reinstall").exists()
    # The customer hears once that it is done, with what runs now; the password is never in the email.
    [sent] = Notification.objects.filter(event="service_reinstalled")
    assert sent.recipient == vps.customer.user.email and "Ubuntu 24.04" in sent.text_body
    assert vps.credentials["password"] not in sent.text_body


def test_asking_twice_for_the_same_template_queues_one_reinstall(vps, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        reinstall_service(vps, template="12")
        again = reinstall_service(vps, template=12)
        with pytest.raises(ActionInProgress):
            reinstall_service(vps, template="14")
    assert again.pending_action == "reinstall"
    assert ProvisioningJob.objects.filter(service=vps, action="reinstall").count() == 1


@pytest.mark.parametrize(
    "template, message",
    [("99", "not offered"), ("", "Choose the operating system"), (None, "Choose the operating system")],
)
def test_a_template_the_product_does_not_offer_is_refused_on_the_template_field(vps, template, message):
    with pytest.raises(ReinstallNotAllowed, match=message) as caught:
        reinstall_service(vps, template=template)
    assert caught.value.field == "template"
    vps.refresh_from_db()
    assert vps.pending_action == ""
    assert not ProvisioningJob.objects.filter(service=vps, action="reinstall").exists()


@pytest.mark.parametrize(
    "status, message",
    [
        ("suspended", "suspended; pay the overdue invoice"),
        ("terminated", "terminated"),
        ("provisioning", "once the service is set up"),
        ("failed", "needs an active service"),
    ],
)
def test_services_not_active_are_refused_with_the_reason(vps, status, message):
    vps.status = status
    vps.save()
    with pytest.raises(ReinstallNotAllowed, match=message):
        reinstall_service(vps, template="12")
    assert not ProvisioningJob.objects.filter(service=vps, action="reinstall").exists()


def test_a_platform_without_reinstall_is_refused_with_its_reason(db):
    enhance = PlatformConnectionFactory(name="enhance", platform="enhance")
    service = ServiceFactory(connection=enhance, product=ProductFactory(platform="enhance", service_type="hosting"))
    assert "Web hosting has no reinstall" in reinstall_blocker(service)
    with pytest.raises(ReinstallNotAllowed, match="Web hosting has no reinstall"):
        reinstall_service(service)
    assert drivers.reinstall_support("enhance").supported is False
    assert {
        p: drivers.reinstall_support(p).supported for p in ("virtfusion", "pterodactyl", "synergycp", "sandbox")
    } == (dict.fromkeys(("virtfusion", "pterodactyl", "synergycp", "sandbox"), True))


def test_a_product_without_a_template_list_reinstalls_what_runs_now(product, django_capture_on_commit_callbacks):
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    assert reinstall_templates(service) == []
    with pytest.raises(ReinstallNotAllowed, match="offers no choice"):
        reinstall_service(service, template="12")
    with django_capture_on_commit_callbacks(execute=True):
        reinstall_service(service)
    assert ProvisioningJob.objects.get(service=service, action="reinstall").argument == ""


def test_a_slow_install_is_polled_and_power_waits_until_it_finishes(vps, sandbox, django_capture_on_commit_callbacks):
    sandbox.defaults = {"build_seconds": 300}
    sandbox.save()
    with django_capture_on_commit_callbacks(execute=True):
        reinstall_service(vps, template="12")
    vps.refresh_from_db()
    assert vps.pending_action == "reinstall"
    assert SandboxResource.objects.get(external_id=str(vps.uuid)).build_state == "building"
    assert "already running" in reinstall_blocker(vps)
    poll = ProvisioningJob.objects.get(action="poll_reinstall", outcome="queued")
    with django_capture_on_commit_callbacks(execute=True), clock.frozen_at(poll.run_after):
        run_due_jobs(limit=1)
    vps.refresh_from_db()
    assert vps.pending_action == "reinstall"
    with django_capture_on_commit_callbacks(execute=True), clock.frozen_at(clock.now() + dt.timedelta(minutes=10)):
        run_due_jobs()
    vps.refresh_from_db()
    assert vps.pending_action == ""
    assert SandboxResource.objects.get(external_id=str(vps.uuid)).build_state == "ready"


def test_a_reinstall_the_platform_keeps_refusing_clears_the_pending_action_and_alerts_staff(
    vps, sandbox, django_capture_on_commit_callbacks
):
    inject_fault(sandbox, "reinstall", "before", times=5, retryable=False)
    with django_capture_on_commit_callbacks(execute=True):
        reinstall_service(vps, template="12")
    vps.refresh_from_db()
    assert vps.pending_action == ""
    assert "injected failure before reinstall" in vps.last_error
    assert ProvisioningJob.objects.get(service=vps, action="reinstall").outcome == "failed"
    assert AuditLog.objects.filter(action="service.reinstall_failed").exists()


def test_a_game_server_reinstalls_one_of_its_products_eggs(sandbox, django_capture_on_commit_callbacks):
    eggs = [{"id": 5, "label": "Minecraft: Paper", "nest_id": 1}, {"id": 16, "label": "Minecraft: Vanilla"}]
    game = ProductFactory(
        service_type="game_server", platform="sandbox", platform_connection=sandbox,
        order_options={"hostname": "none", "eggs": eggs, "os_templates": TEMPLATES},
    )  # fmt: skip
    subscription, item = paid_item(game)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    assert [t["id"] for t in reinstall_templates(service)] == [5, 16]
    with pytest.raises(ReinstallNotAllowed, match="That game is not offered"):
        reinstall_service(service, template="12")  # an OS template is not a game
    with django_capture_on_commit_callbacks(execute=True):
        reinstall_service(service, template="16")
    assert ProvisioningJob.objects.get(service=service, action="reinstall").outcome == "succeeded"
