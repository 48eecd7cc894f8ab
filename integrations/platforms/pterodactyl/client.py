"""Pterodactyl Panel API clients: every URL, field name, auth rule and error shape lives here.

Facts (platforms.md §2, pterodactyl/panel 1.11.x): the Application API (`/api/application`,
`ptla_` key) manages users and servers by numeric id; the Client API (`/api/client`, `ptlc_` key of
a root admin) does power and live stats by the 8-character `identifier`. Items are
`{"object", "attributes"}`, lists add `meta.pagination` (`?page=&per_page=`), includes land in
`attributes.relationships`. Errors: `{"errors": [{"code", "status" (a string), "detail", "meta"?}]}`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from integrations.http import ApiError, JsonApiClient

MAX_PAGES = 100
PER_PAGE = 100

# Codes the panel uses when automatic deployment finds no node or no free allocation (HTTP 400).
CAPACITY_CODES = frozenset({"NoViableNodeException", "NoViableAllocationException"})


def panel_root(base_url: str) -> str:
    root = base_url.strip().rstrip("/")
    for suffix in ("/api/application", "/api/client", "/api"):
        if root.endswith(suffix):
            return root[: -len(suffix)]
    return root


def errors_of(body: Any) -> list[dict]:
    if isinstance(body, Mapping) and isinstance(body.get("errors"), list):
        return [e for e in body["errors"] if isinstance(e, Mapping)]
    return []


def error_codes(body: Any) -> set[str]:
    return {str(e.get("code")) for e in errors_of(body) if e.get("code")}


def is_unique_violation(body: Any, field: str | None = None) -> bool:
    """A 422 saying a unique field (external_id, email, username) is already taken."""
    for error in errors_of(body):
        meta = error.get("meta") or {}
        if meta.get("rule") == "unique" and (field is None or meta.get("source_field") == field):
            return True
        detail = str(error.get("detail") or "").lower()
        if "already been taken" in detail and (field is None or field.replace("_", " ") in detail):
            return True
    return False


_DEFAULT_MESSAGES = {
    401: "Pterodactyl rejected the API key (missing or wrong)",
    403: "the Pterodactyl API key lacks permission (read-write on servers/users, read on nodes, eggs, allocations)",
    404: "not found on Pterodactyl",
    409: "the server is busy on Pterodactyl (installing, suspended, transferring or restoring a backup)",
}


class PterodactylClient(JsonApiClient):
    """One of the two APIs (application or client), chosen by `scope`."""

    service_name = "pterodactyl"

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        scope: str = "application",
        timeout: float = 30.0,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.panel_url = panel_root(base_url)
        self.scope = scope
        super().__init__(
            f"{self.panel_url}/api/{scope}",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=timeout,
            verify=verify,
            transport=transport,
            sleep=sleep,
        )

    def map_error(self, response: httpx.Response, body: Any) -> Exception:
        status = response.status_code
        details = [str(e.get("detail")) for e in errors_of(body) if e.get("detail")]
        message = "; ".join(details) or _DEFAULT_MESSAGES.get(status) or f"Pterodactyl answered HTTP {status}"
        # 409 is a state conflict (installing, transfer running): the same call works later.
        retryable = status in (409, 429) or status >= 500
        return ApiError(f"Pterodactyl: {message}", status, body, retryable)

    @staticmethod
    def attributes(body: Any) -> dict:
        if isinstance(body, Mapping) and isinstance(body.get("attributes"), Mapping):
            return dict(body["attributes"])
        return {}

    def paginate(self, path: str, params: Mapping | None = None) -> list[dict]:
        """Attributes of every item of a list endpoint, following meta.pagination."""
        params = {**(params or {}), "per_page": PER_PAGE}
        items: list[dict] = []
        for page in range(1, MAX_PAGES + 1):
            body = self.get(path, params={**params, "page": page}) or {}
            items.extend(self.attributes(item) for item in body.get("data") or [])
            pagination = (body.get("meta") or {}).get("pagination") or {}
            if int(pagination.get("total_pages") or 1) <= int(pagination.get("current_page") or page):
                break
        return items

    def find(self, path: str, params: Mapping | None = None) -> dict | None:
        """The item's attributes, or None on 404."""
        try:
            return self.attributes(self.get(path, params=params))
        except ApiError as exc:
            if exc.status_code == 404:
                return None
            raise


