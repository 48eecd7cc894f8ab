import datetime as dt

import pytest
from django.core import mail
from django.db import connection as db_connection
from django_q.models import Schedule

from core import clock
from core.audit.models import AuditLog
from core.notifications.models import Notification
from core.provisioning import drivers
from core.provisioning.errors import ActionInProgress, InvalidTransition
from core.provisioning.models import ProvisioningJob, SandboxResource, Service
from core.provisioning.services import (
    TRANSITIONS,
    change_service_package,
    create_service,
    provision_service,
    retry_provisioning,
    suspend_service,
    terminate_service,
    unsuspend_service,
)
from integrations.platforms.sandbox.driver import inject_fault
from tests.factories import ProductFactory, ServiceFactory

from .conftest import paid_item, run_due_jobs

pytestmark = pytest.mark.django_db


def test_paid_order_item_becomes_active_service_after_commit(product, django_capture_on_commit_callbacks):
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        service = create_service(subscription, item)
        # Nothing reaches the platform before the caller's transaction commits.
        assert service.status == "pending"
        assert not SandboxResource.objects.exists()
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks(execute=True):
        callbacks[0]()
    service.refresh_from_db()
    assert service.status == "active"
    assert service.provisioned_at is not None
    assert service.primary_ip.startswith("203.0.113.")
    assert any(ip.startswith("2001:db8:") for ip in service.ip_addresses)
    assert SandboxResource.objects.get().external_id == str(service.uuid)


def test_create_service_is_idempotent_per_order_item(product, django_capture_on_commit_callbacks):
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        first = create_service(subscription, item)
        second = create_service(subscription, item)
    assert first.pk == second.pk
    assert Service.objects.count() == 1
    assert ProvisioningJob.objects.filter(action="create").count() == 1
    assert SandboxResource.objects.count() == 1


def test_credentials_are_encrypted_at_rest_and_emailed_once(product, django_capture_on_commit_callbacks):
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    service.refresh_from_db()
    password = service.credentials["password"]
    assert len(password) >= 20
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM provisioning_service WHERE id = %s", [service.pk])
        stored = cursor.fetchone()[0]
    assert password not in stored and stored.startswith("fernet:")
    ready = [m for m in mail.outbox if "is ready" in m.subject]
    assert len(ready) == 1 and password in ready[0].body and service.primary_ip in ready[0].body
    assert service.credentials_sent_at is not None
    # The queued task never carried the plaintext password.
    notification = Notification.objects.get(event="service_ready")
    assert notification.recipient == service.customer.user.email
    # Activating again (e.g. after a re-provision) does not send a second welcome.
    with django_capture_on_commit_callbacks(execute=True):
        from core.provisioning.services.lifecycle import _send_welcome

        _send_welcome(service)
    assert len([m for m in mail.outbox if "is ready" in m.subject]) == 1


def test_failure_after_platform_accepted_create_is_retried_without_a_second_server(
    product, sandbox, django_capture_on_commit_callbacks
):
    inject_fault(sandbox, "create", "after", times=1)
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    service.refresh_from_db()
    assert service.status == "provisioning"
    first = ProvisioningJob.objects.get(action="create", attempt=1)
    assert first.outcome == "retrying"
    retry = ProvisioningJob.objects.get(action="create", attempt=2)
    assert retry.run_after == pytest.approx(first.finished_at + dt.timedelta(seconds=30), abs=dt.timedelta(seconds=2))
    assert Schedule.objects.filter(name=f"provisioning-job-{retry.pk}").exists()

    with django_capture_on_commit_callbacks(execute=True), clock.frozen_at(retry.run_after):
        run_due_jobs()
    service.refresh_from_db()
    assert service.status == "active"
    assert SandboxResource.objects.count() == 1
    retry.refresh_from_db()
    assert retry.outcome == "succeeded" and retry.response["adopted"] is True
    assert AuditLog.objects.filter(action="service.adopt", object_id=str(service.pk)).exists()


def test_retries_back_off_exponentially_then_fail_with_staff_alert(
    product, sandbox, django_capture_on_commit_callbacks
):
    inject_fault(sandbox, "create", "before", times=10)
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
        run_due_jobs()
    service.refresh_from_db()
    assert service.status == "failed"
    attempts = list(ProvisioningJob.objects.filter(action="create").order_by("attempt"))
    assert [j.attempt for j in attempts] == [1, 2, 3]
    assert [j.outcome for j in attempts] == ["retrying", "retrying", "failed"]
    gaps = [(attempts[i + 1].run_after - attempts[i].finished_at).total_seconds() for i in range(2)]
    assert gaps == [pytest.approx(30, abs=2), pytest.approx(60, abs=2)]
    assert "injected failure" in service.last_error
    assert Notification.objects.filter(channel="discord", subject="Provisioning failed").count() == 1
    assert not SandboxResource.objects.exists()


