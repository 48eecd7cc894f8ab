"""Pterodactyl provisioning driver (game servers).

Idempotency (platforms.md §2.5): the server's `external_id` is our Service.uuid and the panel
user's `external_id` is our customer id, both unique on the panel. Create looks the server up by
external id first and adopts it; a create that collides on the unique rule (422) is looked up
and adopted too. A POST that timed out is not resent: the next attempt's lookup finds it.

Two keys: the Application API key (`ptla_`, connection.api_key) for users and servers, the
Client API key (`ptlc_` of a root admin, connection.api_secret) for power and live resources.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from core.provisioning.drivers import (
    AlreadyExists,
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
)
from integrations.http import ApiError, redact

from .client import (
    CAPACITY_CODES,
    PterodactylApplication,
    PterodactylClientApi,
    allocations_of,
    error_codes,
    is_unique_violation,
)
from .server_spec import (
    egg_image,
    feature_limits_for,
    fits_node,
    in_port_range,
    limits_for,
    panel_username,
    split_name,
)

SIGNALS = {
    PowerAction.BOOT: "start",
    PowerAction.SHUTDOWN: "stop",
    PowerAction.RESTART: "restart",
    PowerAction.HARD_STOP: "kill",
}
FAILED_STATUSES = {"install_failed", "reinstall_failed"}
RUNNING_STATES = {"running", "starting", "stopping"}
MB = 1024 * 1024


def _translate(exc: ApiError) -> DriverError:
    message = exc.message
    details = {"body": redact(exc.body)} if exc.body is not None else {}
    status = exc.status_code
    if status == 404:
        return NotFound(message, status_code=status, details=details)
    if error_codes(exc.body) & CAPACITY_CODES:
        return CapacityError(message, retryable=True, status_code=status, details=details)
    if status == 422 and is_unique_violation(exc.body):
        return AlreadyExists(message, status_code=status, details=details)
    return DriverError(message, retryable=exc.retryable, status_code=status, details=details)


@contextmanager
def _platform_errors() -> Iterator[None]:
    try:
        yield
    except ApiError as exc:
        raise _translate(exc) from exc


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class PterodactylDriver(ProvisioningDriver):
    platform = "pterodactyl"
    supports_hard_stop = True  # the `kill` signal
    supports_reinstall = True  # the egg's install script runs again (POST /servers/{id}/reinstall)

    def __init__(self, connection, *, transport=None, sleep=None):
        super().__init__(connection)
        options = {
            "timeout": float(connection.timeout_seconds or 30),
            "verify": connection.verify_tls,
            "transport": transport,
        }
        if sleep:
            options["sleep"] = sleep
        self.app = PterodactylApplication(connection.base_url, connection.api_key, scope="application", **options)
        self.client_api = (
            PterodactylClientApi(connection.base_url, connection.api_secret, scope="client", **options)
            if connection.api_secret
            else None
        )
        self.defaults: dict = dict(getattr(connection, "defaults", None) or {})

    # -- ids --------------------------------------------------------------------------------

    def _server_id(self, service) -> int:
        server_id = _int_or_none(service.platform_service_id) or _int_or_none(
            (service.platform_data or {}).get("server_id")
        )
        if server_id:
            return server_id
        with _platform_errors():
            server = self.app.server_by_external_id(str(service.uuid))
        if not server:
            raise NotFound(f"No Pterodactyl server has external_id {service.uuid}", status_code=404)
        return int(server["id"])

    def _identifier(self, service) -> str:
        identifier = (service.platform_data or {}).get("identifier")
        if identifier:
            return str(identifier)
        with _platform_errors():
            return str(self.app.get_server(self._server_id(service))["identifier"])

    def _client_api(self) -> PterodactylClientApi:
        if self.client_api is None:
            raise DriverError(
                "This Pterodactyl connection has no client API key (ptlc_, of a root admin) in its API secret; "
                "power actions and live usage need one",
                retryable=False,
            )
        return self.client_api

    # -- connection ------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """One page of nodes (application key) and the account (client key). The panel exposes no version."""
        try:
            self.app.get("/nodes", params={"per_page": 1})
        except ApiError as exc:
            reachable = exc.status_code is not None
            return CheckResult(
                ok=False, reachable=reachable, authenticated=reachable and exc.status_code not in (401, 403),
                message=f"application key: {exc}",
            )  # fmt: skip
        if self.client_api is None:
            return CheckResult(
                ok=False, reachable=True, authenticated=True,
                message="application key accepted; no client key (ptlc_) set, so power and live usage will fail",
            )  # fmt: skip
        try:
            self.client_api.account()
        except ApiError as exc:
            return CheckResult(ok=False, reachable=True, authenticated=False, message=f"client key: {exc}")
        return CheckResult(ok=True, reachable=True, authenticated=True, message="application and client keys accepted")

    def check_capacity(self, product_settings: dict, features: dict) -> None:
        """Some node of the product's location must fit the memory and disk (with its overallocation)
        and have a free allocation (in the port range; a wholly free IP when dedicated_ip is set)."""
        location = _int_or_none(product_settings.get("location_id") or self.defaults.get("location_id"))
        memory = limits_for(product_settings, features)["memory"]
        disk = limits_for(product_settings, features)["disk"]
        port_range = list(product_settings.get("port_range") or [])
        dedicated = bool(product_settings.get("dedicated_ip", False))
        reasons: list[str] = []
        with _platform_errors():
            nodes = [n for n in self.app.nodes() if location is None or _int_or_none(n.get("location_id")) == location]
            for node in nodes:
                name = node.get("name") or node.get("id")
                if node.get("maintenance_mode"):
                    reasons.append(f"{name}: in maintenance")
                    continue
                allocated = node.get("allocated_resources") or {}
                short = [
                    label
                    for label, total, over, used, need in (
                        (
                            "memory",
                            node.get("memory"),
                            node.get("memory_overallocate"),
                            allocated.get("memory"),
                            memory,
                        ),
                        ("disk", node.get("disk"), node.get("disk_overallocate"), allocated.get("disk"), disk),
                    )
                    if not fits_node(total, over, used, need)
                ]
                if short:
                    reasons.append(f"{name}: not enough {', '.join(short)}")
                    continue
                if self._has_free_allocation(int(node["id"]), port_range, dedicated):
                    return
                reasons.append(f"{name}: no free allocation")
        where = f"location {location}" if location is not None else "any location"
        raise CapacityError(
            f"No Pterodactyl node in {where} can take this server"
            + (f" ({'; '.join(reasons)})" if reasons else " (no nodes there)"),
            retryable=True,
            details={"location_id": location},
        )

    def _has_free_allocation(self, node_id: int, port_range: list, dedicated_ip: bool) -> bool:
        allocations = self.app.node_allocations(node_id)
        if not dedicated_ip:
            return any(not a.get("assigned") and in_port_range(a.get("port"), port_range) for a in allocations)
        by_ip: dict[str, list[dict]] = {}
        for allocation in allocations:
            by_ip.setdefault(str(allocation.get("ip")), []).append(allocation)
        return any(
            not any(a.get("assigned") for a in group) and any(in_port_range(a.get("port"), port_range) for a in group)
            for group in by_ip.values()
        )

    # -- create -----------------------------------------------------------------------------

    def create(self, request: ProvisionRequest) -> ProvisionResult:
        """Adopt the server whose external_id is our Service.uuid, or create it (user first).

        Our password becomes the customer's only when we create the panel user (now, or in an
        earlier attempt that failed after it: the same password is sent on every attempt); an
        existing user keeps its own, and the result says so (password_applied=False).
        """
        existing = request.existing or {}
        user: dict | None = None
        user_created = False
        try:
            with _platform_errors():
                server = self._existing_server(request, existing)
                if server:
                    user = self.app.get_user(int(server["user"]))
                    return self._result(server, user, password="", adopted=True)
                user, created = self._ensure_user(request, existing)
                user_created = created or (
                    bool(existing.get("user_created")) and str(existing.get("user_id")) == str(user.get("id"))
                )
                egg = self._egg(request.product_settings, request.config)
                body = self._server_body(request, int(user["id"]), egg)
                try:
                    server = self.app.create_server(body)
                except ApiError as exc:
                    if exc.status_code == 422 and is_unique_violation(exc.body, "external_id"):
                        found = self.app.server_by_external_id(request.external_id)
                        if found:
                            return self._result(found, user, password="", adopted=True)
                    raise
        except DriverError as exc:
            if user is not None and user.get("id"):
                # Kept by the lifecycle for the retry: it reuses the user and knows whose password it has.
                exc.details.setdefault("platform_customer_id", str(user["id"]))
                exc.details.setdefault("platform_data", {"user_id": user["id"], "user_created": user_created})
            raise
        return self._result(server, user, password=request.password if user_created else "", adopted=False)

    def _existing_server(self, request: ProvisionRequest, existing: dict) -> dict | None:
        server_id = _int_or_none(existing.get("server_id"))
        if server_id:
            try:
                server = self.app.get_server(server_id, include_allocations=True)
                if str(server.get("external_id") or "") == str(request.external_id):
                    return server
            except ApiError as exc:
                if exc.status_code != 404:
                    raise
        return self.app.server_by_external_id(request.external_id)

    def _ensure_user(self, request: ProvisionRequest, existing: dict) -> tuple[dict, bool]:
        """The panel user whose external_id is our customer id; (user, created_now)."""
        customer_id = str(request.customer_external_id)
        if _int_or_none(existing.get("user_id")):
            try:
                return self.app.get_user(int(existing["user_id"])), False
            except ApiError as exc:
                if exc.status_code != 404:
                    raise
        user = self.app.user_by_external_id(customer_id) or self._user_by_email(request.customer_email, customer_id)
        if user:
            return user, False
        first, last = split_name(request.customer_name, request.customer_email)
        body = {
            "email": request.customer_email,
            "username": panel_username(request.customer_email, customer_id),
            "first_name": first,
            "last_name": last,
            "external_id": customer_id,
            "password": request.password,
        }
        for attempt in range(2):
            try:
                return self.app.create_user(body), True
            except ApiError as exc:
                if exc.status_code != 422 or not is_unique_violation(exc.body):
                    raise
                found = self.app.user_by_external_id(customer_id) or self._user_by_email(
                    request.customer_email, customer_id
                )
                if found:
                    return found, False
                if attempt == 0 and is_unique_violation(exc.body, "username"):
                    # Someone else holds this username: one retry with a random tail.
                    body["username"] = f"{body['username'][:20]}{uuidlib.uuid4().hex[:6]}"
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _user_by_email(self, email: str, customer_id: str) -> dict | None:
        for user in self.app.users_by_email(email):
            if str(user.get("email", "")).lower() != email.lower():
                continue
            if user.get("external_id") not in (None, "", customer_id):
                raise AlreadyExists(
                    f"Pterodactyl: the panel user {user.get('username')} has the email {email} but belongs to "
                    f"external id {user.get('external_id')}; link the right customer before retrying",
                    retryable=False,
                )
            return user
        return None

    @staticmethod
    def _egg_ids(product_settings: dict, config: dict | None = None) -> tuple[int | None, int | None]:
        """(nest id, egg id): the customer's choice from the product's eggs (config egg_id, nest_id)
        over the product's own egg; a chosen egg without a nest is in the product's nest."""
        config = config or {}
        egg_id = _int_or_none(config.get("egg_id")) or _int_or_none(product_settings.get("egg_id"))
        nest_id = _int_or_none(config.get("nest_id")) or _int_or_none(product_settings.get("nest_id"))
        return nest_id, egg_id

    def _egg(self, product_settings: dict, config: dict | None = None) -> dict:
        nest_id, egg_id = self._egg_ids(product_settings, config)
        if not nest_id or not egg_id:
            raise ApiError("Pterodactyl: the product needs nest_id and egg_id", None, None, False)
        return self.app.get_egg(nest_id, egg_id)

    @staticmethod
    def _environment(egg: Mapping, product_env: Mapping, customer_env: Mapping, current: Mapping | None = None) -> dict:
        """Every egg variable: current value (or the egg default), then the product's, then the
        customer's for variables the egg marks user-editable."""
        current = current or {}
        variables = egg.get("variables") or []
        env = {
            v["env_variable"]: current.get(v["env_variable"], v.get("default_value") or "")
            for v in variables
            if v.get("env_variable")
        }
        env.update({k: str(v) for k, v in (product_env or {}).items()})
        editable = {v["env_variable"] for v in variables if v.get("user_editable")}
        env.update({k: str(v) for k, v in (customer_env or {}).items() if k in editable})
        return env

    def _server_body(self, request: ProvisionRequest, user_id: int, egg: dict) -> dict:
        settings = request.product_settings or {}
        config = request.config or {}
        name = config.get("server_name") or request.hostname or f"game-{str(request.external_id)[:8]}"
        _, egg_id = self._egg_ids(settings, config)
        # The product's image, startup and variables are written for its own egg; another egg the
        # customer chose runs with that egg's defaults (and only the product variables it declares).
        own_egg = egg_id == _int_or_none(settings.get("egg_id"))
        product_env = settings.get("environment") or {}
        if not own_egg:
            declared = {v.get("env_variable") for v in egg.get("variables") or []}
            product_env = {k: v for k, v in product_env.items() if k in declared}
        body: dict[str, Any] = {
            "name": str(name)[:191],
            "user": user_id,
            "egg": egg_id,
            "docker_image": (settings.get("docker_image") if own_egg else None) or egg_image(egg),
            "startup": (settings.get("startup") if own_egg else None) or egg.get("startup") or "",
            "environment": self._environment(egg, product_env, config.get("environment") or {}),
            "limits": limits_for(settings, request.features or {}),
            "feature_limits": feature_limits_for(settings),
            "external_id": str(request.external_id),
            "description": settings.get("description", ""),
            "start_on_completion": bool(settings.get("start_on_completion", True)),
            "oom_disabled": bool(settings.get("oom_disabled", True)),
        }
        allocation_id = config.get("allocation_id") or settings.get("allocation_id")
        if allocation_id:
            body["allocation"] = {
                "default": int(allocation_id),
                "additional": [int(a) for a in settings.get("additional_allocations") or []],
            }
        else:
            location = config.get("location_id") or settings.get("location_id") or self.defaults.get("location_id")
            body["deploy"] = {
                "locations": [int(location)] if location else [],
                "dedicated_ip": bool(settings.get("dedicated_ip", False)),
                "port_range": [str(r) for r in settings.get("port_range") or []],
            }
        return body

    def _result(self, server: dict, user: dict, *, password: str, adopted: bool) -> ProvisionResult:
        status = self._status(server)
        username = str(user.get("username") or "")
        credentials: dict[str, Any] = {"username": username, "sftp_username": f"{username}.{server.get('identifier')}"}
        if password:
            credentials["password"] = password
        return ProvisionResult(
            platform_service_id=str(server["id"]),
            platform_customer_id=str(user.get("id") or server.get("user") or ""),
            platform_data=self._platform_data(server),
            state=status.state,
            primary_ip=status.primary_ip,
            ip_addresses=status.ip_addresses,
            username=username,
            credentials=credentials,
            adopted=adopted,
            password_applied=bool(password),
        )

    @staticmethod
    def _platform_data(server: Mapping) -> dict:
        data = {
            "server_id": server.get("id"),
            "identifier": server.get("identifier"),
            "uuid": server.get("uuid"),
            "user_id": server.get("user"),
            "node_id": server.get("node"),
            "allocation_id": server.get("allocation"),
        }
        default = next((a for a in allocations_of(server) if a.get("id") == server.get("allocation")), None)
        if default:
            data["address"] = f"{default.get('alias') or default.get('ip')}:{default.get('port')}"
            data["port"] = default.get("port")
        return data

    @staticmethod
    def _status(server: Mapping) -> BuildStatus:
        allocations = allocations_of(server)
        default = next((a for a in allocations if a.get("id") == server.get("allocation")), None)
        ips = list(dict.fromkeys(str(a["ip"]) for a in allocations if a.get("ip")))
        primary = str(default["ip"]) if default and default.get("ip") else (ips[0] if ips else None)
        status = server.get("status")
        installed = (server.get("container") or {}).get("installed")
        if status in FAILED_STATUSES or installed == 2:
            return BuildStatus(BuildState.FAILED, primary, ips, f"Pterodactyl install script failed ({status})")
        if status == "installing" or ("status" not in server and installed in (0, False)):
            return BuildStatus(BuildState.BUILDING, primary, ips, "installing")
        return BuildStatus(BuildState.READY, primary, ips, status or "installed")

    # -- build status and lifecycle -----------------------------------------------------------

    def build_status(self, service) -> BuildStatus:
        """`status`: installing → building; null (or suspended/restoring) → ready; install_failed → failed."""
        server_id = self._server_id(service)
        with _platform_errors():
            return self._status(self.app.get_server(server_id, include_allocations=True))

    def suspend(self, service) -> None:
        server_id = self._server_id(service)
        with _platform_errors():
            self.app.suspend_server(server_id)

    def unsuspend(self, service) -> None:
        server_id = self._server_id(service)
        with _platform_errors():
            self.app.unsuspend_server(server_id)

    def terminate(self, service) -> None:
        """Delete the server; gone counts as success. When Wings is unreachable the panel refuses: with
        connection default `force_delete_on_daemon_error` the force variant removes the panel record anyway."""
        try:
            server_id = self._server_id(service)
        except NotFound:
            return
        try:
            self.app.delete_server(server_id)
        except ApiError as exc:
            if exc.status_code == 404:
                return
            daemon_down = "DaemonConnectionException" in error_codes(exc.body) or exc.status_code in (502, 504)
            if not (daemon_down and self.defaults.get("force_delete_on_daemon_error")):
                raise _translate(exc) from exc
            self.force_terminate(service)

    def force_terminate(self, service) -> None:
        """`DELETE /servers/{id}/force`: removes the panel record even when the node is dead (files may stay)."""
        try:
            server_id = self._server_id(service)
        except NotFound:
            return
        try:
            self.app.delete_server(server_id, force=True)
        except ApiError as exc:
            if exc.status_code != 404:
                raise _translate(exc) from exc

    def change_package(self, service, product_settings: dict, features: dict) -> None:
        """New limits and feature limits (PATCH build, keeping the default allocation); then the egg,
        image and startup when the product changes them (PATCH startup)."""
        server_id = self._server_id(service)
        with _platform_errors():
            server = self.app.get_server(server_id)
            body: dict[str, Any] = {
                "allocation": server["allocation"],
                "limits": limits_for(product_settings, features),
                "feature_limits": feature_limits_for(product_settings),
            }
            if "oom_disabled" in product_settings:
                body["oom_disabled"] = bool(product_settings["oom_disabled"])
            self.app.update_build(server_id, body)
            container = server.get("container") or {}
            egg_id = _int_or_none(product_settings.get("egg_id"))
            changes_egg = egg_id is not None and egg_id != _int_or_none(server.get("egg"))
            changes_image = product_settings.get("docker_image") not in (None, container.get("image"))
            changes_startup = product_settings.get("startup") not in (None, container.get("startup_command"))
            if changes_egg or changes_image or changes_startup or product_settings.get("environment"):
                self._update_startup(server, product_settings, {})
                if changes_egg and product_settings.get("reinstall_on_egg_change"):
                    self.app.reinstall_server(server_id)

    def update_startup(self, service, customer_environment: dict) -> None:
        """Apply a customer's game variables (only those the egg marks user-editable) to the server."""
        server_id = self._server_id(service)
        with _platform_errors():
            server = self.app.get_server(server_id)
            self._update_startup(
                server, {"egg_id": server.get("egg"), "nest_id": server.get("nest")}, customer_environment
            )

    def _update_startup(self, server: Mapping, product_settings: dict, customer_env: dict) -> None:
        container = server.get("container") or {}
        egg_id = int(product_settings.get("egg_id") or server["egg"])
        nest_id = int(product_settings.get("nest_id") or server["nest"])
        same_egg = egg_id == _int_or_none(server.get("egg"))
        egg = self.app.get_egg(nest_id, egg_id)
        current_env = container.get("environment") or {}
        # The panel rewrites every egg variable on a non-empty environment: send the full set.
        body = {
            "startup": product_settings.get("startup")
            or (container.get("startup_command") if same_egg else egg.get("startup"))
            or "",
            "environment": self._environment(egg, product_settings.get("environment") or {}, customer_env, current_env),
            "egg": egg_id,
            "image": product_settings.get("docker_image") or (container.get("image") if same_egg else egg_image(egg)),
            "skip_scripts": False,
        }
        self.app.update_startup(int(server["id"]), body)

    def reinstall(self, service, request: ReinstallRequest) -> ReinstallResult:
        """Run the egg's install script again (`POST /servers/{id}/reinstall`, 204), which wipes the
        server's files. A template naming another egg of the product's list switches to it first
        (`PATCH /servers/{id}/startup` with that egg's image, startup and full variable set). The
        panel login is untouched, so its password stays."""
        server_id = self._server_id(service)
        config = dict(request.config or {})
        with _platform_errors():
            server = self.app.get_server(server_id)
            egg_id = _int_or_none(request.template)
            if egg_id and egg_id != _int_or_none(server.get("egg")):
                nest_id = _int_or_none(request.choice.get("nest_id")) or _int_or_none(server.get("nest"))
                choice = {"egg_id": egg_id, "nest_id": nest_id}
                self._update_startup(server, choice, config.get("environment") or {})
                config.update(choice)
            self.app.reinstall_server(server_id)
        return ReinstallResult(
            state=BuildState.BUILDING,
            password_applied=False,
            credentials={"password": (service.credentials or {}).get("password")}
            if (service.credentials or {}).get("password")
            else {},
            config={k: config[k] for k in ("egg_id", "nest_id") if config.get(k)},
        )

    def power(self, service, action: PowerAction) -> None:
        client = self._client_api()
        identifier = self._identifier(service)
        with _platform_errors():
            client.power(identifier, SIGNALS[PowerAction(action)])

    def usage(self, service) -> ResourceUsage:
        """Live figures from the Client API; limits from the Application API. Pterodactyl has no monthly
        traffic: the network counters are cumulative since the container last started."""
        server_id = self._server_id(service)
        client = self._client_api()
        with _platform_errors():
            server = self.app.get_server(server_id)
            try:
                stats = client.resources(str(server["identifier"]))
            except ApiError as exc:
                # 409 while installing or suspended: only the limits are readable then.
                if exc.status_code != 409:
                    raise
                stats = {}
        limits = server.get("limits") or {}
        resources = stats.get("resources") or {}
        state = str(stats.get("current_state") or "").lower()
        if stats.get("is_suspended") or server.get("suspended") or server.get("status") == "suspended":
            power_state = "suspended"
        elif state in RUNNING_STATES:
            power_state = "running"
        elif state in ("offline", "stopped"):
            power_state = "stopped"
        else:
            power_state = "unknown"
        memory_limit = _int_or_none(limits.get("memory"))
        disk_limit = _int_or_none(limits.get("disk"))
        cpu = resources.get("cpu_absolute")
        return ResourceUsage(
            power_state=power_state,
            cpu_percent=float(cpu) if isinstance(cpu, int | float) else None,
            memory_bytes=_int_or_none(resources.get("memory_bytes")),
            memory_limit_bytes=memory_limit * MB if memory_limit else None,
            disk_bytes=_int_or_none(resources.get("disk_bytes")),
            disk_limit_bytes=disk_limit * MB if disk_limit else None,
            traffic_in_bytes=_int_or_none(resources.get("network_rx_bytes")),
            traffic_out_bytes=_int_or_none(resources.get("network_tx_bytes")),
            raw={"current_state": state, "uptime_ms": resources.get("uptime"), "traffic_scope": "since_start"},
        )

    def reset_credentials(self, service, new_password: str) -> dict:
        """Set the panel user's password (it covers every game server of that customer on this panel).
        The update reuses the create rules, so the current profile fields are sent with it."""
        user_id = _int_or_none(service.platform_customer_id) or _int_or_none(
            (service.platform_data or {}).get("user_id")
        )
        with _platform_errors():
            if not user_id:
                user_id = int(self.app.get_server(self._server_id(service))["user"])
            user = self.app.get_user(user_id)
            body = {key: user.get(key) for key in ("email", "username", "first_name", "last_name")}
            for optional in ("external_id", "language"):
                if user.get(optional):
                    body[optional] = user[optional]
            body["password"] = new_password
            self.app.update_user(user_id, body)
        return {"username": user.get("username", ""), "password": new_password}

    def panel_url(self, service) -> str:
        """Stock Pterodactyl has no single sign-on: the server's page, where the customer logs in."""
        return f"{self.app.panel_url}/server/{self._identifier(service)}"
