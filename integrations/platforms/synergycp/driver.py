"""Dedicated servers on SynergyCP: assign a free inventory server to the customer, then manage it.

SynergyCP sells inventory. "Create" picks a free server whose parts match the product's billing
ids and assigns it (POST server/provision); nothing is built from scratch. The only link from a
server back to us is its numeric `billing.id`, which we set to:

    Service.whmcs_id when the service came from WHMCS (WHMCS's module already used its own
    service id there, so servers provisioned before the migration are found again), otherwise
    Service.pk + connection.defaults["billing_id_offset"] (default 0; set it above the highest
    WHMCS service id when both kinds coexist on one panel so the two ranges cannot collide).

Core computes that number and hands it over as ProvisionRequest.billing_id. The value used is
kept in platform_data["billing_id"] and never recomputed afterwards.

connection.defaults keys: billing_id_offset (int, applied by drivers.billing_id_for), suspension_reason (str),
admin_url (str, staff deep links; optional).
Product.platform_settings keys: cpu_billing, mem_billing, disks_billing[], addons_billing[],
ip_group_billing[] (inventory filters); ips_billing, port_speed_billing, pxe_profile_billing,
max_bandwidth (e.g. "10TB"), access {pxe, ipmi, switch}. Per order (request.config / Service.config)
may override ip_group_billing (location), pxe_profile_billing / os, port_speed_billing, ips_billing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from core.provisioning.drivers import (
    BuildState,
    BuildStatus,
    CapacityError,
    CheckResult,
    DriverError,
    NotFound,
    PowerAction,
    ProvisioningDriver,
    ProvisionRequest,
    ProvisionResult,
    ReinstallRequest,
    ReinstallResult,
    ResourceUsage,
    billing_id_for,
)
from integrations.http import ApiError

from .client import SynergyCPClient, SynergyCPError

log = logging.getLogger(__name__)

HARDWARE_FILTERS = ("cpu_billing", "mem_billing", "disks_billing", "addons_billing")
ORDER_FIELDS = ("ip_group_billing", "ips_billing", "port_speed_billing", "pxe_profile_billing")
POWER_COMMANDS = {
    PowerAction.BOOT: {"power": "on"},
    PowerAction.SHUTDOWN: {"power": "soft"},  # ACPI shutdown
    PowerAction.RESTART: {"power": "reset"},
    PowerAction.HARD_STOP: {"power": "off"},
}


def to_driver_error(exc: ApiError, action: str) -> DriverError:
    """Map a client error to the driver's domain error, keeping whether a retry may help."""
    message = f"SynergyCP {action} failed: {exc.message}"
    if isinstance(exc, SynergyCPError) and exc.not_found:
        return NotFound(message, status_code=exc.status_code, details={"body": exc.body})
    if isinstance(exc, SynergyCPError) and exc.ignored:
        message += " (SynergyCP ignored the automatic action; the client is marked VIP, so staff must act by hand)"
    if exc.status_code in (401, 403):
        message += " (check the connection's API key: it must be an administrator key with API access)"
    return DriverError(message, retryable=exc.retryable, status_code=exc.status_code, details={"body": exc.body})


