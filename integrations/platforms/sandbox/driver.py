"""The sandbox platform: a pretend panel for the local demo and for tests, no network.

It behaves like a real one where it matters to the lifecycle:
- its state lives in the database (core.provisioning.models.SandboxResource), keyed by our
  external id, so every web process and worker sees the same "platform";
- a create with an external id it already knows returns that resource (adopted), like a
  Pterodactyl `external_id` lookup;
- builds take `build_seconds` (PlatformConnection.defaults, default 3; 0 builds at once);
- IPs come from the documentation ranges 203.0.113.0/24 and 2001:db8::/32;
- usage figures move with time (derived from the resource's age, so no background writer);
- capacity limits: defaults `max_services`, `max_ram_mb`;
- fault injection: defaults `faults` = {"<operation>": {"mode": "before"|"after"|"slow",
  "times": N, "retryable": true, "seconds": S}} (see `inject_fault`), counted down in the
  database so a fault fires exactly N times whichever worker hits it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math
import secrets
import time

from django.db import IntegrityError, transaction

from core import clock
from core.provisioning import drivers
from core.provisioning.models import PlatformConnection, SandboxResource

API_VERSION = "sandbox/1.0"
DEFAULT_BUILD_SECONDS = 3
_V4 = ipaddress.ip_network("203.0.113.0/24")
_V6 = ipaddress.ip_network("2001:db8::/32")


def inject_fault(
    connection: PlatformConnection,
    operation: str,
    mode: str,
    *,
    times: int = 1,
    retryable: bool = True,
    seconds: float = 0,
) -> None:
    """Make the next `times` calls of `operation` (create, build_status, suspend, …) misbehave.

    before: fail without doing anything; after: do the work, then fail as if the answer was
    lost (a timeout after the platform accepted); slow: sleep `seconds`, then work normally.
    """
    with transaction.atomic():
        locked = PlatformConnection.objects.select_for_update().get(pk=connection.pk)
        defaults = dict(locked.defaults or {})
        faults = dict(defaults.get("faults") or {})
        faults[operation] = {"mode": mode, "times": times, "retryable": retryable, "seconds": seconds}
        defaults["faults"] = faults
        locked.defaults = defaults
        locked.save(update_fields=["defaults"])
    connection.defaults = locked.defaults


def _take_fault(connection: PlatformConnection, operation: str) -> dict | None:
    """The fault to apply to this call, if one is armed (counts it down atomically)."""
    if not (connection.defaults or {}).get("faults"):
        return None
    with transaction.atomic():
        locked = PlatformConnection.objects.select_for_update().get(pk=connection.pk)
        defaults = dict(locked.defaults or {})
        faults = dict(defaults.get("faults") or {})
        fault = faults.get(operation)
        if not fault or fault.get("times", 0) <= 0:
            return None
        fault = {**fault, "times": fault["times"] - 1}
        if fault["times"] > 0:
            faults[operation] = fault
        else:
            faults.pop(operation)
        defaults["faults"] = faults
        locked.defaults = defaults
        locked.save(update_fields=["defaults"])
    return fault


class SandboxDriver(drivers.ProvisioningDriver):
    platform = "sandbox"
    supports_hard_stop = True
    supports_reinstall = True

    def inject_fault(self, operation: str, mode: str, **options) -> None:
        """The same as the module's inject_fault, reachable through get_driver (seed_demo uses it)."""
        inject_fault(self.connection, operation, mode, **options)

    # --- helpers -------------------------------------------------------------------------------

    @property
    def settings(self) -> dict:
        return self.connection.defaults or {}

    def _faulty(self, operation: str, work):
        fault = _take_fault(self.connection, operation)
        if fault is None:
            return work()
        mode = fault.get("mode")
        retryable = fault.get("retryable", True)
        if mode == "slow":
            time.sleep(float(fault.get("seconds") or 0))
            return work()
        if mode == "before":
            raise drivers.DriverError(
                f"sandbox: injected failure before {operation}", retryable=retryable, status_code=503
            )
        work()
        raise drivers.DriverError(
            f"sandbox: injected failure after {operation} (the platform did it; the answer was lost)",
            retryable=retryable,
        )

    def _find(self, external_id: str) -> SandboxResource | None:
        return (
            SandboxResource.objects.filter(connection=self.connection, external_id=external_id, deleted_at__isnull=True)
            .order_by("-pk")
            .first()
        )

    def _get(self, service) -> SandboxResource:
        found = self._find(str(service.uuid))
        if found is None:
            raise drivers.NotFound(f"sandbox: no server with external id {service.uuid}", status_code=404)
        return found

    def _refresh_build(self, resource: SandboxResource) -> SandboxResource:
        if resource.build_state == "building" and clock.now() >= resource.ready_at:
            SandboxResource.objects.filter(pk=resource.pk, build_state="building").update(
                build_state="ready", power_state="running"
            )
            resource.build_state, resource.power_state = "ready", "running"
        return resource

    def _addresses(self, resource: SandboxResource) -> list[str]:
        return [a for a in (resource.ipv4, resource.ipv6) if a]

    def _result(self, resource: SandboxResource, *, adopted: bool, password: str = "") -> drivers.ProvisionResult:
        self._refresh_build(resource)
        return drivers.ProvisionResult(
            platform_service_id=f"sbx-{resource.pk}",
            platform_customer_id=f"sbx-user-{resource.customer_external_id}",
            platform_data={"sandbox_id": resource.pk},
            state=drivers.BuildState.READY if resource.build_state == "ready" else drivers.BuildState.BUILDING,
            primary_ip=resource.ipv4,
            ip_addresses=self._addresses(resource),
            username="root",
            credentials={"password": password} if password else {},
            adopted=adopted,
        )

    # --- the interface -------------------------------------------------------------------------

    def check(self) -> drivers.CheckResult:
        def work():
            if not self.connection.api_key:
                return drivers.CheckResult(
                    ok=False, reachable=True, authenticated=False, api_version=API_VERSION,
                    message="sandbox: no API key set on the connection",
                )  # fmt: skip
            return drivers.CheckResult(ok=True, reachable=True, authenticated=True, api_version=API_VERSION)

        try:
            return self._faulty("check", work)
        except drivers.DriverError as exc:
            return drivers.CheckResult(ok=False, reachable=False, authenticated=False, message=str(exc))

    def check_capacity(self, product_settings: dict, features: dict) -> None:
        self._faulty("check_capacity", lambda: self._ensure_capacity(features))

    def _ensure_capacity(self, features: dict) -> None:
        live = SandboxResource.objects.filter(connection=self.connection, deleted_at__isnull=True)
        max_services = self.settings.get("max_services")
        if max_services is not None and live.count() >= int(max_services):
            raise drivers.CapacityError(f"sandbox: all {max_services} slots are in use")
        max_ram = self.settings.get("max_ram_mb")
        if max_ram is not None:
            used = sum(int((r or {}).get("ram_mb") or 0) for r in live.values_list("features", flat=True))
            if used + int(features.get("ram_mb") or 0) > int(max_ram):
                raise drivers.CapacityError(f"sandbox: not enough memory left ({int(max_ram) - used} MB free)")

    def create(self, request: drivers.ProvisionRequest) -> drivers.ProvisionResult:
        return self._faulty("create", lambda: self._create(request))

    def _create(self, request: drivers.ProvisionRequest) -> drivers.ProvisionResult:
        existing = self._find(request.external_id)
        if existing is not None:
            return self._result(existing, adopted=True)
        self._ensure_capacity(request.features)
        build_seconds = float(self.settings.get("build_seconds", DEFAULT_BUILD_SECONDS))
        now = clock.now()
        try:
            with transaction.atomic():
                resource = SandboxResource.objects.create(
                    connection=self.connection,
                    external_id=request.external_id,
                    customer_external_id=request.customer_external_id,
                    hostname=request.hostname,
                    features=request.features,
                    product_settings=request.product_settings,
                    build_state="ready" if build_seconds <= 0 else "building",
                    power_state="running" if build_seconds <= 0 else "stopped",
                    ready_at=now + dt.timedelta(seconds=build_seconds),
                    password_set_at=now,
                )
                resource.ipv4 = str(_V4[1 + (resource.pk - 1) % 254])
                resource.ipv6 = str(_V6[resource.pk])
                resource.save(update_fields=["ipv4", "ipv6"])
        except IntegrityError:
            # A concurrent create with the same external id won: that one is ours.
            return self._result(self._find(request.external_id), adopted=True)
        return self._result(resource, adopted=False, password=request.password)

    def build_status(self, service) -> drivers.BuildStatus:
        def work():
            resource = self._refresh_build(self._get(service))
            state = drivers.BuildState.READY if resource.build_state == "ready" else drivers.BuildState.BUILDING
            return drivers.BuildStatus(state=state, primary_ip=resource.ipv4, ip_addresses=self._addresses(resource))

        return self._faulty("build_status", work)

    def _set(self, service, **fields) -> None:
        resource = self._get(service)
        SandboxResource.objects.filter(pk=resource.pk).update(**fields)

    def suspend(self, service) -> None:
        self._faulty("suspend", lambda: self._set(service, is_suspended=True, power_state="stopped"))

    def unsuspend(self, service) -> None:
        self._faulty("unsuspend", lambda: self._set(service, is_suspended=False, power_state="running"))

    def terminate(self, service) -> None:
        def work():
            resource = self._find(str(service.uuid))
            if resource is not None:  # already gone counts as done
                SandboxResource.objects.filter(pk=resource.pk).update(deleted_at=clock.now(), power_state="stopped")

        self._faulty("terminate", work)

    def change_package(self, service, product_settings: dict, features: dict) -> None:
        self._faulty("change_package", lambda: self._set(service, features=features, product_settings=product_settings))

    def power(self, service, action: drivers.PowerAction) -> None:
        def work():
            resource = self._get(service)
            if resource.is_suspended:
                raise drivers.DriverError("sandbox: the server is suspended", status_code=423)
            state = "stopped" if action in (drivers.PowerAction.SHUTDOWN, drivers.PowerAction.HARD_STOP) else "running"
            SandboxResource.objects.filter(pk=resource.pk).update(power_state=state)

        self._faulty("power", work)

    def usage(self, service) -> drivers.ResourceUsage:
        return self._faulty("usage", lambda: self._usage(self._refresh_build(self._get(service))))

    def _usage(self, resource: SandboxResource) -> drivers.ResourceUsage:
        age = max((clock.now() - resource.created_at).total_seconds(), 0.0)
        seed = int(hashlib.sha256(resource.external_id.encode()).hexdigest()[:8], 16)
        ram = int(resource.features.get("ram_mb") or 1024) * 1024 * 1024
        disk = int(resource.features.get("disk_gb") or 20) * 1024**3
        running = resource.power_state == "running"
        # Smooth, repeatable figures that drift with time: a daily wave plus a seed per server.
        wave = (math.sin(age / 3600 + seed % 7) + 1) / 2
        rate_in = 20_000 + seed % 80_000  # bytes per second
        return drivers.ResourceUsage(
            power_state="suspended" if resource.is_suspended else resource.power_state,
            cpu_percent=round(3 + 60 * wave, 1) if running else 0.0,
            memory_bytes=int(ram * (0.25 + 0.5 * wave)) if running else 0,
            memory_limit_bytes=ram,
            disk_bytes=min(int(disk * 0.05 + age * 2_000), disk),
            disk_limit_bytes=disk,
            traffic_in_bytes=int(age * rate_in),
            traffic_out_bytes=int(age * rate_in * 0.4),
            raw={"sandbox_id": resource.pk, "age_seconds": int(age)},
        )

    def reset_credentials(self, service, new_password: str) -> dict:
        self._faulty("reset_credentials", lambda: self._set(service, password_set_at=clock.now()))
        return {"password": new_password}

    def reinstall(self, service, request: drivers.ReinstallRequest) -> drivers.ReinstallResult:
        """Erase and build again: the server is building for `build_seconds` and takes our password."""

        def work():
            resource = self._get(service)
            if resource.is_suspended:
                raise drivers.DriverError("sandbox: the server is suspended", status_code=423)
            build_seconds = float(self.settings.get("build_seconds", DEFAULT_BUILD_SECONDS))
            now = clock.now()
            ready = build_seconds <= 0
            SandboxResource.objects.filter(pk=resource.pk).update(
                build_state="ready" if ready else "building",
                power_state="running" if ready else "stopped",
                ready_at=now + dt.timedelta(seconds=build_seconds),
                password_set_at=now,
                hostname=request.hostname or resource.hostname,
            )
            return ready

        ready = self._faulty("reinstall", work)
        return drivers.ReinstallResult(
            state=drivers.BuildState.READY if ready else drivers.BuildState.BUILDING,
            credentials={"username": "root"},
            password_applied=True,
            config={"os_template": request.template} if request.template else {},
        )

    def panel_url(self, service) -> str:
        resource = self._faulty("panel_url", lambda: self._get(service))
        return f"{self.connection.base_url.rstrip('/')}/servers/{resource.pk}?sso={secrets.token_urlsafe(16)}"
