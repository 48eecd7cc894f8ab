"""Platform connection checks (manage.py platform_check, the admin, the health page)."""

from __future__ import annotations

import time

from django.core.exceptions import ImproperlyConfigured

from core import clock
from core.provisioning import drivers
from core.provisioning.models import PlatformConnection, ProvisioningJob
from core.provisioning.redaction import redact


def check_platform_connection(connection: PlatformConnection) -> drivers.CheckResult:
    """Ask the platform its cheapest authenticated read; store the answer on the connection
    (last_check_*) and as a CHECK job. Never raises for a platform problem: the result says it."""
    started = time.monotonic()
    try:
        result = drivers.get_driver(connection).check()
    except ImproperlyConfigured as exc:
        result = drivers.CheckResult(ok=False, reachable=False, authenticated=False, message=str(exc))
    except drivers.DriverError as exc:
        auth_failed = exc.status_code in (401, 403)
        result = drivers.CheckResult(ok=False, reachable=auth_failed, authenticated=False, message=str(exc))
    except Exception as exc:  # a check reports; it does not crash the command for the other connections
        result = drivers.CheckResult(
            ok=False, reachable=False, authenticated=False, message=f"{exc.__class__.__name__}: {exc}"
        )
    elapsed = round((time.monotonic() - started) * 1000)
    now = clock.now()
    message = result.message or (f"API {result.api_version}" if result.api_version else "OK")
    PlatformConnection.objects.filter(pk=connection.pk).update(
        last_checked_at=now, last_check_ok=result.ok, last_check_message=message[:255]
    )
    connection.last_checked_at, connection.last_check_ok, connection.last_check_message = now, result.ok, message[:255]
    ProvisioningJob.objects.create(
        connection=connection,
        action=ProvisioningJob.Action.CHECK,
        outcome=ProvisioningJob.Outcome.SUCCEEDED if result.ok else ProvisioningJob.Outcome.FAILED,
        response=redact(
            {
                "ok": result.ok,
                "reachable": result.reachable,
                "authenticated": result.authenticated,
                "api_version": result.api_version,
                "message": result.message,
            }
        ),  # fmt: skip
        error="" if result.ok else message,
        duration_ms=elapsed,
        started_at=now,
        finished_at=now,
    )
    return result