def test_non_retryable_error_fails_at_once(product, sandbox, django_capture_on_commit_callbacks):
    inject_fault(sandbox, "create", "before", times=1, retryable=False)
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    service.refresh_from_db()
    assert service.status == "failed"
    assert ProvisioningJob.objects.filter(action="create").count() == 1


def test_retry_action_provisions_a_failed_service(product, sandbox, staff_user, django_capture_on_commit_callbacks):
    inject_fault(sandbox, "create", "after", times=1, retryable=False)
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    service.refresh_from_db()
    assert service.status == "failed"
    with django_capture_on_commit_callbacks(execute=True):
        retry_provisioning(service, actor=staff_user)
    service.refresh_from_db()
    assert service.status == "active"
    assert SandboxResource.objects.count() == 1  # the server made by the failed attempt was adopted
    assert AuditLog.objects.filter(action="service.retry", actor=staff_user).exists()


def test_driver_already_exists_error_adopts_the_resource(product, monkeypatch, django_capture_on_commit_callbacks):
    def already_exists(self, request):
        raise drivers.AlreadyExists("exists", status_code=422, details={"platform_service_id": "777"})

    monkeypatch.setattr("integrations.platforms.sandbox.driver.SandboxDriver.create", already_exists)
    monkeypatch.setattr(
        "integrations.platforms.sandbox.driver.SandboxDriver.build_status",
        lambda self, service: drivers.BuildStatus(state=drivers.BuildState.READY, primary_ip="203.0.113.77"),
    )
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
        run_due_jobs()
    service.refresh_from_db()
    assert service.status == "active"
    assert service.platform_service_id == "777"
    assert service.primary_ip == "203.0.113.77"


def test_slow_build_is_polled_until_ready(product, sandbox, django_capture_on_commit_callbacks):
    sandbox.defaults = {"build_seconds": 120}
    sandbox.save()
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    service.refresh_from_db()
    assert service.status == "provisioning"
    poll = ProvisioningJob.objects.get(action="poll", outcome="queued")
    with django_capture_on_commit_callbacks(execute=True), clock.frozen_at(poll.run_after):
        run_due_jobs(limit=1)  # still building: another poll is queued
    service.refresh_from_db()
    assert service.status == "provisioning"
    assert ProvisioningJob.objects.filter(action="poll", outcome="queued").count() == 1
    with django_capture_on_commit_callbacks(execute=True), clock.frozen_at(clock.now() + dt.timedelta(minutes=5)):
        run_due_jobs()
    service.refresh_from_db()
    assert service.status == "active"


def test_job_log_is_redacted_and_timed(product, django_capture_on_commit_callbacks):
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    job = ProvisioningJob.objects.get(service=service, action="create")
    assert job.request["password"] == "[REDACTED]"
    assert job.request["external_id"] == str(service.uuid)
    assert job.response["credentials"] == "[REDACTED]"
    assert job.duration_ms is not None and job.outcome == "succeeded"
    assert job.idempotency_key.startswith(f"{service.uuid}:create:")


def test_a_job_runs_only_once(product, sandbox, django_capture_on_commit_callbacks):
    from core.provisioning.services import lifecycle

    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=False):
        service = create_service(subscription, item)
    job = ProvisioningJob.objects.get(service=service, action="create")
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.run_job(job.pk) == "succeeded"
        assert lifecycle.run_job(job.pk) == "not claimed"
    assert SandboxResource.objects.count() == 1


def test_provision_service_runs_the_create_step_inline(product, django_capture_on_commit_callbacks):
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=False):
        service = create_service(subscription, item)
    with django_capture_on_commit_callbacks(execute=True):
        service = provision_service(service)
    assert service.status == "active"


# --- Suspend / unsuspend / terminate / change package ------------------------------------------


@pytest.fixture
def active_service(product, django_capture_on_commit_callbacks):
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    service.refresh_from_db()
    assert service.status == "active"
    return service


