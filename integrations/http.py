"""A small JSON-over-HTTP base for integration clients: timeouts, safe retries, redacted logs.

Retries: 429 (honouring Retry-After) and, for idempotent methods only, 5xx and transport
errors, with exponential backoff. A POST is never retried blindly after the request may
have reached the server; callers that need that use the platform's own lookup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("integrations.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
SECRET_KEYS = frozenset(
    {"password", "pass", "secret", "token", "api_key", "apikey", "key", "authorization", "client_secret",
     "access_token", "refresh_token", "root_password", "sshkey", "ssh_key", "private_key", "credentials"}
)  # fmt: skip
REDACTED = "[REDACTED]"


def redact(value: Any) -> Any:
    """Copy of a JSON-like value with secret-looking keys replaced (for logs and ProvisioningJob rows)."""
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if str(k).lower().replace("-", "_") in SECRET_KEYS else redact(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


@dataclass
class ApiError(Exception):
    """A non-2xx answer (or no answer). `retryable` tells the caller whether trying later may work."""

    message: str
    status_code: int | None = None
    body: Any = None
    retryable: bool = False

    def __str__(self) -> str:
        code = f" (HTTP {self.status_code})" if self.status_code else ""
        return f"{self.message}{code}"


class JsonApiClient:
    """Base for platform/service clients. Subclasses set auth headers/params and map errors."""

    service_name = "api"
    max_attempts = 3
    backoff_base = 0.5
    max_retry_after = 30.0

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.sleep = sleep
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Accept": "application/json", **(headers or {})},
            params=params,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            verify=verify,
            transport=transport,
        )
        self.last_request: dict = {}
        self.last_response: dict = {}

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping | None = None) -> Any:
        method = method.upper()
        self.last_request = {"method": method, "path": path, "params": redact(dict(params or {})), "json": redact(json)}
        for attempt in range(1, self.max_attempts + 1):
            started = time.monotonic()
            try:
                response = self._client.request(method, path, json=json, params=params)
            except httpx.TimeoutException as exc:
                if method in IDEMPOTENT_METHODS and attempt < self.max_attempts:
                    self._backoff(attempt)
                    continue
                raise ApiError(f"{self.service_name} timed out on {method} {path}", retryable=True) from exc
            except httpx.TransportError as exc:
                if method in IDEMPOTENT_METHODS and attempt < self.max_attempts:
                    self._backoff(attempt)
                    continue
                raise ApiError(
                    f"{self.service_name} unreachable on {method} {path}: {exc.__class__.__name__}", retryable=True
                ) from exc
            elapsed = round((time.monotonic() - started) * 1000)
            body = self._decode(response)
            self.last_response = {"status": response.status_code, "body": redact(body), "ms": elapsed}
            log.info("%s %s %s -> %s (%sms)", self.service_name, method, path, response.status_code, elapsed)
            if response.status_code == 429 and attempt < self.max_attempts:
                wait = self._retry_after(response)
                if wait <= self.max_retry_after:
                    self.sleep(wait)
                    continue
            if response.status_code >= 500 and method in IDEMPOTENT_METHODS and attempt < self.max_attempts:
                self._backoff(attempt)
                continue
            if response.status_code >= 400:
                raise self.map_error(response, body)
            return body
        raise ApiError(f"{self.service_name} gave up on {method} {path}", retryable=True)

    def get(self, path: str, **kw) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> Any:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw) -> Any:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw) -> Any:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw) -> Any:
        return self.request("DELETE", path, **kw)

    def map_error(self, response: httpx.Response, body: Any) -> Exception:
        """Turn an error answer into an exception; subclasses map the platform's error shape."""
        retryable = response.status_code == 429 or response.status_code >= 500
        return ApiError(f"{self.service_name} answered {response.status_code}", response.status_code, body, retryable)

    def _backoff(self, attempt: int) -> None:
        self.sleep(min(self.backoff_base * (2 ** (attempt - 1)), 10.0))

    def _retry_after(self, response: httpx.Response) -> float:
        for header in ("Retry-After", "X-RateLimit-Reset-After", "x-ratelimit-reset-after"):
            value = response.headers.get(header)
            if value:
                try:
                    return max(float(value), 0.0)
                except ValueError:
                    continue
        return 1.0

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return {"raw": response.text[:2000]}
