"""PayPal REST facts in one place: base URLs, OAuth2 token cache, request ids, error mapping.

Sandbox or live by settings.PAYPAL_MODE. The access token is cached (Django cache) until shortly
before `expires_in`; a 401 drops it and retries once. POSTs carry `PayPal-Request-Id`, which PayPal
stores for 72 hours, so a POST whose answer was lost is retried with the same id, never blindly.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import cache

from integrations.http import redact

log = logging.getLogger(__name__)

BASE_URLS = {"sandbox": "https://api-m.sandbox.paypal.com", "live": "https://api-m.paypal.com"}
TOKEN_SAFETY_SECONDS = 300
TRANSMISSION_HEADERS = {
    "auth_algo": "PAYPAL-AUTH-ALGO",
    "cert_url": "PAYPAL-CERT-URL",
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
}


class PayPalError(Exception):
    """PayPal refused the request (its `name`, e.g. UNPROCESSABLE_ENTITY, and `details` say why)."""

    def __init__(self, message: str, *, status: int | None = None, name: str = "", debug_id: str = "", details=None):
        super().__init__(message)
        self.status = status
        self.name = name
        self.debug_id = debug_id
        self.details = details or []

    @property
    def issue(self) -> str:
        return (self.details[0] or {}).get("issue", "") if self.details else ""


class PayPalUnavailable(PayPalError):
    """Timeout, connection error or 5xx after retries: the outcome of a POST is unknown."""


class PayPalClient:
    max_attempts = 3

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        mode: str = "sandbox",
        webhook_id: str = "",
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep=time.sleep,
    ):
        if not client_id or not client_secret:
            raise PayPalError("PayPal is enabled but PAYPAL_CLIENT_ID / PAYPAL_CLIENT_SECRET are empty.")
        if mode not in BASE_URLS:
            raise PayPalError(f"PAYPAL_MODE must be 'sandbox' or 'live', not {mode!r}.")
        self.base_url = BASE_URLS[mode]
        self.webhook_id = webhook_id
        self._auth = (client_id, client_secret)
        self._cache_key = f"paypal:token:{mode}:{hashlib.sha256(client_id.encode()).hexdigest()[:16]}"
        self._http = httpx.Client(
            base_url=self.base_url, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), transport=transport
        )
        self.sleep = sleep

    @classmethod
    def from_settings(cls) -> PayPalClient:
        return cls(
            settings.PAYPAL_CLIENT_ID,
            settings.PAYPAL_CLIENT_SECRET,
            mode=settings.PAYPAL_MODE,
            webhook_id=settings.PAYPAL_WEBHOOK_ID,
            timeout=getattr(settings, "PAYMENT_GATEWAY_TIMEOUT", 30.0),
        )

    # --- Auth --------------------------------------------------------------------------------
    def access_token(self) -> str:
        token = cache.get(self._cache_key)
        if token:
            return token
        try:
            response = self._http.post(
                "/v1/oauth2/token", data={"grant_type": "client_credentials"}, auth=self._auth,
                headers={"Accept": "application/json"},
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise PayPalUnavailable(f"PayPal token endpoint unreachable ({exc.__class__.__name__}).") from exc
        if response.status_code != 200:
            raise PayPalError(
                "PayPal refused our client credentials: check PAYPAL_CLIENT_ID/SECRET and PAYPAL_MODE.",
                status=response.status_code,
            )
        body = response.json()
        ttl = max(int(body.get("expires_in", 0)) - TOKEN_SAFETY_SECONDS, 60)
        cache.set(self._cache_key, body["access_token"], timeout=ttl)
        return body["access_token"]

    # --- Requests ------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, json: Any = None, params=None, request_id: str = "") -> Any:
        method = method.upper()
        # A POST may be repeated only when PayPal can recognise it by its request id.
        retry_safe = method != "POST" or bool(request_id)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            headers = {
                "Authorization": f"Bearer {self.access_token()}", "Accept": "application/json",
                "Prefer": "return=representation",
            }  # fmt: skip
            if request_id:
                headers["PayPal-Request-Id"] = request_id
            try:
                response = self._http.request(method, path, json=json, params=params, headers=headers)
            except httpx.HTTPError as exc:
                if retry_safe and attempt < self.max_attempts:
                    self.sleep(0.5 * 2 ** (attempt - 1))
                    continue
                raise PayPalUnavailable(
                    f"PayPal did not answer {method} {path} ({exc.__class__.__name__}); the outcome is unknown."
                ) from exc
            log.info("paypal %s %s -> %s", method, path, response.status_code)
            if response.status_code == 401 and not refreshed:
                cache.delete(self._cache_key)
                refreshed = True
                attempt -= 1
                continue
            if response.status_code == 429 and attempt < self.max_attempts:
                self.sleep(float(response.headers.get("Retry-After", "1") or 1))
                continue
            if response.status_code >= 500 and retry_safe and attempt < self.max_attempts:
                self.sleep(0.5 * 2 ** (attempt - 1))
                continue
            body = _decode(response)
            if response.status_code >= 400:
                raise _error(response.status_code, body, method, path)
            return body

    # --- Catalog and plans ----------------------------------------------------------------------
    def create_product(self, *, name: str, description: str, request_id: str) -> dict:
        body = {
            "name": name[:127],
            "description": description[:256] or name[:127],
            "type": "SERVICE",
            "category": "SOFTWARE",
        }
        return self.request("POST", "/v1/catalogs/products", json=body, request_id=request_id)

    def create_plan(self, body: dict, *, request_id: str) -> dict:
        return self.request("POST", "/v1/billing/plans", json=body, request_id=request_id)

    # --- Subscriptions ----------------------------------------------------------------------------
    def create_subscription(self, body: dict, *, request_id: str) -> dict:
        return self.request("POST", "/v1/billing/subscriptions", json=body, request_id=request_id)

    def get_subscription(self, subscription_id: str) -> dict:
        return self.request("GET", f"/v1/billing/subscriptions/{subscription_id}")

    def subscription_action(self, subscription_id: str, action: str, reason: str) -> None:
        """activate / suspend / cancel (204 No Content on success)."""
        self.request("POST", f"/v1/billing/subscriptions/{subscription_id}/{action}", json={"reason": reason[:128]})

    def revise_subscription(self, subscription_id: str, body: dict) -> dict:
        return self.request("POST", f"/v1/billing/subscriptions/{subscription_id}/revise", json=body)

    def patch_subscription(self, subscription_id: str, operations: list[dict]) -> None:
        """JSON Patch on an ACTIVE or SUSPENDED subscription (204 No Content on success)."""
        self.request("PATCH", f"/v1/billing/subscriptions/{subscription_id}", json=operations)

    # --- Orders and captures -------------------------------------------------------------------------
    def create_order(self, body: dict, *, request_id: str) -> dict:
        return self.request("POST", "/v2/checkout/orders", json=body, request_id=request_id)

    def get_order(self, order_id: str) -> dict:
        return self.request("GET", f"/v2/checkout/orders/{order_id}")

    def capture_order(self, order_id: str, *, request_id: str) -> dict:
        return self.request("POST", f"/v2/checkout/orders/{order_id}/capture", json={}, request_id=request_id)

    def refund_capture(self, capture_id: str, body: dict, *, request_id: str) -> dict:
        return self.request("POST", f"/v2/payments/captures/{capture_id}/refund", json=body, request_id=request_id)

    def refund_sale(self, sale_id: str, body: dict, *, request_id: str) -> dict:
        return self.request("POST", f"/v1/payments/sale/{sale_id}/refund", json=body, request_id=request_id)

    # --- Webhooks ------------------------------------------------------------------------------------
    def verify_webhook_signature(self, headers: dict[str, str], event: dict) -> bool:
        """PayPal's postback check. A failed check is still HTTP 200: only `SUCCESS` counts."""
        body = {key: headers[header] for key, header in TRANSMISSION_HEADERS.items()}
        body.update(webhook_id=self.webhook_id, webhook_event=event)
        answer = self.request("POST", "/v1/notifications/verify-webhook-signature", json=body)
        return (answer or {}).get("verification_status") == "SUCCESS"

    # --- Reporting ---------------------------------------------------------------------------------------
    def iter_transactions(self, *, start: str, end: str) -> Iterator[dict]:
        """Transaction search (`/v1/reporting/transactions`), every page. Times are RFC 3339; 31 days max per call."""
        page = 1
        while True:
            body = self.request(
                "GET", "/v1/reporting/transactions",
                params={"start_date": start, "end_date": end, "fields": "transaction_info", "page_size": 500, "page": page},
            )  # fmt: skip
            yield from body.get("transaction_details", [])
            if page >= int(body.get("total_pages", 1) or 1):
                return
            page += 1


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"raw": response.text[:2000]}


def _error(status: int, body: Any, method: str, path: str) -> PayPalError:
    body = body if isinstance(body, dict) else {}
    # Orders/Subscriptions errors: {name, message, debug_id, details[]}; OAuth: {error, error_description}.
    name = body.get("name") or body.get("error") or ""
    message = body.get("message") or body.get("error_description") or f"PayPal answered {status}"
    details = body.get("details") or []
    issue = (details[0] or {}).get("description") if details else ""
    log.warning("paypal %s %s failed: %s %s", method, path, status, redact(body))
    cls = PayPalUnavailable if status >= 500 else PayPalError
    return cls(
        f"{message}{': ' + issue if issue else ''}",
        status=status,
        name=name,
        debug_id=body.get("debug_id", ""),
        details=details,
    )