def test_suspended_only_after_platform_confirms(active_service, staff_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        suspend_service(active_service, reason="Overdue invoice", actor=staff_user)
    active_service.refresh_from_db()
    assert active_service.status == "active"
    assert active_service.pending_action == "suspend"
    assert not SandboxResource.objects.get().is_suspended
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    active_service.refresh_from_db()
    assert active_service.status == "suspended" and active_service.pending_action == ""
    assert active_service.suspended_at is not None
    assert SandboxResource.objects.get().is_suspended
    assert any("suspended" in m.subject for m in mail.outbox)
    assert AuditLog.objects.filter(action="service.suspend_requested", actor=staff_user).exists()


def test_suspension_refused_by_platform_leaves_service_active(
    active_service, sandbox, django_capture_on_commit_callbacks
):
    inject_fault(sandbox, "suspend", "before", times=1, retryable=False)
    with django_capture_on_commit_callbacks(execute=True):
        suspend_service(active_service, reason="Overdue")
    active_service.refresh_from_db()
    assert active_service.status == "active"
    assert active_service.pending_action == ""
    assert "injected failure" in active_service.last_error
    assert Notification.objects.filter(channel="discord", subject="Suspend failed").exists()


def test_suspend_twice_queues_one_platform_call(active_service, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        suspend_service(active_service, reason="Overdue")
        suspend_service(active_service, reason="Overdue")
    assert ProvisioningJob.objects.filter(action="suspend").count() == 1


def test_unsuspend_then_terminate_follow_the_platform(active_service, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        suspend_service(active_service, reason="Overdue")
    with django_capture_on_commit_callbacks(execute=True):
        unsuspend_service(active_service)
    active_service.refresh_from_db()
    assert active_service.status == "active" and active_service.suspended_at is None
    assert not SandboxResource.objects.get().is_suspended
    with django_capture_on_commit_callbacks(execute=True):
        terminate_service(active_service, reason="Cancelled")
    active_service.refresh_from_db()
    assert active_service.status == "terminated" and active_service.terminated_at is not None
    assert SandboxResource.objects.get().deleted_at is not None


def test_second_action_while_one_is_pending_is_refused(active_service, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        suspend_service(active_service, reason="Overdue")
        with pytest.raises(ActionInProgress):
            terminate_service(active_service, reason="Cancelled")


def test_illegal_transitions_raise(db):
    service = ServiceFactory(status="terminated")
    with pytest.raises(InvalidTransition):
        suspend_service(service, reason="x")
    with pytest.raises(InvalidTransition):
        unsuspend_service(service)
    with pytest.raises(InvalidTransition):
        retry_provisioning(service, actor=None)
    service.refresh_from_db()
    assert service.status == "terminated" and service.pending_action == ""


def test_transition_table_matches_the_lifecycle():
    assert TRANSITIONS["terminated"] == frozenset()
    assert "active" in TRANSITIONS["suspended"] and "suspended" in TRANSITIONS["active"]
    assert "pending" in TRANSITIONS["failed"]
    assert "active" not in TRANSITIONS["pending"]


def test_change_package_switches_product_after_confirmation(active_service, django_capture_on_commit_callbacks):
    bigger = ProductFactory(platform="sandbox", ram_mb=8192)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        change_service_package(active_service, bigger)
    active_service.refresh_from_db()
    assert active_service.product_id != bigger.pk and active_service.pending_action == "change_package"
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    active_service.refresh_from_db()
    assert active_service.product_id == bigger.pk
    assert SandboxResource.objects.get().features["ram_mb"] == 8192


def test_terminating_a_service_never_created_needs_no_platform(product, django_capture_on_commit_callbacks):
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=False):
        service = create_service(subscription, item)
        terminate_service(service, reason="Fraud")
    service.refresh_from_db()
    assert service.status == "terminated"
    job = ProvisioningJob.objects.get(action="create")
    from core.provisioning.services import lifecycle

    lifecycle.run_job(job.pk)
    job.refresh_from_db()
    assert job.outcome == "failed" and "Skipped" in job.error
    assert not SandboxResource.objects.exists()


def test_lost_and_stale_jobs_are_dispatched_again(product, monkeypatch, django_capture_on_commit_callbacks):
    from core.provisioning.services import jobs

    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=False):
        service = create_service(subscription, item)  # its dispatch is lost: callbacks never run
    lost = ProvisioningJob.objects.get(service=service, action="create")
    stale = ProvisioningJob.objects.create(
        service=service, action="suspend", outcome="running", started_at=clock.now() - dt.timedelta(minutes=12)
    )
    fresh = ProvisioningJob.objects.create(
        service=service, action="unsuspend", outcome="running", started_at=clock.now()
    )
    dispatched = []
    monkeypatch.setattr(jobs, "dispatch_job", lambda job_id, run_after=None: dispatched.append(job_id))
    assert jobs.dispatch_overdue_jobs() == 0  # not overdue yet
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=5)):
        assert jobs.dispatch_overdue_jobs() == 2
        # A stale running job is taken over by the next worker that is handed it.
        assert jobs.claim_job(stale.pk) is not None
    assert sorted(dispatched) == sorted([lost.pk, stale.pk])
    assert fresh.pk not in dispatched
    assert Schedule.objects.filter(name="provisioning-dispatch-overdue-jobs").exists()