class PterodactylApplication(PterodactylClient):
    """Application API (`ptla_` key): users, servers, nodes, eggs."""

    # -- users ----------------------------------------------------------------------------

    def user_by_external_id(self, external_id: str) -> dict | None:
        return self.find(f"/users/external/{quote(str(external_id), safe='')}")

    def users_by_email(self, email: str) -> list[dict]:
        return self.paginate("/users", {"filter[email]": email})

    def get_user(self, user_id: int) -> dict:
        return self.attributes(self.get(f"/users/{user_id}"))

    def create_user(self, body: dict) -> dict:
        return self.attributes(self.post("/users", json=body))

    def update_user(self, user_id: int, body: dict) -> dict:
        return self.attributes(self.patch(f"/users/{user_id}", json=body))

    # -- eggs and nodes ---------------------------------------------------------------------

    def get_egg(self, nest_id: int, egg_id: int) -> dict:
        """The egg with its variables flattened to `variables: [attributes...]`."""
        egg = self.attributes(self.get(f"/nests/{nest_id}/eggs/{egg_id}", params={"include": "variables"}))
        relation = (egg.get("relationships") or {}).get("variables") or {}
        egg["variables"] = [self.attributes(v) for v in relation.get("data") or []]
        return egg

    def nodes(self) -> list[dict]:
        return self.paginate("/nodes")

    def node_allocations(self, node_id: int) -> list[dict]:
        return self.paginate(f"/nodes/{node_id}/allocations")

    # -- servers ----------------------------------------------------------------------------

    def server_by_external_id(self, external_id: str) -> dict | None:
        return self.find(f"/servers/external/{quote(str(external_id), safe='')}", {"include": "allocations"})

    def get_server(self, server_id: int, *, include_allocations: bool = False) -> dict:
        params = {"include": "allocations"} if include_allocations else None
        return self.attributes(self.get(f"/servers/{server_id}", params=params))

    def create_server(self, body: dict) -> dict:
        """`POST /servers`: never retried blindly; a retry is caught by the unique external_id."""
        return self.attributes(self.post("/servers", json=body, params={"include": "allocations"}))

    def suspend_server(self, server_id: int) -> None:
        self.post(f"/servers/{server_id}/suspend")

    def unsuspend_server(self, server_id: int) -> None:
        self.post(f"/servers/{server_id}/unsuspend")

    def delete_server(self, server_id: int, *, force: bool = False) -> None:
        self.delete(f"/servers/{server_id}/force" if force else f"/servers/{server_id}")

    def update_build(self, server_id: int, body: dict) -> dict:
        return self.attributes(self.patch(f"/servers/{server_id}/build", json=body))

    def update_startup(self, server_id: int, body: dict) -> dict:
        return self.attributes(self.patch(f"/servers/{server_id}/startup", json=body))

    def reinstall_server(self, server_id: int) -> None:
        self.post(f"/servers/{server_id}/reinstall")


class PterodactylClientApi(PterodactylClient):
    """Client API (`ptlc_` key of a root admin): power and live resources."""

    def account(self) -> dict:
        return self.attributes(self.get("/account"))

    def power(self, identifier: str, signal: str) -> None:
        self.post(f"/servers/{identifier}/power", json={"signal": signal})

    def resources(self, identifier: str) -> dict:
        return self.attributes(self.get(f"/servers/{identifier}/resources"))


def allocations_of(server: Mapping) -> list[dict]:
    """The server's allocations from `?include=allocations` (empty when the key cannot read them)."""
    relation = ((server.get("relationships") or {}).get("allocations")) or {}
    return [PterodactylClient.attributes(a) for a in relation.get("data") or []]
