"""ProvisioningJob rows: one per platform call (or queued call), claimed once, timed and redacted.

A queued job is dispatched after the surrounding transaction commits: at once through
django-q2, or through a one-off django-q2 schedule when it must wait (backoff, build polling).
Claiming takes a row lock and flips the outcome from queued to running, so two workers handed
the same job (a duplicated message, a re-delivery after a crash) never both run it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from django.db import models, transaction

from core import clock
from core.provisioning.conf import setting
from core.provisioning.models import ProvisioningJob, Service
from core.provisioning.redaction import redact

log = logging.getLogger(__name__)

Outcome = ProvisioningJob.Outcome
RUN_JOB_TASK = "core.provisioning.tasks.run_provisioning_job"


def as_payload(value: Any) -> Any:
    """A JSON-safe, redacted copy of a dataclass/dict for storing on a job."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Callbacks (ProvisionRequest.on_progress) are behaviour, not data: neither stored nor deep-copied.
        hooks = [f.name for f in dataclasses.fields(value) if callable(getattr(value, f.name))]
        value = dataclasses.asdict(dataclasses.replace(value, **dict.fromkeys(hooks)) if hooks else value)
        for name in hooks:
            value.pop(name, None)
    return redact(value) if value is not None else {}


def backoff_delay(attempt: int) -> dt.timedelta:
    """Exponential backoff after `attempt` failed: base * 2**(attempt-1), capped."""
    seconds = setting("RETRY_BASE_SECONDS") * (2 ** (attempt - 1))
    return dt.timedelta(seconds=min(seconds, setting("RETRY_MAX_SECONDS")))


def queue_job(
    service: Service,
    action: str,
    *,
    argument: str = "",
    attempt: int = 1,
    actor=None,
    run_after: dt.datetime | None = None,
    round_key: str | None = None,
) -> ProvisioningJob:
    """Record a queued job and dispatch it once the caller's transaction commits.

    `round_key` ties the attempts of one logical action together (the idempotency key is
    `<service uuid>:<action>:<round>:<attempt>`); a new round starts when none is given.
    """
    round_key = round_key or secrets.token_hex(4)
    job = ProvisioningJob.objects.create(
        service=service,
        connection_id=service.connection_id,
        action=action,
        argument=str(argument)[:64],
        attempt=attempt,
        outcome=Outcome.QUEUED,
        requested_by=actor if getattr(actor, "pk", None) else None,
        idempotency_key=f"{service.uuid}:{action}:{round_key}:{attempt}",
        run_after=run_after,
    )
    transaction.on_commit(lambda: dispatch_job(job.pk, run_after))
    return job


def round_key_of(job: ProvisioningJob) -> str:
    parts = job.idempotency_key.split(":")
    return parts[2] if len(parts) >= 4 else secrets.token_hex(4)


def dispatch_job(job_id: int, run_after: dt.datetime | None = None) -> None:
    """Hand a job to django-q2: now, or as a one-off schedule when it must wait."""
    from django_q.models import Schedule
    from django_q.tasks import async_task, schedule

    if run_after is not None and run_after > clock.now():
        schedule(
            RUN_JOB_TASK, job_id, name=f"provisioning-job-{job_id}", schedule_type=Schedule.ONCE, next_run=run_after
        )
    else:
        async_task(RUN_JOB_TASK, job_id, group="provisioning")


def claim_job(job_id: int) -> ProvisioningJob | None:
    """Mark a queued job running and return it, or None when another worker has (or had) it."""
    stale_before = clock.now() - dt.timedelta(seconds=setting("STALE_JOB_SECONDS"))
    with transaction.atomic():
        job = ProvisioningJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return None
        is_stale = job.outcome == Outcome.RUNNING and job.started_at is not None and job.started_at < stale_before
        if job.outcome != Outcome.QUEUED and not is_stale:
            return None
        job.outcome = Outcome.RUNNING
        job.started_at = clock.now()
        job.save(update_fields=["outcome", "started_at"])
    return job


def finish_job(job: ProvisioningJob, outcome: str, *, response: Any = None, error: str = "") -> None:
    job.outcome = outcome
    job.finished_at = clock.now()
    if response is not None:
        job.response = as_payload(response)
    job.error = error[:5000]
    job.save(update_fields=["outcome", "finished_at", "response", "error", "duration_ms", "request"])


def call_platform(job: ProvisioningJob, request: Any, fn: Callable[[], Any]) -> Any:
    """Run one platform call on behalf of `job`, storing the redacted request and its duration.

    Exceptions propagate; the caller decides retry or failure and calls finish_job.
    """
    job.request = as_payload(request)
    started = time.monotonic()
    try:
        return fn()
    finally:
        job.duration_ms = round((time.monotonic() - started) * 1000)


def run_now(
    service: Service,
    action: str,
    request: Any,
    fn: Callable[[], Any],
    *,
    argument: str = "",
    actor=None,
    redact_response: bool = False,
) -> Any:
    """A synchronous platform call (power, usage, credentials, panel link), logged as a finished job."""
    job = ProvisioningJob.objects.create(
        service=service,
        connection_id=service.connection_id,
        action=action,
        argument=str(argument)[:64],
        outcome=Outcome.RUNNING,
        requested_by=actor if getattr(actor, "pk", None) else None,
        started_at=clock.now(),
        idempotency_key=f"{service.uuid}:{action}:{secrets.token_hex(4)}:1",
    )
    try:
        result = call_platform(job, request, fn)
    except Exception as exc:
        finish_job(job, Outcome.FAILED, error=f"{exc.__class__.__name__}: {exc}")
        raise
    # Single sign-on links are secrets in themselves.
    response = {"result": "[REDACTED]"} if redact_response else (result if result is not None else {})
    finish_job(job, Outcome.SUCCEEDED, response=response)
    return result


def dispatch_overdue_jobs() -> int:
    """Hand again to the queue the jobs whose dispatch was lost: queued jobs due for a while
    (a broker restart, a dropped schedule) and running jobs whose worker died (stale).
    Claiming makes a double hand-over harmless. Runs every minute (django-q2 schedule)."""
    grace = dt.timedelta(seconds=max(setting("POLL_INTERVAL_SECONDS"), 60))
    now = clock.now()
    stale_before = now - dt.timedelta(seconds=setting("STALE_JOB_SECONDS"))
    overdue = (
        ProvisioningJob.objects.filter(outcome=Outcome.QUEUED, service__isnull=False)
        .filter(models.Q(run_after__lt=now - grace) | models.Q(run_after__isnull=True, created_at__lt=now - grace))
        .values_list("pk", flat=True)
    )
    stale = ProvisioningJob.objects.filter(
        outcome=Outcome.RUNNING, started_at__lt=stale_before, service__isnull=False
    ).values_list("pk", flat=True)
    ids = sorted(set(overdue) | set(stale))
    for job_id in ids:
        dispatch_job(job_id)
    return len(ids)
