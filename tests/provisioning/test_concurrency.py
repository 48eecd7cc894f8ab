"""Races that need real row locks (MariaDB): two workers, one job; two fulfilments, one service."""

import threading
import time

import pytest
from django.db import connection

from core.provisioning.models import ProvisioningJob, SandboxResource, Service
from core.provisioning.services import create_service, lifecycle
from integrations.platforms.sandbox.driver import SandboxDriver

from .conftest import paid_item

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]


def _in_threads(target, count=2):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results


def test_two_workers_running_the_same_job_create_once(product, monkeypatch):
    monkeypatch.setattr("core.provisioning.services.jobs.dispatch_job", lambda *a, **k: None)
    calls = []
    original = SandboxDriver.create

    def slow_create(self, request):
        calls.append(request.external_id)
        time.sleep(0.3)  # hold the window open so the second worker arrives while the first is inside
        return original(self, request)

    monkeypatch.setattr(SandboxDriver, "create", slow_create)
    service = create_service(*paid_item(product))
    job = ProvisioningJob.objects.get(service=service, action="create")
    outcomes = _in_threads(lambda: lifecycle.run_job(job.pk))
    assert sorted(outcomes) == ["not claimed", "succeeded"]
    assert len(calls) == 1
    assert SandboxResource.objects.count() == 1
    service.refresh_from_db()
    assert service.status == "active"


def test_concurrent_fulfilment_of_one_order_item_makes_one_service(product, monkeypatch):
    monkeypatch.setattr("core.provisioning.services.jobs.dispatch_job", lambda *a, **k: None)
    subscription, item = paid_item(product)
    services = _in_threads(lambda: create_service(subscription, item))
    assert services[0].pk == services[1].pk
    assert Service.objects.count() == 1
    assert ProvisioningJob.objects.filter(action="create").count() == 1


def test_two_suspends_at_once_queue_one_platform_call(product, monkeypatch):
    service = create_service(*paid_item(product))  # runs inline: autocommit + sync queue
    service.refresh_from_db()
    assert service.status == "active"
    monkeypatch.setattr("core.provisioning.services.jobs.dispatch_job", lambda *a, **k: None)
    _in_threads(lambda: lifecycle.suspend_service(service, reason="Overdue"))
    assert ProvisioningJob.objects.filter(action="suspend").count() == 1
