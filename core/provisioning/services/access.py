"""What customers and staff do with a running service: power, usage, panel link, new credentials.

These are synchronous platform calls (the person is waiting for the answer); each one is
still logged as a finished ProvisioningJob.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import transaction

from core.audit.services import record
from core.provisioning import drivers
from core.provisioning.conf import setting
from core.provisioning.errors import InvalidTransition, PlatformActionFailed, ProvisioningError
from core.provisioning.models import ProvisioningJob, Service

from . import jobs
from .credentials import generate_password, send_welcome_email
from .states import S

log = logging.getLogger(__name__)
Action = ProvisioningJob.Action


def _driver(service: Service) -> drivers.ProvisioningDriver:
    if service.connection is None:
        raise ProvisioningError(f"Service {service.pk} is not on a platform; staff manage it by hand.")
    return drivers.get_driver(service.connection)


def _require_active(service: Service, what: str) -> None:
    if service.status != S.ACTIVE:
        raise InvalidTransition(
            service, what, f"{what.capitalize()} needs an active service; this one is {service.get_status_display()}."
        )
    if service.pending_action:
        raise ProvisioningError(f"Wait until “{service.pending_action}” has been confirmed, then try again.")


def power_service(service: Service, action: drivers.PowerAction, *, actor) -> None:
    """Send a power signal (boot, shutdown, restart, hard stop) to an active service."""
    action = drivers.PowerAction(action)
    _require_active(service, "a power action")
    driver = _driver(service)
    if action == drivers.PowerAction.HARD_STOP and not driver.supports_hard_stop:
        raise ProvisioningError("This platform has no hard stop; use shutdown instead.")
    try:
        jobs.run_now(
            service, Action.POWER, {"action": str(action)}, lambda: driver.power(service, action), argument=action,
            actor=actor,
        )  # fmt: skip
    except drivers.DriverError as exc:
        raise PlatformActionFailed(f"The platform refused “{action}”: {exc}. Try again in a minute.") from exc
    cache.delete(_usage_key(service))
    record("service.power", service, actor=actor, message=str(action))


def reset_service_credentials(service: Service, *, actor) -> Service:
    """Give an active service a new strong password on the platform and store it (encrypted).
    The new credentials are shown in the portal, not emailed, except when the welcome email was
    never sent (the automatic reset of an adopted resource failed): then it goes out now."""
    _require_active(service, "a password reset")
    driver = _driver(service)
    password = generate_password()
    try:
        new = jobs.run_now(
            service, Action.RESET_CREDENTIALS, {"password": password},
            lambda: driver.reset_credentials(service, password), actor=actor,
        )  # fmt: skip
    except drivers.DriverError as exc:
        raise PlatformActionFailed(f"The platform did not accept a new password: {exc}. Try again later.") from exc
    with transaction.atomic():
        locked = Service.objects.select_for_update().get(pk=service.pk)
        locked.credentials = {**(locked.credentials or {}), "password": password, **(new or {})}
        locked.save(update_fields=["credentials", "updated_at"])
        record("service.reset_credentials", locked, actor=actor, message="Credentials reset")
        # Services imported from WHMCS got their details from WHMCS; no "ready" email for them.
        if locked.credentials_sent_at is None and locked.whmcs_id is None:
            send_welcome_email(locked)
    service.credentials = locked.credentials
    return locked


def _usage_key(service: Service) -> str:
    return f"provisioning:usage:{service.pk}"


def service_usage(service: Service) -> drivers.ResourceUsage | None:
    """Current usage and power state from the platform (cached briefly); None when unavailable."""
    if service.status not in (S.ACTIVE, S.SUSPENDED) or service.connection is None:
        return None
    key = _usage_key(service)
    found = cache.get(key)
    if found is not None:
        return found
    try:
        driver = _driver(service)
        usage = jobs.run_now(service, Action.USAGE, {"external_id": str(service.uuid)}, lambda: driver.usage(service))
    except Exception as exc:  # the page still renders; the job row keeps the error for staff
        log.warning("usage for service %s unavailable: %s", service.pk, exc)
        return None
    cache.set(key, usage, setting("USAGE_CACHE_SECONDS"))
    return usage


def service_panel_url(service: Service) -> str:
    """The customer's link into the platform's panel (single sign-on where the platform offers it)."""
    _require_active(service, "the control panel")
    driver = _driver(service)
    try:
        return jobs.run_now(
            service, Action.PANEL_URL, {"external_id": str(service.uuid)}, lambda: driver.panel_url(service),
            redact_response=True,
        )  # fmt: skip
    except drivers.DriverError as exc:
        raise PlatformActionFailed(f"The control panel link is unavailable right now: {exc}.") from exc
