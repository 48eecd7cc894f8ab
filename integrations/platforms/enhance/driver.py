"""Web hosting on Enhance: customer org + Owner login, a subscription to a plan, one website.

The billing unit in Enhance is the subscription, so Service.platform_service_id is the
subscription id and Service.platform_customer_id the customer's org id. Nothing in Enhance
carries our ids (platforms.md §0), so creation is resumable instead: each id is reported through
request.on_progress as soon as Enhance returns it (the lifecycle stores it on the service at once),
and a retry starts after the last step recorded (request.existing). Lookups cover the gaps a timeout can leave: the customer org by
owner email, the subscription by `friendlyName` (set to our Service.uuid), the website by domain.

connection.defaults keys read here: master_org_id (required), server_group_id (default website
location), force_delete (bool, default false: a soft delete keeps the data, as Upmind does).
Product.platform_settings: plan_id (required), server_group_id, php_version (e.g. "php83").
Per order (request.config): server_group_id (location choice).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

import httpx

from core import clock
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
    ResourceUsage,
)
from integrations.http import ApiError

from .client import EnhanceClient, EnhanceError, panel_base

log = logging.getLogger(__name__)

OWNER = "Owner"
# login_created: an earlier attempt created the Owner login with request.password (the same
# password on every attempt), so that password is still the customer's when a retry resumes.
RESUME_KEYS = ("org_id", "login_id", "member_id", "subscription_id", "website_id", "login_created")


def to_driver_error(exc: ApiError, action: str, **details) -> DriverError:
    """Map a client error to the driver's domain error, keeping whether a retry may help."""
    message = f"Enhance {action} failed: {exc.message}"
    details = {"body": exc.body, **details}
    if isinstance(exc, EnhanceError) and exc.not_found:
        return NotFound(message, status_code=exc.status_code, details=details)
    if isinstance(exc, EnhanceError) and exc.already_exists:
        return AlreadyExists(message, status_code=exc.status_code, details=details)
    if exc.status_code in (401, 403):
        message += " (check the access token: it needs the Owner or SuperAdmin role in the master org)"
    return DriverError(message, retryable=exc.retryable, status_code=exc.status_code, details=details)


def report_progress(request: ProvisionRequest, ids: dict) -> None:
    """Hand the ids obtained so far to the caller (request.on_progress), so a retry resumes after
    the last step: reported at once, not only with the final result, because a later step can
    fail or time out after Enhance has already created the earlier resources."""
    if request.on_progress is None:
        return
    progress: dict = {"platform_data": dict(ids)}
    if ids.get("org_id"):
        progress["platform_customer_id"] = str(ids["org_id"])
    if ids.get("subscription_id"):
        progress["platform_service_id"] = str(ids["subscription_id"])
    request.on_progress(progress)


