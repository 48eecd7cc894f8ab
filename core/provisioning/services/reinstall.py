"""Reinstalling a service: the customer erases the server and installs an OS template (or game egg)
from the product's allowed list, or what it runs now.

Invariants kept here:
- only an active service with nothing pending can be reinstalled; a suspended or terminated one is
  refused with the reason (and what to do) before anything is queued;
- at most one reinstall is in flight per service: asking again for the same template while it runs
  answers the same (idempotent, no second job); another template waits for the first to finish;
- `pending_action` stays "reinstall" until the platform reports the install finished (or staff are
  alerted after it failed), so power, plan changes and a second reinstall wait for it;
- the password stored after a reinstall is one the platform accepted: the driver's answer, ours
  where the platform took it, else a fresh one set once the install has finished.
A retried reinstall call (the answer was lost) may install twice; both erase the same disk.
"""

from __future__ import annotations

from functools import partial

from django.core.cache import cache
from django.db import transaction

from core.audit.services import record
from core.catalog.models import ServiceType
from core.provisioning import drivers
from core.provisioning.errors import ActionInProgress, ReinstallNotAllowed
from core.provisioning.models import ProvisioningJob, Service

from . import jobs
from .access import _usage_key
from .credentials import generate_password, queue_password_reset
from .polling import follow_build, poll_build, queue_poll
from .retries import retry_or_fail
from .states import S, lock_service

Action = ProvisioningJob.Action
Outcome = ProvisioningJob.Outcome

# Where a product lists what its services may be (re)installed with, by service type.
TEMPLATE_OPTION = {ServiceType.GAME_SERVER: "eggs"}
DEFAULT_TEMPLATE_OPTION = "os_templates"


def reinstall_templates(service: Service) -> list[dict]:
    """The templates ({"id", "label"}) the customer may install on this service: the product's
    `order_options` list (os_templates; eggs for game servers). Empty: only what it runs now."""
    options = service.product.order_options or {}
    key = TEMPLATE_OPTION.get(service.product.service_type, DEFAULT_TEMPLATE_OPTION)
    return [c for c in options.get(key) or [] if isinstance(c, dict) and c.get("id") not in (None, "")]


def reinstall_blocker(service: Service) -> str:
    """Why this service cannot be reinstalled now (for the customer), or "" when it can."""
    if service.status == S.SUSPENDED:
        return "Reinstalling is unavailable while the service is suspended; pay the overdue invoice first."
    if service.status == S.TERMINATED:
        return "This service has been terminated; there is nothing left to reinstall."
    if service.status in (S.PENDING, S.PROVISIONING, S.AWAITING_STOCK):
        return "Reinstalling becomes available once the service is set up."
    if service.status != S.ACTIVE:
        return f"Reinstalling needs an active service; this one is {service.get_status_display().lower()}."
    if service.pending_action == Action.REINSTALL:
        return "A reinstall is already running; it finishes in a few minutes."
    if service.pending_action:
        return f"Wait until “{service.pending_action}” has been confirmed, then try again."
    if service.connection_id is None:
        return "Reinstalling is done by our team for this service; open a ticket."
    support = drivers.reinstall_support(service.connection.platform)
    return "" if support.supported else support.reason


def _chosen_template(service: Service, template) -> str:
    template = "" if template is None else str(template).strip()
    allowed = reinstall_templates(service)
    if not allowed:
        if template:
            raise ReinstallNotAllowed(
                f"{service.product.name} offers no choice of template; reinstall without one to install what "
                "the server runs now.",
                field="template",
            )
        return ""
    for choice in allowed:
        if str(choice["id"]) == template:
            return str(choice["id"])
    what = "game" if service.product.service_type == ServiceType.GAME_SERVER else "operating system"
    if not template:
        raise ReinstallNotAllowed(f"Choose the {what} to install.", field="template")
    raise ReinstallNotAllowed(
        f"That {what} is not offered for {service.product.name}; choose one from the list.", field="template"
    )


def _pending_template(service: Service) -> str | None:
    return (
        ProvisioningJob.objects.filter(service=service, action=Action.REINSTALL)
        .order_by("-pk")
        .values_list("argument", flat=True)
        .first()
    )


