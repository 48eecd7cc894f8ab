"""VirtFusion API client: every URL, field name, auth rule and error shape of VirtFusion lives here.

Facts (see /work/shared/reference/platforms.md §1): base `https://{panel}/api/v1`, Bearer token,
payloads under `data`, 201 on create, 204 with no body on suspend/delete, errors as
`{"errors": [...]}` (newer endpoints), `{"msg": "..."}` (older ones) or Laravel's
`{"message": ..., "errors": {field: [...]}}`; 401 has no body; 423 means the server is locked
(another task running, or Do Not Disturb) and is worth retrying later. Lists use Laravel's
paginator (`data`, `current_page`, `last_page`, `next_page_url`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

import httpx

from integrations.http import REDACTED, ApiError, JsonApiClient

# VirtFusion returns passwords and one-time login links under keys the shared redactor does not
# know (decryptedPassword, expectedPassword, endpoint_complete); any key containing these words
# is hidden from last_request/last_response.
_SECRET_FRAGMENTS = ("password", "token", "secret", "endpoint_complete", "authentication")

# Laravel paginator: never follow more pages than this (a loop guard, not a business limit).
MAX_PAGES = 50


def _redact_deep(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if any(f in str(k).lower() for f in _SECRET_FRAGMENTS) else _redact_deep(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_deep(v) for v in value]
    return value


def panel_root(base_url: str) -> str:
    """The panel's own URL, whether staff entered `https://cp.example.com` or `.../api/v1`."""
    root = base_url.strip().rstrip("/")
    for suffix in ("/api/v1", "/api"):
        if root.endswith(suffix):
            root = root[: -len(suffix)]
            break
    return root


def error_message(body: Any) -> str:
    """The human message from any of VirtFusion's error shapes, or "" when there is none."""
    if not isinstance(body, Mapping):
        return ""
    errors = body.get("errors")
    parts: list[str] = []
    if isinstance(errors, list):
        parts = [str(e) for e in errors if e]
    elif isinstance(errors, Mapping):
        for field_errors in errors.values():
            parts.extend(str(e) for e in (field_errors if isinstance(field_errors, list) else [field_errors]))
    elif isinstance(errors, str):
        parts = [errors]
    if parts:
        return "; ".join(parts)
    for key in ("msg", "message", "error"):
        if body.get(key):
            return str(body[key])
    return ""


_DEFAULT_MESSAGES = {
    401: "VirtFusion rejected the API token (missing, wrong or expired): check the connection's API key",
    403: "the VirtFusion API token lacks the permission this call needs (or the calling IP is not allowed)",
    404: "not found on VirtFusion",
    409: "conflict on VirtFusion",
    423: "the server is locked on VirtFusion (another task is running or Do Not Disturb is on); try again later",
}