class SynergyCPDriver(ProvisioningDriver):
    platform = "synergycp"
    supports_hard_stop = True
    supports_reinstall = True  # an OS install from a PXE profile (platforms.md §3.4: the client area's reinstall)

    def __init__(
        self,
        connection,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__(connection)
        self.defaults = connection.defaults or {}
        self.client = SynergyCPClient(
            connection.base_url,
            connection.api_key,
            timeout=float(connection.timeout_seconds or 30),
            verify=connection.verify_tls,
            transport=transport,
            sleep=sleep,
        )

    # --- health and capacity --------------------------------------------------------

    def check(self) -> CheckResult:
        try:
            self.client.ping()
        except ApiError as exc:
            # An error envelope on HTTP 200 still proves the panel answered.
            reachable = exc.status_code is not None or isinstance(exc, SynergyCPError)
            denied = exc.status_code in (401, 403) or "unauthenticated" in exc.message.lower()
            authenticated = reachable and not denied
            return CheckResult(ok=False, reachable=reachable, authenticated=authenticated, message=str(exc))
        # SynergyCP exposes no version endpoint that the vendor clients use.
        return CheckResult(
            ok=True, reachable=True, authenticated=True, message="SynergyCP answered an authenticated read"
        )

    def check_capacity(self, product_settings: dict, features: dict) -> None:
        """Raise CapacityError unless a free server (and, when the product names one, a free IP block) matches."""
        self._find_hardware(product_settings, {})
        self._check_ip_block(product_settings, {})

    def _find_hardware(self, product_settings: dict, config: dict) -> dict:
        filters = self._inventory_filters(product_settings, config)
        try:
            server = self.client.find_available_server(filters)
        except ApiError as exc:
            raise to_driver_error(exc, "inventory search") from exc
        if not server:
            wanted = ", ".join(f"{k}={v}" for k, v in filters.items()) or "any"
            raise CapacityError(
                f"No free SynergyCP server matches this product ({wanted}); the service waits for hardware.",
                retryable=True,
            )
        return server

    def _check_ip_block(self, product_settings: dict, config: dict) -> None:
        ips_billing = config.get("ips_billing") or product_settings.get("ips_billing")
        if not ips_billing:
            return
        groups = self._location(product_settings, config)
        try:
            entity = self.client.find_free_ip_entity(groups, ips_billing)
        except ApiError as exc:
            raise to_driver_error(exc, "IP allocation search") from exc
        if not entity:
            raise CapacityError(
                f"No free SynergyCP IP block {ips_billing} in {groups or 'any location'}.", retryable=True
            )

    @staticmethod
    def _location(product_settings: dict, config: dict) -> list[str]:
        value = config.get("ip_group_billing") or config.get("location") or product_settings.get("ip_group_billing")
        if not value:
            return []
        return [value] if isinstance(value, str) else list(value)

    def _inventory_filters(self, product_settings: dict, config: dict) -> dict[str, Any]:
        filters: dict[str, Any] = {}
        for key in HARDWARE_FILTERS:
            value = config.get(key) or product_settings.get(key)
            if value:
                filters[key] = value
        location = self._location(product_settings, config)
        if location:
            filters["ip_group_billing"] = location
        return filters

    # --- create ---------------------------------------------------------------------

    def create(self, request: ProvisionRequest) -> ProvisionResult:
        """Assign a matching free server to the customer's SynergyCP client, or adopt the one already ours."""
        billing_id = str(request.existing.get("billing_id") or self._billing_id_for_new(request))
        try:
            # Lookup before create: an earlier attempt may have provisioned and then lost the answer.
            server = self._server_by_billing_id(billing_id)
            if server:
                client_id = str(
                    (server.get("client") or {}).get("id")
                    or server.get("client_id")
                    or request.existing.get("client_id")
                    or request.existing.get("platform_customer_id")
                    or self._get_or_create_client(request)["id"]
                )
                return self._result(server, client_id, billing_id, request, adopted=True)
            client = self._get_or_create_client(request)
        except ApiError as exc:
            raise to_driver_error(exc, "create") from exc

        settings, config = request.product_settings, request.config
        self._check_ip_block(settings, config)
        candidate = self._find_hardware(settings, config)
        body = self._provision_body(request, candidate, client, billing_id)
        try:
            server = self.client.provision_server(body)
        except ApiError as exc:
            raise to_driver_error(exc, "provision") from exc
        if not server:
            # SynergyCP answers with empty data when it could not assign the server (e.g. taken meanwhile).
            raise CapacityError(
                f"SynergyCP did not assign server {candidate.get('id')}; the service waits for hardware.",
                retryable=True,
            )
        return self._result(server, str(client["id"]), billing_id, request, adopted=False)

    @staticmethod
    def _billing_id_for_new(request: ProvisionRequest) -> int:
        if request.billing_id is None:
            raise DriverError(
                f"Service {request.external_id} came without its numeric billing id; "
                "SynergyCP needs it to label the server (the lifecycle sets ProvisionRequest.billing_id)."
            )
        return int(request.billing_id)

    def _get_or_create_client(self, request: ProvisionRequest) -> dict:
        client = self.client.find_client_by_billing_id(request.customer_external_id)
        if client:
            return client
        client = self.client.find_client_by_email(request.customer_email)
        if client:
            return client
        first, _, last = (request.customer_name or request.customer_email).partition(" ")
        try:
            return self.client.create_client(
                email=request.customer_email, first=first, last=last or first, billing_id=request.customer_external_id
            )
        except SynergyCPError:
            # Created by a parallel attempt between our lookup and the POST: take that one.
            client = self.client.find_client_by_email(request.customer_email)
            if client:
                return client
            raise

    def _provision_body(self, request: ProvisionRequest, candidate: dict, client: dict, billing_id: str) -> dict:
        settings, config = request.product_settings, request.config
        os_choice = config.get("pxe_profile_billing") or config.get("os") or settings.get("pxe_profile_billing")
        access = {"pxe": True, "ipmi": True, "switch": True, **(settings.get("access") or {})}
        billing: dict[str, Any] = {"id": int(billing_id)}
        max_bandwidth = self._max_bandwidth(settings, request.features)
        if max_bandwidth:
            billing["max_bandwidth"] = max_bandwidth
        body: dict[str, Any] = {
            "server_id": candidate["id"],
            "client_id": client["id"],
            "nickname": request.hostname,
            "password": request.password,
            "billing": billing,
            "access": access,
        }
        for key, value in (
            ("ips_billing", config.get("ips_billing") or settings.get("ips_billing")),
            ("pxe_profile_billing", os_choice),
            ("port_speed_billing", config.get("port_speed_billing") or settings.get("port_speed_billing")),
        ):
            if value:
                body[key] = value
        if settings.get("server_fields"):
            body["server"] = {"fields": settings["server_fields"]}
        return body

    @staticmethod
    def _max_bandwidth(settings: dict, features: dict) -> str:
        if settings.get("max_bandwidth"):
            return str(settings["max_bandwidth"])
        quota = (features or {}).get("bandwidth_quota_gb")
        return f"{quota}GB" if quota else ""

    def _result(self, server: dict, client_id: str, billing_id: str, request: ProvisionRequest, *, adopted: bool):
        ips = self._ips(server["id"])
        return ProvisionResult(
            platform_service_id=str(server["id"]),
            platform_customer_id=client_id,
            platform_data={
                "billing_id": billing_id,
                "server_id": server["id"],
                "srv_id": server.get("srv_id", ""),
                "client_id": client_id,
            },
            state=BuildState.BUILDING,
            primary_ip=ips[0] if ips else None,
            ip_addresses=ips,
            username="root",
            credentials={"username": "root", "password": request.password} if not adopted else {},
            adopted=adopted,
        )

    def _ips(self, server_id) -> list[str]:
        ips: list[str] = []
        for entity in self.client.server_entities(server_id):
            for key in ("address", "v6_address"):
                if entity.get(key) and entity[key] not in ips:
                    ips.append(entity[key])
        return ips

    # --- build ----------------------------------------------------------------------

    def build_status(self, service) -> BuildStatus:
        server_id = self._server_id(service)
        try:
            installs = self.client.server_installs(server_id)
            ips = self._ips(server_id)
        except ApiError as exc:
            raise to_driver_error(exc, "build status") from exc
        primary = ips[0] if ips else None
        failed = [i for i in installs if i.get("failed") or str(i.get("status", "")).lower() in ("failed", "error")]
        if failed:
            return BuildStatus(BuildState.FAILED, primary, ips, str(failed[-1].get("step_desc") or "OS install failed"))
        running = [i for i in installs if float(i.get("percent") or 0) < 100]
        if running:
            current = running[-1]
            name = (current.get("profile") or {}).get("name", "OS")
            return BuildStatus(
                BuildState.BUILDING,
                primary,
                ips,
                f"{name}: {current.get('step_desc', '')} ({current.get('percent', 0)}%)",
            )
        # An empty install queue means nothing is left to run (the vendor's client area reads it so).
        return BuildStatus(BuildState.READY, primary, ips)

    # --- access: suspend / unsuspend / terminate ------------------------------------

    def suspend(self, service) -> None:
        self._set_access(service, active=False, reason=service.suspension_reason)

    def unsuspend(self, service) -> None:
        self._set_access(service, active=True)

    def _set_access(self, service, *, active: bool, reason: str = "") -> None:
        action = "unsuspend" if active else "suspend"
        try:
            server = self._our_server(service)
            if server is None:
                raise NotFound(f"SynergyCP {action} failed: server {service.platform_service_id} is no longer ours")
            access = self.client.primary_access(server["id"])
            if not access:
                raise DriverError(f"SynergyCP {action} failed: server {server['id']} has no primary access row")
            if bool(access.get("is_active")) == active:
                return
            self.client.set_access_active(
                server["id"], access["id"], active, reason or self.defaults.get("suspension_reason", "Overdue invoice")
            )
        except ApiError as exc:
            raise to_driver_error(exc, action) from exc

    def terminate(self, service) -> None:
        """Wipe the server and return it to inventory. A server gone, or no longer ours, counts as done."""
        try:
            server = self._our_server(service)
            if server is None:
                return
            self.client.wipe_server(server["id"])
        except ApiError as exc:
            error = to_driver_error(exc, "terminate")
            if isinstance(error, NotFound):
                return
            raise error from exc

    def _our_server(self, service) -> dict | None:
        """The server that carries our billing id now, or None when none does.

        Found by billing id (the vendor module's own flow), never by the stored server id alone:
        after a wipe the box returns to inventory and may be sold to someone else, and acting on
        its old id would suspend or wipe another customer's machine. The billing id on the answer
        is checked too, in case a panel ignores the filter and lists every server.
        """
        return self._server_by_billing_id(self._billing_id(service))

    def _server_by_billing_id(self, billing_id: str) -> dict | None:
        server = self.client.find_server_by_billing_id(billing_id)
        if not server:
            return None
        billing = server.get("billing")
        if isinstance(billing, dict) and str(billing.get("id") or "") != billing_id:
            return None
        return server

    def _billing_id(self, service) -> str:
        stored = (service.platform_data or {}).get("billing_id")
        if stored:
            return str(stored)
        return str(billing_id_for(service))

    def _server_id(self, service) -> str:
        if service.platform_service_id:
            return service.platform_service_id
        try:
            server = self._server_by_billing_id(self._billing_id(service))
        except ApiError as exc:
            raise to_driver_error(exc, "lookup") from exc
        if not server:
            raise NotFound(f"No SynergyCP server carries billing id {self._billing_id(service)}")
        return str(server["id"])

    # --- package, power, usage ------------------------------------------------------

    def change_package(self, service, product_settings: dict, features: dict) -> None:
        """Only the bandwidth allowance can change through the API; other hardware needs staff to swap boxes."""
        current = service.product.platform_settings or {}
        changed = [k for k in HARDWARE_FILTERS if product_settings.get(k) != current.get(k)]
        if changed:
            raise DriverError(
                "SynergyCP cannot change a dedicated server's hardware through the API "
                f"({', '.join(changed)} differ); staff must move the customer to a matching server.",
                retryable=False,
            )
        max_bandwidth = self._max_bandwidth(product_settings, features)
        if not max_bandwidth:
            return
        try:
            self.client.set_max_bandwidth(self._server_id(service), self._billing_id(service), max_bandwidth)
        except ApiError as exc:
            raise to_driver_error(exc, "change package") from exc

    def power(self, service, action: PowerAction) -> None:
        command = POWER_COMMANDS[PowerAction(action)]
        server_id = self._server_id(service)
        try:
            self._ipmi(self.client, server_id, command)
        except ApiError as exc:
            if exc.status_code not in (401, 403) or not service.platform_customer_id:
                raise to_driver_error(exc, f"power {action}") from exc
            # The vendor's WHMCS module sends IPMI commands with the client's own key, so SynergyCP
            # enforces the client's IPMI access flag; an admin key may be refused.
            try:
                key = self.client.create_client_key(service.platform_customer_id)
                self._ipmi(self.client.with_key(key), server_id, command)
            except ApiError as exc2:
                raise to_driver_error(exc2, f"power {action}") from exc2

    @staticmethod
    def _ipmi(client: SynergyCPClient, server_id: str, command: dict) -> None:
        control = client.first_control(server_id)
        if not control:
            raise DriverError(f"SynergyCP server {server_id} has no IPMI control configured", retryable=False)
        client.control_command(server_id, control["id"], command)

    def usage(self, service) -> ResourceUsage:
        """Bandwidth used/allowed this cycle; bare metal has no CPU, memory or disk telemetry."""
        try:
            server = self.client.get_server(self._server_id(service))
            access = self.client.primary_access(server["id"])
        except ApiError as exc:
            raise to_driver_error(exc, "usage") from exc
        usage = server.get("usage") or {}
        # SynergyCP reports bandwidth in bits (the vendor module divides by 8 for bytes).
        used = int(int(usage["used"]) // 8) if usage.get("used") is not None else None
        limit = int(int(usage["max"]) // 8) if usage.get("max") else None
        power_state = "suspended" if access and not access.get("is_active") else "unknown"
        return ResourceUsage(
            power_state=power_state,
            traffic_total_bytes=used,
            raw={"traffic_limit_bytes": limit, "usage": usage, "access": access or {}},
        )

    # --- credentials and panel ------------------------------------------------------

    def reinstall(self, service, request: ReinstallRequest) -> ReinstallResult:
        """Queue an OS install on the customer's server (`POST server/{id}/install` with the PXE
        profile's billing id and our root password), as the vendor's client area does; build_status
        follows the install queue."""
        config = request.config or {}
        profile = (
            request.template
            or config.get("pxe_profile_billing")
            or config.get("os")
            or (request.product_settings or {}).get("pxe_profile_billing")
        )
        if not profile:
            raise DriverError("SynergyCP: no OS profile to install (none chosen, none on the product)")
        server_id = self._server_id(service)
        try:
            install = self.client.install_os(server_id, pxe_profile_billing=str(profile), password=request.password)
        except ApiError as exc:
            raise to_driver_error(exc, "reinstall") from exc
        return ReinstallResult(
            state=BuildState.BUILDING,
            credentials={"username": "root"},
            password_applied=True,
            config={"os": str(profile), "pxe_profile_billing": str(profile)} if request.template else {},
            platform_data={"install_id": install["id"]} if install.get("id") else {},
        )

    def reset_credentials(self, service, new_password: str) -> dict:
        """Set the customer's SynergyCP panel password.

        The root password of a dedicated server can only change by reinstalling the OS, which would
        erase the customer's data, so this resets the panel login instead.
        """
        client_id = service.platform_customer_id
        if not client_id:
            raise DriverError("This service has no SynergyCP client id yet; provision it first.")
        try:
            client = self.client.set_client_password(client_id, new_password) or {}
        except ApiError as exc:
            raise to_driver_error(exc, "reset credentials") from exc
        return {"panel_username": client.get("email") or service.customer.user.email, "panel_password": new_password}

    def panel_url(self, service) -> str:
        """A single sign-on link: a fresh client key opening this server in SynergyCP's client panel."""
        client_id = service.platform_customer_id
        if not client_id:
            raise DriverError("This service has no SynergyCP client id yet; provision it first.")
        try:
            key = self.client.create_client_key(client_id)
        except ApiError as exc:
            raise to_driver_error(exc, "single sign-on") from exc
        if not key:
            raise DriverError("SynergyCP returned no client key for single sign-on")
        return self.client.sso_url(key, service.platform_service_id or None)