def reinstall_service(service: Service, *, template: str | None = "", actor=None) -> Service:
    """Queue a reinstall of an active service with `template` (an id from reinstall_templates; ""
    when the product offers no choice). Everything on the server's disk is erased.

    Asking again for the same template while that reinstall runs returns the service unchanged.
    Raises ReinstallNotAllowed (state, platform, template) or ActionInProgress.
    """
    with transaction.atomic():
        locked = lock_service(service.pk)
        locked = Service.objects.select_related("product", "connection").get(pk=locked.pk)
        chosen = _chosen_template(locked, template) if locked.status == S.ACTIVE else None
        if locked.pending_action == Action.REINSTALL:
            if chosen is not None and _pending_template(locked) == chosen:
                return locked
            raise ActionInProgress("A reinstall is already running; wait for it to finish before starting another.")
        reason = reinstall_blocker(locked)
        if reason:
            raise ReinstallNotAllowed(reason)
        locked.pending_action = Action.REINSTALL
        locked.last_error = ""
        locked.save(update_fields=["pending_action", "last_error", "updated_at"])
        jobs.queue_job(locked, Action.REINSTALL, argument=chosen, actor=actor)
        record(
            "service.reinstall_requested", locked, actor=actor,
            message=f"Reinstall with {_label(locked, chosen)}", data={"template": chosen},
        )  # fmt: skip
    cache.delete(_usage_key(locked))
    return locked


def _label(service: Service, template: str) -> str:
    for choice in reinstall_templates(service):
        if str(choice["id"]) == template:
            return f"{choice.get('label') or template} ({template})"
    return f"template {template}" if template else "the current template"


def run_reinstall(job: ProvisioningJob) -> None:
    """The queued platform call. A fresh password goes with each attempt; only the one the platform
    accepted is stored."""
    service = Service.objects.select_related("product", "connection").get(pk=job.service_id)
    if service.pending_action != Action.REINSTALL:
        jobs.finish_job(job, Outcome.FAILED, error="Skipped: the service no longer waits for a reinstall.")
        return
    request = drivers.ReinstallRequest(
        template=job.argument,
        hostname=service.hostname,
        password=generate_password(),
        product_settings=dict(service.product.platform_settings or {}),
        config=dict(service.config or {}),
        choice=next((dict(c) for c in reinstall_templates(service) if str(c["id"]) == job.argument), {}),
    )
    try:
        driver = drivers.get_driver(service.connection)
        result = jobs.call_platform(job, request, lambda: driver.reinstall(service, request))
    except Exception as exc:
        retry_or_fail(job, exc)
        return
    with transaction.atomic():
        service = lock_service(job.service_id)
        jobs.finish_job(job, Outcome.SUCCEEDED, response=result)
        if service.pending_action != Action.REINSTALL:
            return
        credentials = dict(service.credentials or {})
        credentials.pop("password", None)  # the old password went with the old disk
        if result.password_applied:
            credentials["password"] = request.password
        service.credentials = {**credentials, **(result.credentials or {})}
        service.config = {**(service.config or {}), **(result.config or {})}
        service.platform_data = {**(service.platform_data or {}), **(result.platform_data or {})}
        service.save(update_fields=["credentials", "config", "platform_data", "updated_at"])
        follow_build(service, job, result.state, what="reinstall", on_ready=_finish, requeue=_queue_poll)


_queue_poll = partial(queue_poll, action=Action.POLL_REINSTALL)


def run_reinstall_poll(job: ProvisioningJob) -> None:
    poll_build(
        job,
        what="reinstall",
        waiting=lambda service: service.pending_action == Action.REINSTALL,
        skipped=lambda service: "Skipped: the service no longer waits for a reinstall.",
        on_ready=_finish,
        requeue=_queue_poll,
    )


def _finish(service: Service) -> None:
    """On a locked service whose reinstall finished: clear the pending action, and give it a fresh
    password when the platform did not tell us the one it set."""
    service.pending_action = ""
    service.last_error = ""
    service.save()
    record("service.reinstall", service, message="Reinstalled", source="task")
    cache.delete(_usage_key(service))
    if not (service.credentials or {}).get("password"):
        queue_password_reset(service)
    _email_customer(service)


def _email_customer(service: Service) -> None:
    """Tell the customer the reinstall is done (once per reinstall job): what runs now, and where the new
    password is (never in the email)."""
    from core.notifications.services import notify

    job_id, template = (
        ProvisioningJob.objects.filter(service=service, action=Action.REINSTALL)
        .order_by("-pk")
        .values_list("pk", "argument")
        .first()
    ) or (0, "")
    label = next((c.get("label") or str(c["id"]) for c in reinstall_templates(service) if str(c["id"]) == template), "")
    notify(
        "service_reinstalled",
        to=service.customer.user.email,
        customer=service.customer,
        key=f"service_reinstalled:{service.uuid}:{job_id}",
        context={"product": service.product.name, "label": str(service), "service_path": f"/services/{service.uuid}/",
                 "template": label, "new_password": service.product.service_type != ServiceType.GAME_SERVER},
    )  # fmt: skip
