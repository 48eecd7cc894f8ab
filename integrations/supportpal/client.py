"""SupportPal REST API client (shared/reference/services.md §3).

Facts (Confirmed in supportpal/api-client-php unless marked): base `https://<helpdesk>/api/`;
HTTP Basic with the API token as username and "X" as password; answers look like
`{"status": "success", "message": null, "count": N, "data": ...}` and errors like
`{"status": "error", "message": "...", "data": null}`; lists page with `start` (1-based
offset) and `limit`; timestamps are unix integers. Filters `user=` on tickets and `email=` on
users are UNCONFIRMED: results are re-checked here, so an ignored filter can never show one
customer another's tickets.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from integrations.http import ApiError, JsonApiClient

PAGE_SIZE = 50
MAX_PAGES = 40  # 2000 rows: a safety stop should a filter be ignored


class SupportPalError(ApiError):
    pass


def from_unix(value: Any) -> dt.datetime | None:
    if value in (None, "", 0):
        return None
    try:
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    except (TypeError, ValueError):
        return None


class SupportPalClient(JsonApiClient):
    service_name = "SupportPal"

    def __init__(self, base_url: str, token: str, *, timeout: float = 15.0, **kw):
        self.helpdesk_url = base_url.rstrip("/")
        auth = base64.b64encode(f"{token}:X".encode()).decode()
        super().__init__(self.helpdesk_url + "/api/", headers={"Authorization": f"Basic {auth}"}, timeout=timeout, **kw)

    def map_error(self, response, body) -> Exception:
        message = body.get("message") if isinstance(body, dict) else None
        status = response.status_code
        if status == 401:
            message = "SupportPal refused the API token (401): check SUPPORTPAL_API_TOKEN and its permissions"
        return SupportPalError(
            f"SupportPal: {message or 'error'}", status, body, retryable=status == 429 or status >= 500
        )

    def _data(self, body: Any) -> Any:
        if isinstance(body, dict) and body.get("status") == "error":
            raise SupportPalError(f"SupportPal: {body.get('message') or 'error'}", 200, body)
        return body.get("data") if isinstance(body, dict) else body

    def paginate(self, path: str, params: dict | None = None) -> Iterator[dict]:
        start = 1
        for _ in range(MAX_PAGES):
            body = self.get(path, params={**(params or {}), "start": start, "limit": PAGE_SIZE})
            rows = self._data(body) or []
            yield from rows
            total = int(body.get("count") or 0) if isinstance(body, dict) else 0
            start += len(rows)
            if not rows or len(rows) < PAGE_SIZE or start > total:
                return

    # --- users ---
    def find_user_by_email(self, email: str) -> dict | None:
        wanted = email.strip().lower()
        for row in self.paginate("user/user", {"email": email}):
            if str(row.get("email", "")).lower() == wanted:
                return row
        return None

    def create_user(self, *, email: str, firstname: str, lastname: str, brand_id: int) -> dict:
        return self._data(
            self.post(
                "user/user", json={"email": email, "firstname": firstname, "lastname": lastname, "brand_id": brand_id}
            )  # fmt: skip
        )

    def update_user(self, user_id: str, **fields) -> dict:
        return self._data(self.put(f"user/user/{user_id}", json=fields))

    # --- tickets ---
    def departments(self) -> list[dict]:
        return list(self.paginate("ticket/department"))

    def list_tickets(self, user_id: str) -> list[dict]:
        return [
            row
            for row in self.paginate(
                "ticket/ticket", {"user": user_id, "order_column": "updated_at", "order_direction": "desc"}
            )  # fmt: skip
            if str(row.get("user_id")) == str(user_id)
        ]

    def get_ticket(self, ticket_id: str) -> dict:
        return self._data(self.get(f"ticket/ticket/{ticket_id}"))

    def messages(self, ticket_id: str) -> list[dict]:
        return list(self.paginate("ticket/message", {"ticket_id": ticket_id}))

    def create_ticket(self, payload: dict) -> dict:
        return self._data(self.post("ticket/ticket", json=payload))

    def reply(self, payload: dict) -> dict:
        return self._data(self.post("ticket/message", json=payload))

    # --- SSO (SimpleAuth) ---
    def simpleauth_url(self, key: str, *, email: str, firstname: str, lastname: str, redirect: str = "") -> str:
        """A SimpleAuth login link: an HS256 JWT signed with the SimpleAuth key, valid five minutes.

        UNCONFIRMED: the claims SupportPal requires (docs page not in the corpus); we send email,
        names, iat, exp and a one-time jti.
        """
        now = int(time.time())
        claims = {"iat": now, "exp": now + 300, "jti": secrets.token_hex(16), "email": email,
                  "firstname": firstname, "lastname": lastname}  # fmt: skip
        params = {"token": _jwt_hs256(claims, key)}
        if redirect:
            params["redirect"] = redirect
        return f"{self.helpdesk_url}/simpleauth/login?{urlencode(params)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt_hs256(claims: dict, key: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"