class VirtFusionClient(JsonApiClient):
    service_name = "virtfusion"

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
        self.panel_url = panel_root(base_url)
        super().__init__(
            f"{self.panel_url}/api/v1",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=timeout,
            verify=verify,
            transport=transport,
            sleep=sleep,
        )

    @classmethod
    def from_connection(cls, connection, *, transport=None, sleep=None) -> VirtFusionClient:
        return cls(
            connection.base_url,
            connection.api_key,
            timeout=float(connection.timeout_seconds or 30),
            verify=connection.verify_tls,
            transport=transport,
            sleep=sleep or time.sleep,
        )

    # -- plumbing -------------------------------------------------------------------------

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping | None = None) -> Any:
        try:
            return super().request(method, path, json=json, params=params)
        finally:
            self.last_request = _redact_deep(self.last_request)
            self.last_response = _redact_deep(self.last_response)

    def map_error(self, response: httpx.Response, body: Any) -> Exception:
        status = response.status_code
        message = error_message(body) or _DEFAULT_MESSAGES.get(status) or f"VirtFusion answered HTTP {status}"
        retryable = status in (423, 429) or status >= 500
        return ApiError(f"VirtFusion: {message}", status, body, retryable)

    @staticmethod
    def _data(body: Any) -> Any:
        if isinstance(body, Mapping) and "data" in body:
            return body["data"]
        return body

    def _paginate(self, path: str, params: Mapping | None = None) -> list[dict]:
        """All items of a list endpoint. Plain `{"data": [...]}` answers are one page."""
        params = dict(params or {})
        items: list[dict] = []
        for _ in range(MAX_PAGES):
            body = self.get(path, params=params)
            if isinstance(body, list):
                return items + body
            data = (body or {}).get("data") or []
            items.extend(data if isinstance(data, list) else [data])
            next_url = (body or {}).get("next_page_url")
            if not next_url:
                return items
            # Follow the paginator's page number rather than its absolute URL, so the token is
            # only ever sent to the configured panel.
            page = httpx.URL(next_url).params.get("page")
            if not page or str(page) == str(params.get("page")):
                return items
            params["page"] = page
        return items

    # -- connection -------------------------------------------------------------------------

    def test_connection(self) -> None:
        """`GET /connect`: 200 when the token is valid."""
        self.get("/connect")

    def hypervisor_group_resources(self, group_id: int) -> list[dict]:
        """Per hypervisor of a group: `{hypervisor: {...}, resources: {memory, cpuCores, localStorage, ...}}`."""
        return self._paginate(f"/compute/hypervisors/groups/{group_id}/resources", {"results": 200})

    # -- users ----------------------------------------------------------------------------

    @staticmethod
    def _ext_path(ext_relation_id: str) -> tuple[str, dict]:
        """Numeric ids use `extRelationId` (an integer in VirtFusion); anything else `relStr`."""
        if str(ext_relation_id).isdigit():
            return f"/users/{int(ext_relation_id)}/byExtRelation", {}
        return f"/users/{ext_relation_id}/byExtRelation", {"relStr": "true"}

    def find_user(self, ext_relation_id: str) -> dict | None:
        path, params = self._ext_path(ext_relation_id)
        try:
            return self._data(self.get(path, params=params or None))
        except ApiError as exc:
            if exc.status_code == 404:
                return None
            raise

    def create_user(self, *, name: str, email: str, ext_relation_id: str) -> dict:
        body: dict[str, Any] = {"name": name, "email": email, "sendMail": False}
        if str(ext_relation_id).isdigit():
            body["extRelationId"] = int(ext_relation_id)
        else:
            body["relStr"] = str(ext_relation_id)
        return self._data(self.post("/users", json=body))

    def login_url(self, ext_relation_id: str, server_id: int | None = None) -> str:
        """A one-time login link for the user (landing on the server when given)."""
        base, params = self._ext_path(ext_relation_id)
        base = base.removesuffix("/byExtRelation")
        path = f"{base}/serverAuthenticationTokens/{server_id}" if server_id else f"{base}/authenticationTokens"
        data = self._data(self.post(path, params=params or None))
        data = data if isinstance(data, Mapping) else {}
        container = data.get("authentication") if isinstance(data.get("authentication"), Mapping) else data
        endpoint = container.get("endpoint_complete")
        if not endpoint:
            raise ApiError("VirtFusion: the login token answer has no endpoint_complete", body=None)
        # endpoint_complete is relative to the panel, not to /api/v1.
        return urljoin(self.panel_url + "/", str(endpoint))

    # -- servers ----------------------------------------------------------------------------

    def create_server(self, body: dict) -> dict:
        """`POST /servers`: creates the record and allocates IPs; never retried blindly."""
        return self._data(self.post("/servers", json=body))

    def build_server(self, server_id: int, body: dict) -> dict:
        """`POST /servers/{id}/build`: queues the OS install. A second call on a built server rebuilds."""
        return self._data(self.post(f"/servers/{server_id}/build", json=body)) or {}

    def get_server(self, server_id: int, *, remote_state: bool = False) -> dict:
        params = {"remoteState": "true"} if remote_state else None
        return self._data(self.get(f"/servers/{server_id}", params=params))

    def list_user_servers(self, user_id: int) -> list[dict]:
        return self._paginate(f"/servers/user/{user_id}", {"results": 200})

    def suspend_server(self, server_id: int) -> None:
        self.post(f"/servers/{server_id}/suspend")

    def unsuspend_server(self, server_id: int) -> None:
        self.post(f"/servers/{server_id}/unsuspend")

    def delete_server(self, server_id: int, *, delay_minutes: int = 0) -> None:
        # Always send delay: what VirtFusion does when it is omitted is not documented.
        self.delete(f"/servers/{server_id}", params={"delay": int(delay_minutes)})

    def change_package(self, server_id: int, package_id: int, flags: dict[str, bool]) -> Any:
        """`PUT /servers/{id}/package/{packageId}`; omitted flags default to true. 200 or 204 both mean done."""
        return self.put(f"/servers/{server_id}/package/{package_id}", json=flags or None)

    def modify_memory(self, server_id: int, memory_mb: int) -> None:
        self.put(f"/servers/{server_id}/modify/memory", json={"memory": int(memory_mb)})

    def modify_cpu_cores(self, server_id: int, cores: int) -> None:
        # The spec and docs name the field `cores` (one WHMCS module sends `cpuCores`, wrongly).
        self.put(f"/servers/{server_id}/modify/cpuCores", json={"cores": int(cores)})

    def power(self, server_id: int, action: str) -> int | None:
        """`boot|shutdown|restart|poweroff`; returns the queue id."""
        data = self._data(self.post(f"/servers/{server_id}/power/{action}")) or {}
        return data.get("queueId") if isinstance(data, Mapping) else None

    def get_queue(self, queue_id: int) -> dict:
        return self._data(self.get(f"/queue/{queue_id}")) or {}

    def traffic(self, server_id: int) -> dict:
        return self._data(self.get(f"/servers/{server_id}/traffic")) or {}

    def reset_server_password(self, server_id: int, *, user: str = "root") -> dict:
        """Returns `{expectedPassword, queueId}`. sendMail defaults to true upstream: we send our own mail."""
        return self._data(self.post(f"/servers/{server_id}/resetPassword", json={"user": user, "sendMail": False}))

    # -- ssh keys -------------------------------------------------------------------------

    def add_ssh_key(self, *, user_id: int, name: str, public_key: str) -> int:
        data = self._data(self.post("/ssh_keys", json={"userId": user_id, "name": name, "publicKey": public_key}))
        return int(data["id"])

    def list_ssh_keys(self, user_id: int) -> list[dict]:
        return self._paginate(f"/ssh_keys/user/{user_id}")
