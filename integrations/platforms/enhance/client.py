"""Enhance (orchd) API client: every URL, field name, auth rule and error shape of Enhance lives here.

Facts (shared/reference/platforms.md §4; upmind/enhance-sdk-php open-api.yml, orchd 12.3.0):
- Base `https://{panel}/api`, `Authorization: Bearer <access token>`; no envelope.
- Creates answer 201 `{"id": ...}`; PATCH and DELETE answer 204 with no body. Org, login,
  member and website ids are UUID strings; subscription and plan ids are integers (orchd rejects
  an integer sent as a JSON string, so they are sent as numbers).
- Lists are `{"items": [...], "total": n}` with `offset`/`limit`.
- Errors carry `{"code": "...", "detail": "..."}` (observed in the Upmind and webdighost modules,
  not in the spec); 409 means "already exists" on logins, customers, members and subscriptions.
- The member SSO endpoint answers 201 with a JSON string (some panels send the raw URL).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from integrations.http import REDACTED, ApiError, JsonApiClient

PAGE_SIZE = 100


class EnhanceError(ApiError):
    """An error answer from orchd; `code` is its machine code (`not_found`, `already_exists`, …)."""

    code: str = ""

    @property
    def already_exists(self) -> bool:
        return self.status_code == 409 or self.code == "already_exists"

    @property
    def not_found(self) -> bool:
        return self.status_code == 404 or self.code == "not_found"


def api_base(url: str) -> str:
    """The orchd base: the panel URL with `/api` appended unless the connection already ends in it."""
    url = url.rstrip("/")
    return url if url.endswith("/api") else f"{url}/api"


def panel_base(url: str) -> str:
    parts = urlsplit(api_base(url))
    return urlunsplit((parts.scheme, parts.netloc, parts.path[: -len("/api")] or "/", "", "")).rstrip("/")


class EnhanceClient(JsonApiClient):
    service_name = "enhance"

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__(
            api_base(base_url),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=timeout,
            verify=verify,
            transport=transport,
            sleep=sleep,
        )

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping | None = None) -> Any:
        try:
            return super().request(method, path, json=json, params=params)
        finally:
            # The shared redaction matches exact key names; orchd also uses `newPassword`.
            self.last_request["json"] = _scrub(self.last_request.get("json"))

    def map_error(self, response: httpx.Response, body: Any) -> Exception:
        code, detail = "", ""
        if isinstance(body, dict):
            code = str(body.get("code") or "")
            detail = str(body.get("detail") or body.get("message") or body.get("raw") or "")
        status = response.status_code
        message = " ".join(part for part in (code, detail) if part) or f"enhance answered HTTP {status}"
        error = EnhanceError(message, status, body, status == 429 or status >= 500)
        error.code = code
        return error

    def iter_items(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict]:
        """Every item of an `{items, total}` list, following offset/limit."""
        offset = 0
        while True:
            page = self.get(path, params={**(params or {}), "offset": offset, "limit": PAGE_SIZE}) or {}
            items = page.get("items") or []
            yield from items
            offset += len(items)
            if not items or offset >= int(page.get("total") or 0):
                return

    # --- health ---------------------------------------------------------------------

    def version(self) -> str:
        return str(self.get("version") or "")

    def get_org(self, org_id: str) -> dict:
        return self.get(f"orgs/{org_id}") or {}

    def get_plan(self, org_id: str, plan_id: int) -> dict:
        return self.get(f"orgs/{org_id}/plans/{int(plan_id)}") or {}

    # --- customers, logins, members -------------------------------------------------

    def iter_customers(self, master_org_id: str) -> Iterator[dict]:
        return self.iter_items(f"orgs/{master_org_id}/customers")

    def create_customer(self, master_org_id: str, name: str) -> str:
        return str(self.post(f"orgs/{master_org_id}/customers", json={"name": name})["id"])

    def create_login(self, org_id: str, *, email: str, name: str, password: str) -> str:
        body = {"email": email, "name": name, "password": password}
        return str(self.post("logins", params={"orgId": org_id}, json=body)["id"])

    def iter_logins(self) -> Iterator[dict]:
        return self.iter_items("logins")

    def create_member(self, org_id: str, login_id: str, roles: list[str]) -> str:
        return str(self.post(f"orgs/{org_id}/members", json={"loginId": login_id, "roles": roles})["id"])

    def iter_members(self, org_id: str, role: str | None = None) -> Iterator[dict]:
        return self.iter_items(f"orgs/{org_id}/members", {"role": role} if role else None)

    def member_sso_link(self, org_id: str, member_id: str) -> str:
        body = self.get(f"orgs/{org_id}/members/{member_id}/sso")
        # The link logs the customer in: it must not sit in ProvisioningJob rows.
        self.last_response["body"] = REDACTED
        if isinstance(body, dict):
            body = body.get("raw") or body.get("url") or ""
        return str(body or "").strip().strip('"')

    def set_login_password(self, login_id: str, password: str) -> None:
        self.put(f"v2/logins/{login_id}/password", json={"newPassword": password})

    # --- subscriptions --------------------------------------------------------------

    def create_subscription(self, master_org_id: str, customer_org_id: str, plan_id: int, friendly_name: str) -> int:
        body = {"planId": int(plan_id), "friendlyName": friendly_name}
        return int(self.post(f"orgs/{master_org_id}/customers/{customer_org_id}/subscriptions", json=body)["id"])

    def iter_customer_subscriptions(self, master_org_id: str, customer_org_id: str) -> Iterator[dict]:
        return self.iter_items(f"orgs/{master_org_id}/customers/{customer_org_id}/subscriptions")

    def get_subscription(self, org_id: str, subscription_id: int) -> dict:
        return self.get(f"orgs/{org_id}/subscriptions/{int(subscription_id)}") or {}

    def update_subscription(self, org_id: str, subscription_id: int, changes: Mapping[str, Any]) -> None:
        self.patch(f"orgs/{org_id}/subscriptions/{int(subscription_id)}", json=dict(changes))

    def delete_subscription(self, org_id: str, subscription_id: int, *, force: bool) -> None:
        self.delete(f"orgs/{org_id}/subscriptions/{int(subscription_id)}", params={"force": _flag(force)})

    def subscription_bandwidth(self, org_id: str, subscription_id: int) -> int | None:
        value = self.get(
            f"orgs/{org_id}/subscriptions/{int(subscription_id)}/bandwidth", params={"refreshCache": "true"}
        )
        return int(value) if isinstance(value, int | float) else None

    # --- websites -------------------------------------------------------------------

    def create_website(self, org_id: str, body: Mapping[str, Any]) -> str:
        return str(self.post(f"orgs/{org_id}/websites", json=dict(body))["id"])

    def find_websites(self, org_id: str, *, search: str, subscription_id: int) -> Iterator[dict]:
        return self.iter_items(f"orgs/{org_id}/websites", {"search": search, "subscriptionId": int(subscription_id)})

    def get_website(self, org_id: str, website_id: str) -> dict:
        return self.get(f"orgs/{org_id}/websites/{website_id}") or {}

    def delete_website(self, org_id: str, website_id: str, *, force: bool) -> None:
        self.delete(f"orgs/{org_id}/websites/{website_id}", params={"force": _flag(force)})

    def restart_php(self, website_id: str) -> None:
        self.post(f"v2/websites/{website_id}/restart_php")

    def website_metrics(self, org_id: str, website_id: str, *, start: str, end: str) -> list[dict]:
        body = self.get(
            f"orgs/{org_id}/websites/{website_id}/metrics", params={"start": start, "end": end, "granularity": "day"}
        )
        return (body or {}).get("items") or []


def _scrub(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: (REDACTED if "password" in str(k).lower() else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _flag(value: bool) -> str:
    return "true" if value else "false"
