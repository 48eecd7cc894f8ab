"""Polling a platform until a build finishes: shared by the first build and by a reinstall.

Each poll is a provisioning job: it asks the driver for the build status, then on the locked service
either finishes (READY: IPs taken over, then `on_ready`), gives up (FAILED, or past the deadline in the
job's argument) or queues the next poll. `waiting(service)` says whether the service still waits for
this build; a poll that finds it no longer does changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import transaction

from core import clock
from core.provisioning import drivers
from core.provisioning.conf import setting
from core.provisioning.models import ProvisioningJob, Service

from . import jobs
from .retries import give_up, retry_or_fail
from .states import lock_service

Outcome = ProvisioningJob.Outcome


def poll_build(
    job: ProvisioningJob,
    *,
    what: str,
    waiting: Callable[[Service], bool],
    skipped: Callable[[Service], str],
    on_ready: Callable[[Service], None],
    requeue: Callable[[Service, str], None],
) -> None:
    service = Service.objects.select_related("product", "connection").get(pk=job.service_id)
    if not waiting(service):
        jobs.finish_job(job, Outcome.FAILED, error=skipped(service))
        return
    try:
        driver = drivers.get_driver(service.connection)
        request = {"external_id": str(service.uuid), "platform_service_id": service.platform_service_id}
        status = jobs.call_platform(job, request, lambda: driver.build_status(service))
    except Exception as exc:
        retry_or_fail(job, exc)
        return
    with transaction.atomic():
        service = lock_service(job.service_id)
        jobs.finish_job(job, Outcome.SUCCEEDED, response=status)
        if not waiting(service):
            return
        if status.state == drivers.BuildState.READY:
            if status.primary_ip:
                service.primary_ip = status.primary_ip
            if status.ip_addresses:
                service.ip_addresses = list(status.ip_addresses)
            on_ready(service)
        elif status.state == drivers.BuildState.FAILED:
            give_up(service, job, status.message or f"The platform reported that the {what} failed.")
        elif clock.now() > dt.datetime.fromisoformat(job.argument):
            give_up(service, job, f"The {what} did not finish in time (PROVISIONING['BUILD_TIMEOUT_SECONDS']).")
        else:
            requeue(service, job.argument)


def follow_build(
    service: Service,
    job: ProvisioningJob,
    state,
    *,
    what: str,
    on_ready: Callable[[Service], None],
    requeue: Callable[[Service, str], None],
) -> None:
    """On the locked service, after the platform took a build or reinstall: done, failed, or polled
    until BUILD_TIMEOUT_SECONDS from now."""
    if state == drivers.BuildState.READY:
        on_ready(service)
    elif state == drivers.BuildState.FAILED:
        give_up(service, job, f"The platform reported that the {what} failed.")
    else:
        requeue(service, (clock.now() + dt.timedelta(seconds=setting("BUILD_TIMEOUT_SECONDS"))).isoformat())


def queue_poll(service: Service, deadline: str, *, action: str) -> None:
    """The next poll (`action`) after POLL_INTERVAL_SECONDS, carrying the deadline on."""
    run_after = clock.now() + dt.timedelta(seconds=setting("POLL_INTERVAL_SECONDS"))
    jobs.queue_job(service, action, argument=deadline, run_after=run_after)
