"""SynergyCP API client: every URL, field name, auth rule and error shape of SynergyCP lives here.

Facts (shared/reference/platforms.md §3, from the vendor's own synergycp/scp-php-api and
scp-whmcs-integration):
- Requests go to `{base}/{path}` with no `/api` prefix added; the API key travels as the
  `key` query parameter on every request, POST/PATCH/DELETE included.
- Every answer is `{"error": false, "data": ..., "messages": [{"text": ...}]}`; the vendor client
  trusts the body, not the HTTP status (which status accompanies an error is UNCONFIRMED), so an
  `error` that is not `false` is a failure even on HTTP 200.
- Lists are Laravel paginators under `data`: `{data: [...], current_page, last_page, total}`,
  with `page` and `per_page` query parameters.
- GET filters use PHP `http_build_query` nesting (`parts[exact]=1`, `disks_billing[0]=...`),
  booleans as `1`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from integrations.http import ApiError, JsonApiClient

PER_PAGE = 100
_NOT_FOUND_TEXT = re.compile(r"not found|no query results|does not exist", re.IGNORECASE)


class SynergyCPError(ApiError):
    """An error answer from SynergyCP. `ignored` is set when it refused an automatic action (VIP client)."""

    ignored: bool = False
    not_found: bool = False


class _ApiKeyTransport(httpx.BaseTransport):
    """Adds `?key=` to the request that goes on the wire only.

    httpx logs the URL of the request the client built, not this copy, so the key never reaches
    log output, and JsonApiClient.last_request never sees it either.
    """

    def __init__(self, inner: httpx.BaseTransport, api_key: str):
        self._inner = inner
        self._api_key = api_key

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        keyed = httpx.Request(
            request.method,
            request.url.copy_merge_params({"key": self._api_key}),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return self._inner.handle_request(keyed)

    def close(self) -> None:
        self._inner.close()


def php_query(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested filters the way PHP's http_build_query does (`a[b]=1`, `a[0]=x`, True -> 1)."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs.extend(php_query(value, name))
        elif isinstance(value, list | tuple):
            pairs.extend(php_query(dict(enumerate(value)), name))
        elif isinstance(value, bool):
            pairs.append((name, "1" if value else "0"))
        else:
            pairs.append((name, str(value)))
    return pairs


class SynergyCPClient(JsonApiClient):
    service_name = "synergycp"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._raw_transport = transport
        self._verify = verify
        self._timeout = timeout
        inner = transport or httpx.HTTPTransport(verify=verify)
        super().__init__(
            base_url,
            headers={"Content-Type": "application/json"},
            timeout=timeout,
            verify=verify,
            transport=_ApiKeyTransport(inner, api_key),
            sleep=sleep,
        )

    def with_key(self, api_key: str) -> SynergyCPClient:
        """A client acting with another key (a client key, so SynergyCP enforces that client's access)."""
        return SynergyCPClient(
            self.base_url,
            api_key,
            timeout=self._timeout,
            verify=self._verify,
            transport=self._raw_transport,
            sleep=self.sleep,
        )

    # --- envelope -------------------------------------------------------------------

    def call(self, method: str, path: str, *, json: Any = None, params: Mapping | None = None) -> Any:
        """One call; returns the envelope's `data`, raising SynergyCPError when `error` is set."""
        query = php_query(params) if params else None
        body = self.request(method, path, json=json, params=query)
        if isinstance(body, dict) and "error" in body:
            if body.get("error") not in (False, None, 0):
                raise self._envelope_error(200, body)
            return body.get("data")
        if body is None:
            return None
        raise SynergyCPError(f"SynergyCP answered {method} {path} without its JSON envelope", 200, body, True)

    def map_error(self, response: httpx.Response, body: Any) -> Exception:
        return self._envelope_error(response.status_code, body)

    def _envelope_error(self, status: int, body: Any) -> SynergyCPError:
        text = ""
        data: Any = None
        if isinstance(body, dict):
            messages = body.get("messages") or []
            if messages and isinstance(messages[0], dict):
                text = str(messages[0].get("text") or "")
            elif messages:
                text = str(messages[0])
            data = body.get("data")
        retryable = status == 429 or status >= 500
        error = SynergyCPError(
            text or f"SynergyCP answered HTTP {status}", status if status >= 400 else None, body, retryable
        )
        error.ignored = bool(isinstance(data, dict) and data.get("ignored"))
        error.not_found = status == 404 or bool(_NOT_FOUND_TEXT.search(text))
        return error

    def iter_list(self, path: str, params: Mapping | None = None, *, per_page: int = PER_PAGE) -> Iterator[dict]:
        """Every item of a paginated list, page by page (stops at `last_page`)."""
        page = 1
        while True:
            data = self.call("GET", path, params={**(params or {}), "page": page, "per_page": per_page}) or {}
            items = data.get("data", []) if isinstance(data, dict) else list(data)
            yield from items
            last_page = int(data.get("last_page") or page) if isinstance(data, dict) else page
            if page >= last_page or not items:
                return
            page += 1

    def first(self, path: str, params: Mapping | None = None) -> dict | None:
        data = self.call("GET", path, params={**(params or {}), "per_page": 1}) or {}
        items = data.get("data", []) if isinstance(data, dict) else list(data)
        return items[0] if items else None

    # --- clients --------------------------------------------------------------------

    def find_client_by_billing_id(self, billing_id: str) -> dict | None:
        return self.first("client", {"billing_id": billing_id})

    def find_client_by_email(self, email: str) -> dict | None:
        return self.first("client", {"email": email})

    def create_client(self, *, email: str, first: str, last: str, billing_id: str) -> dict:
        # An empty password: the customer reaches SynergyCP through single sign-on only.
        return self.call(
            "POST",
            "client",
            json={"email": email, "first": first, "last": last, "billing_id": billing_id, "password": ""},
        )

    def set_client_password(self, client_id: int | str, password: str) -> dict:
        return self.call("PATCH", f"client/{client_id}", json={"password": password})

    def create_client_key(self, client_id: int | str) -> str:
        data = self.call("POST", "key", json={"owner_id": int(client_id), "owner_type": "client"}) or {}
        return str(data.get("key") or "")

    def sso_url(self, client_key: str, server_id: int | str | None = None) -> str:
        query = {"key": client_key}
        if server_id:
            query.update(view_type="server", view_id=str(server_id))
        return f"{self.base_url}/auth/sso?{urlencode(query)}"

    # --- inventory and provisioning -------------------------------------------------

    def find_available_server(self, filters: Mapping[str, Any]) -> dict | None:
        """The first free server whose parts match the billing ids exactly."""
        return self.first("server", {**filters, "available": True, "parts": {"exact": True}})

    def find_free_ip_entity(self, ip_group_billing: list[str], ips_billing: str) -> dict | None:
        return self.first(
            "entity", {"group": {"billing": ip_group_billing}, "billing_id": ips_billing, "server": "none"}
        )

    def find_server_by_billing_id(self, billing_id: str) -> dict | None:
        return self.first("server", {"billing_id": billing_id})

    def provision_server(self, body: Mapping[str, Any]) -> dict | None:
        """POST server/provision; None when SynergyCP answered with empty data (nothing assigned)."""
        data = self.call("POST", "server/provision", json=dict(body))
        if not data:
            return None
        return data.get("server") if isinstance(data, dict) else None

    def get_server(self, server_id: int | str) -> dict:
        return self.call("GET", f"server/{server_id}") or {}

    def server_entities(self, server_id: int | str) -> list[dict]:
        return list(self.iter_list("entity", {"server": server_id}))

    def server_installs(self, server_id: int | str) -> list[dict]:
        data = self.call("GET", f"server/{server_id}/install") or {}
        return data.get("data", []) if isinstance(data, dict) else list(data)

    def install_os(self, server_id: int | str, *, pxe_profile_billing: str, password: str) -> dict:
        """`POST server/{id}/install`: queue an OS install (it erases the disks); the vendor's client
        area offers it as "OS reinstall" and follows it with `GET server/{id}/install`."""
        body = {"pxe_profile_billing": pxe_profile_billing, "password": password}
        data = self.call("POST", f"server/{server_id}/install", json=body)
        return data if isinstance(data, dict) else {}

    def wipe_server(self, server_id: int | str) -> None:
        # `auto: true` marks it as a billing action, which SynergyCP may refuse for VIP clients.
        self.call("PATCH", f"server/{server_id}", json={"wiped": "1", "auto": True})

    def set_max_bandwidth(self, server_id: int | str, billing_id: str, max_bandwidth: str) -> None:
        self.call("PATCH", f"server/{server_id}", json={"billing": {"id": billing_id, "max_bandwidth": max_bandwidth}})

    # --- access (suspension) --------------------------------------------------------

    def primary_access(self, server_id: int | str) -> dict | None:
        return self.first(f"server/{server_id}/access", {"is_primary": True})

    def set_access_active(self, server_id: int | str, access_id: int | str, active: bool, reason: str = "") -> None:
        body: dict[str, Any] = {"is_active": active}
        if not active:
            body.update(auto=True, suspension_reason=reason or "Suspended by billing")
        self.call("PATCH", f"server/{server_id}/access/{access_id}", json=body)

    # --- IPMI power -----------------------------------------------------------------

    def first_control(self, server_id: int | str) -> dict | None:
        data = self.call("GET", f"server/{server_id}/control") or {}
        items = data.get("data", []) if isinstance(data, dict) else list(data)
        return items[0] if items else None

    def control_command(self, server_id: int | str, control_id: int | str, command: Mapping[str, Any]) -> None:
        self.call("POST", f"server/{server_id}/control/{control_id}/command", json=dict(command))

    # --- health ---------------------------------------------------------------------

    def ping(self) -> Any:
        """The cheapest authenticated read: one client row."""
        return self.call("GET", "client", params={"per_page": 1})
