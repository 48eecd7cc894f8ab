"""The queued entry point of the service lifecycle: `run_job` hands each claimed ProvisioningJob
to the module that owns its action, and `provision_service` runs a create in this process.

Where the lifecycle lives, by topic:
- create.py       create_service, queue_provisioning, retry_provisioning, assign_hardware
- build.py        the create job (ids of partial creates kept), build polling, activation
- actions.py      suspend, unsuspend, terminate, change package (confirmed by the platform)
- credentials.py  passwords, the reset before the welcome email, the welcome email
- reinstall.py    reinstall (erase and install a template again) and its polling
- retries.py      the next attempt with backoff, or giving up and alerting staff
- states.py       the transition table; jobs.py the ProvisioningJob log and queue

Invariants kept across them:
- a status changes only through the transition table (states.py), on a locked row;
- a status that depends on the platform (suspended, active again, terminated, new package)
  is written only after the platform confirmed it; until then `pending_action` names it;
- a create, however often it is retried or duplicated, never makes a second resource: our
  Service.uuid is the platform's external id and drivers look it up before creating, and the
  platform ids a partial create obtained are stored at once and handed back as `existing`;
- the welcome email carries a password the platform accepted: a resource whose password we
  do not know (adopted, or an existing panel login that kept its own) gets a fresh one
  (reset_credentials) before the email goes out.
"""

from __future__ import annotations

import logging

from django.db import transaction

from core.provisioning.errors import InvalidTransition
from core.provisioning.models import ProvisioningJob, Service

from . import jobs
from .actions import (
    change_service_package,
    run_action,
    suspend_service,
    terminate_service,
    unsuspend_service,
)
from .build import run_create, run_poll, save_platform_ids
from .create import assign_hardware, create_service, queue_provisioning, retry_provisioning
from .credentials import run_reset_credentials
from .credentials import send_welcome_email as _send_welcome
from .reinstall import run_reinstall, run_reinstall_poll
from .retries import retry_or_fail
from .states import S, lock_service

log = logging.getLogger(__name__)

Action = ProvisioningJob.Action
Outcome = ProvisioningJob.Outcome

__all__ = [
    "_send_welcome",
    "assign_hardware",
    "change_service_package",
    "create_service",
    "provision_service",
    "queue_provisioning",
    "retry_provisioning",
    "run_job",
    "save_platform_ids",
    "suspend_service",
    "terminate_service",
    "unsuspend_service",
]

_HANDLERS = {
    Action.CREATE: run_create,
    Action.POLL: run_poll,
    Action.SUSPEND: run_action,
    Action.UNSUSPEND: run_action,
    Action.TERMINATE: run_action,
    Action.CHANGE_PACKAGE: run_action,
    Action.RESET_CREDENTIALS: run_reset_credentials,
    Action.REINSTALL: run_reinstall,
    Action.POLL_REINSTALL: run_reinstall_poll,
}


def run_job(job_id: int) -> str:
    """Run one queued provisioning job if nobody else has; returns its outcome (for django-q's log)."""
    job = jobs.claim_job(job_id)
    if job is None:
        return "not claimed"
    handler = _HANDLERS.get(job.action)
    if handler is None:
        jobs.finish_job(job, Outcome.FAILED, error=f"No queued handler for {job.action}.")
        return Outcome.FAILED
    try:
        handler(job)
    except Exception as exc:
        log.exception("provisioning job %s crashed", job_id)
        retry_or_fail(job, exc)
    job.refresh_from_db(fields=["outcome"])
    return job.outcome


def provision_service(service: Service) -> Service:
    """Run the create step of a pending (or provisioning) service now, in this process.

    This is the body of the queued job; staff tools and tests call it to skip the queue.
    A job already claimed by a worker is left to that worker.
    """
    job = (
        ProvisioningJob.objects.filter(service=service, action=Action.CREATE, outcome=Outcome.QUEUED)
        .order_by("-pk")
        .first()
    )
    if job is None:
        with transaction.atomic():
            locked = lock_service(service.pk)
            if locked.status not in (S.PENDING, S.PROVISIONING):
                raise InvalidTransition(locked, S.PROVISIONING)
            job = jobs.queue_job(locked, Action.CREATE)
    run_job(job.pk)
    service.refresh_from_db()
    return service