class EnhanceDriver(ProvisioningDriver):
    platform = "enhance"
    supports_hard_stop = False
    # Web hosting has no machine to reinstall (platforms.md §4): sites are restored or rebuilt in the panel.
    reinstall_unsupported_reason = (
        "Web hosting has no reinstall: restore files or a website from a backup in the control panel, or open a ticket."
    )

    def __init__(
        self,
        connection,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__(connection)
        self.defaults = connection.defaults or {}
        self.client = EnhanceClient(
            connection.base_url,
            connection.api_key,
            timeout=float(connection.timeout_seconds or 30),
            verify=connection.verify_tls,
            transport=transport,
            sleep=sleep,
        )

    @property
    def master_org_id(self) -> str:
        org = self.defaults.get("master_org_id")
        if not org:
            raise DriverError(
                f"PlatformConnection {self.connection.name!r} has no defaults.master_org_id (the Enhance master org UUID)."
            )
        return str(org)

    # --- health and capacity --------------------------------------------------------

    def check(self) -> CheckResult:
        try:
            version = self.client.version()  # public: proves reachability only
        except ApiError as exc:
            return CheckResult(ok=False, reachable=exc.status_code is not None, authenticated=False, message=str(exc))
        try:
            self.client.get_org(self.master_org_id)
        except DriverError as exc:
            return CheckResult(ok=False, reachable=True, authenticated=False, api_version=version, message=str(exc))
        except ApiError as exc:
            authenticated = exc.status_code not in (401, 403)
            return CheckResult(
                ok=False, reachable=True, authenticated=authenticated, api_version=version, message=str(exc)
            )
        return CheckResult(ok=True, reachable=True, authenticated=True, api_version=version, message=f"orchd {version}")

    def check_capacity(self, product_settings: dict, features: dict) -> None:
        """Enhance has no hardware capacity to query; the product's plan must exist in the master org."""
        plan_id = self._plan_id(product_settings)
        try:
            plan = self.client.get_plan(self.master_org_id, plan_id)
        except ApiError as exc:
            if isinstance(exc, EnhanceError) and exc.not_found:
                raise CapacityError(
                    f"Enhance plan {plan_id} does not exist in the master org; fix the product's plan_id.",
                    retryable=False,
                ) from exc
            raise to_driver_error(exc, "plan check") from exc
        if str(plan.get("id", plan_id)) != str(plan_id):
            raise CapacityError(f"Enhance answered with plan {plan.get('id')} for plan {plan_id}.", retryable=False)

    @staticmethod
    def _plan_id(product_settings: dict) -> int:
        try:
            return int(product_settings["plan_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DriverError("The product has no Enhance plan_id in its platform settings.") from exc

    # --- create ---------------------------------------------------------------------

    def create(self, request: ProvisionRequest) -> ProvisionResult:
        """Customer org → Owner login/member → subscription → website, resuming after the last recorded step."""
        ids = self._resume_ids(request.existing or {})
        state = {"adopted": False}
        step = "customer"
        try:
            self._ensure_org(request, ids)
            step = "owner login"
            self._ensure_owner(request, ids)
            step = "subscription"
            self._ensure_subscription(request, ids, state)
            if request.hostname:
                step = "website"
                self._ensure_website(request, ids, state)
        except ApiError as exc:
            error = to_driver_error(exc, f"create ({step})", platform_data=dict(ids))
            if isinstance(error, AlreadyExists):
                # Our own resources were looked up and not found, so this one is not ours to adopt
                # (AlreadyExists would tell the lifecycle to take it over).
                error = DriverError(
                    f"{error} — it exists in Enhance but is not recognisably ours; link or remove it by hand.",
                    status_code=error.status_code,
                    details=error.details,
                )
            raise error from exc
        except DriverError as exc:
            exc.details.setdefault("platform_data", dict(ids))
            raise

        email = request.customer_email
        # A login that already existed (another org of this person, another service of this
        # customer) keeps its own password: ours is not the customer's password there.
        password_applied = bool(ids.get("login_created"))
        return ProvisionResult(
            platform_service_id=str(ids["subscription_id"]),
            platform_customer_id=ids["org_id"],
            platform_data=dict(ids),
            state=BuildState.BUILDING if ids.get("website_id") else BuildState.READY,
            username=email,
            credentials={"username": email, "password": request.password} if password_applied else {},
            adopted=state["adopted"],
            password_applied=password_applied,
        )

    @staticmethod
    def _resume_ids(existing: dict) -> dict:
        """The Enhance ids an earlier attempt recorded (the lifecycle also passes the two Service id fields)."""
        ids = {k: existing[k] for k in RESUME_KEYS if existing.get(k) not in (None, "")}
        if "org_id" not in ids and existing.get("platform_customer_id"):
            ids["org_id"] = str(existing["platform_customer_id"])
        if "subscription_id" not in ids and str(existing.get("platform_service_id") or "").isdigit():
            ids["subscription_id"] = int(existing["platform_service_id"])
        return ids

    def _record(self, request: ProvisionRequest, ids: dict, **new) -> None:
        ids.update(new)
        report_progress(request, ids)

    def _ensure_org(self, request: ProvisionRequest, ids: dict) -> None:
        if ids.get("org_id"):
            return
        known = self._org_of_other_services(request)
        if known:
            self._record(request, ids, org_id=known)
            return
        email = request.customer_email.lower()
        for org in self.client.iter_customers(self.master_org_id):
            if (org.get("ownerEmail") or "").lower() == email and org.get("status") != "deleted":
                found = {"org_id": org["id"]}
                if org.get("ownerLoginId"):
                    found["login_id"] = org["ownerLoginId"]
                if org.get("ownerId"):
                    found["member_id"] = org["ownerId"]
                self._record(request, ids, **found)
                return
        org_id = self.client.create_customer(self.master_org_id, request.customer_name or request.customer_email)
        self._record(request, ids, org_id=org_id)

    @staticmethod
    def _org_of_other_services(request: ProvisionRequest) -> str:
        """The org another of this customer's live services already uses on this panel (one org per customer)."""
        return next(
            (
                str(other.platform_customer_id)
                for other in request.customer_services
                if other.platform_customer_id and not other.is_terminated
            ),
            "",
        )

    def _ensure_owner(self, request: ProvisionRequest, ids: dict) -> None:
        if ids.get("member_id"):
            return
        org_id = ids["org_id"]
        owner = next(self.client.iter_members(org_id, role=OWNER), None)
        if owner:
            self._record(request, ids, login_id=owner["loginId"], member_id=owner["id"])
            return
        if not ids.get("login_id"):
            name = request.customer_name or request.customer_email
            try:
                login_id = self.client.create_login(
                    org_id, email=request.customer_email, name=name, password=request.password
                )
                self._record(request, ids, login_id=login_id, login_created=True)
            except EnhanceError as exc:
                if not exc.already_exists:
                    raise
                # The email already has a login (e.g. another org of this person): link it, as webdighost does.
                login_id = self._login_id_by_email(request.customer_email)
                if not login_id:
                    raise
                self._record(request, ids, login_id=login_id)
        try:
            member_id = self.client.create_member(org_id, ids["login_id"], [OWNER])
        except EnhanceError as exc:
            if not exc.already_exists:
                raise
            member_id = next(
                (m["id"] for m in self.client.iter_members(org_id) if m.get("loginId") == ids["login_id"]), ""
            )
            if not member_id:
                raise
        self._record(request, ids, member_id=member_id)

    def _login_id_by_email(self, email: str) -> str:
        email = email.lower()
        return next((lg["id"] for lg in self.client.iter_logins() if (lg.get("email") or "").lower() == email), "")

    def _ensure_subscription(self, request: ProvisionRequest, ids: dict, state: dict) -> None:
        if ids.get("subscription_id"):
            return
        found = self._our_subscription(request, ids["org_id"])
        if found is None:
            plan_id = self._plan_id(request.product_settings)
            try:
                found = self.client.create_subscription(self.master_org_id, ids["org_id"], plan_id, request.external_id)
            except EnhanceError as exc:
                if not exc.already_exists:
                    raise
                found = self._our_subscription(request, ids["org_id"])
                if found is None:
                    raise
                state["adopted"] = True
        else:
            state["adopted"] = True
        self._record(request, ids, subscription_id=int(found))

    def _our_subscription(self, request: ProvisionRequest, org_id: str) -> int | None:
        for sub in self.client.iter_customer_subscriptions(self.master_org_id, org_id):
            if sub.get("friendlyName") == request.external_id and sub.get("status") != "deleted":
                return int(sub["id"])
        return None

    def _ensure_website(self, request: ProvisionRequest, ids: dict, state: dict) -> None:
        if ids.get("website_id"):
            return
        org_id, subscription_id = ids["org_id"], int(ids["subscription_id"])
        website_id = self._our_website(org_id, request.hostname, subscription_id)
        if website_id:
            state["adopted"] = True
        else:
            body: dict = {"domain": request.hostname, "subscriptionId": subscription_id}
            group = (
                request.config.get("server_group_id")
                or request.product_settings.get("server_group_id")
                or self.defaults.get("server_group_id")
            )
            if group:
                body["serverGroupId"] = group
            if request.product_settings.get("php_version"):
                body["phpVersion"] = request.product_settings["php_version"]
            try:
                website_id = self.client.create_website(org_id, body)
            except EnhanceError as exc:
                website_id = self._our_website(org_id, request.hostname, subscription_id) if exc.already_exists else ""
                if not website_id:
                    raise
                state["adopted"] = True
        self._record(request, ids, website_id=website_id)

    def _our_website(self, org_id: str, domain: str, subscription_id: int) -> str:
        # `search` is a partial match and the list includes deleted websites by default.
        for site in self.client.find_websites(org_id, search=domain, subscription_id=subscription_id):
            name = ((site.get("domain") or {}).get("domain") or "").lower()
            if name == domain.lower() and site.get("status") != "deleted":
                return site["id"]
        return ""

    # --- ids of an existing service -------------------------------------------------

    @staticmethod
    def _ids(service) -> tuple[str, int]:
        data = service.platform_data or {}
        org_id = data.get("org_id") or service.platform_customer_id
        subscription_id = data.get("subscription_id") or service.platform_service_id
        if not org_id or not subscription_id:
            raise DriverError("This service has no Enhance org/subscription yet; provision it first.")
        return str(org_id), int(subscription_id)

    # --- build ----------------------------------------------------------------------

    def build_status(self, service) -> BuildStatus:
        org_id, _ = self._ids(service)
        website_id = (service.platform_data or {}).get("website_id")
        if not website_id:
            return BuildStatus(BuildState.READY, message="Subscription only: no website to wait for")
        try:
            site = self.client.get_website(org_id, website_id)
        except ApiError as exc:
            raise to_driver_error(exc, "build status") from exc
        ips = [ip["ip"] for ip in sorted(site.get("serverIps") or [], key=lambda i: not i.get("isPrimary"))]
        status = site.get("status")
        if status == "deleted":
            return BuildStatus(BuildState.FAILED, message=f"Website {website_id} is deleted in Enhance")
        if status == "active" and ips:
            return BuildStatus(BuildState.READY, ips[0], ips)
        return BuildStatus(BuildState.BUILDING, ips[0] if ips else None, ips, f"Website status {status or 'unknown'}")

    # --- suspend / unsuspend / terminate / package ----------------------------------

    def suspend(self, service) -> None:
        self._update_subscription(service, {"isSuspended": True}, "suspend")

    def unsuspend(self, service) -> None:
        self._update_subscription(service, {"isSuspended": False}, "unsuspend")

    def change_package(self, service, product_settings: dict, features: dict) -> None:
        self._update_subscription(service, {"planId": self._plan_id(product_settings)}, "change package")

    def _update_subscription(self, service, changes: dict, action: str) -> None:
        org_id, subscription_id = self._ids(service)
        try:
            self.client.update_subscription(org_id, subscription_id, changes)
        except ApiError as exc:
            raise to_driver_error(exc, action) from exc

    def terminate(self, service) -> None:
        """Delete the website, then the subscription (webdighost's order). Anything already gone counts as done."""
        org_id, subscription_id = self._ids(service)
        force = bool(self.defaults.get("force_delete", False))
        website_id = (service.platform_data or {}).get("website_id")
        try:
            if website_id:
                self._ignore_missing(self.client.delete_website, org_id, website_id, force=force)
            self._ignore_missing(self.client.delete_subscription, org_id, subscription_id, force=force)
        except ApiError as exc:
            raise to_driver_error(exc, "terminate") from exc

    @staticmethod
    def _ignore_missing(call, *args, **kwargs) -> None:
        try:
            call(*args, **kwargs)
        except EnhanceError as exc:
            if not exc.not_found:
                raise

    # --- power / usage --------------------------------------------------------------

    def power(self, service, action: PowerAction) -> None:
        """Shared hosting has no machine to power; a restart restarts the website's PHP workers."""
        action = PowerAction(action)
        website_id = (service.platform_data or {}).get("website_id")
        if action != PowerAction.RESTART or not website_id:
            raise DriverError(f"Enhance web hosting has no '{action}' power action.", retryable=False)
        try:
            self.client.restart_php(website_id)
        except ApiError as exc:
            raise to_driver_error(exc, "restart PHP") from exc

    def usage(self, service) -> ResourceUsage:
        """Disk and transfer from the subscription (bytes), this month's in/out from the website metrics."""
        org_id, subscription_id = self._ids(service)
        website_id = (service.platform_data or {}).get("website_id")
        try:
            sub = self.client.get_subscription(org_id, subscription_id)
            bandwidth = self.client.subscription_bandwidth(org_id, subscription_id)
            metrics = []
            if website_id:
                now = clock.now().astimezone(dt.UTC)
                start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
                metrics = self.client.website_metrics(org_id, website_id, start=_iso(start), end=_iso(now))
        except ApiError as exc:
            raise to_driver_error(exc, "usage") from exc
        resources = {r.get("name"): r for r in sub.get("resources") or []}
        disk = resources.get("diskspace") or {}
        transfer = resources.get("transfer") or {}
        if sub.get("suspendedBy"):
            power_state = "suspended"
        elif sub.get("status") == "active":
            power_state = "running"
        else:
            power_state = "stopped"
        return ResourceUsage(
            power_state=power_state,
            disk_bytes=_int(disk.get("usage")),
            disk_limit_bytes=_int(disk.get("total")),
            traffic_in_bytes=int(sum(m.get("bytesReceived") or 0 for m in metrics)) if website_id else None,
            traffic_out_bytes=int(sum(m.get("bytesSent") or 0 for m in metrics)) if website_id else None,
            raw={
                "transfer_bytes": bandwidth if bandwidth is not None else _int(transfer.get("usage")),
                "transfer_limit_bytes": _int(transfer.get("total")),
                "plan": sub.get("planName"),
                "resources": list(resources.values()),
            },
        )

    # --- credentials / panel --------------------------------------------------------

    def _owner(self, service) -> dict:
        org_id, _ = self._ids(service)
        data = service.platform_data or {}
        if data.get("member_id") and data.get("login_id"):
            return {"id": data["member_id"], "loginId": data["login_id"]}
        owners = list(self.client.iter_members(org_id, role=OWNER))
        active = [m for m in owners if m.get("isActive", True)]
        if not (active or owners):
            raise NotFound(f"Enhance org {org_id} has no Owner member")
        return (active or owners)[0]

    def reset_credentials(self, service, new_password: str) -> dict:
        """Set a new password on the Owner login of the customer's org (an admin reset)."""
        try:
            owner = self._owner(service)
            self.client.set_login_password(owner["loginId"], new_password)
        except ApiError as exc:
            raise to_driver_error(exc, "reset credentials") from exc
        username = owner.get("email") or service.username or service.customer.user.email
        return {"username": username, "password": new_password}

    def panel_url(self, service) -> str:
        """A one-time login link for the Owner; the plain panel address when the panel refuses SSO."""
        org_id, _ = self._ids(service)
        try:
            link = self.client.member_sso_link(org_id, self._owner(service)["id"])
        except (ApiError, NotFound) as exc:
            # SSO needs panel v8.2+ and an Owner/SuperAdmin/Sysadmin token; the login page still works.
            log.warning("Enhance SSO unavailable for org %s: %s", org_id, exc)
            link = ""
        return link or panel_base(self.connection.base_url)


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(value) -> int | None:
    return int(value) if isinstance(value, int | float) else None
