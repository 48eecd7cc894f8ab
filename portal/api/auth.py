"""Bearer-token authentication, per-token rate limit and scope check: one callable per scope.

`TokenAuth("billing")` accepts `Authorization: Bearer ezs_...` for an active token
(core.accounts.services.authenticate_api_token: one query on every request for the hashed lookup,
revocation, the user being active and their customer id; expiry; last-used written once a minute),
whose user is a customer, then counts the request against the token's rate limit
(settings.API_RATE_LIMIT, cache-based fixed window, one INCR: 429 with Retry-After), then checks that
the token has the scope. `request.auth` is then an `ApiCaller`.

No CSRF: the token is sent explicitly in a header, never by the browser on its own.
"""

from __future__ import annotations

import math
import time
from functools import cached_property

from django.conf import settings
from django.core.cache import cache
from ninja.errors import Throttled
from ninja.security import HttpBearer

from core.accounts.models import ApiToken, Customer, User
from core.accounts.services import authenticate_api_token

from .errors import ApiError

SCOPE_HELP = {
    "read": "read everything the account owns",
    "write": "change the profile and manage API tokens",
    "services": "power, plan changes and cancellation of services",
    "billing": "orders, payments and payment methods",
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ApiCaller:
    """Who is calling: the token, its user, and the customer they act as (user and customer are loaded only
    when needed; list endpoints filter on `customer_id` and load neither)."""

    def __init__(self, token: ApiToken, customer_id: int):
        self.token, self.customer_id = token, customer_id

    @cached_property
    def user(self) -> User:
        return self.token.user  # one query, for the endpoints that record who acted

    @cached_property
    def customer(self) -> Customer:
        return Customer.objects.select_related("user", "currency").get(pk=self.customer_id)

    def __str__(self):  # used by ninja's throttles as a cache key, should anyone add one
        return f"api-token-{self.token.pk}"


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/m' -> (600, 60); '20/s' -> (20, 1); '1000/10m' -> (1000, 600)."""
    count, _, period = rate.partition("/")
    digits = "".join(ch for ch in period if ch.isdigit()) or "1"
    unit = (period.strip(digits) or "m")[0].lower()
    return int(count), int(digits) * _UNITS[unit]


def check_rate_limit(token: ApiToken) -> None:
    """Count one request for this token in the current window; past the limit raise Throttled(wait)."""
    limit, window = parse_rate(settings.API_RATE_LIMIT)
    now = time.time()  # wall time, not core.clock: the window must match the cache key's real TTL
    bucket = int(now // window)
    key = f"api:rate:{token.pk}:{bucket}"
    try:
        used = cache.incr(key)
    except ValueError:  # first request of the window
        used = 1 if cache.add(key, 1, timeout=window + 1) else cache.incr(key)
    if used > limit:
        raise Throttled(wait=math.ceil((bucket + 1) * window - now))


class TokenAuth(HttpBearer):
    """An API token that has `scope` (see SCOPE_HELP)."""

    openapi_bearerFormat = "ezs_<secret>"
    openapi_description = "A personal API token (portal > API tokens). Scopes: " + "; ".join(
        f"`{name}`: {what}" for name, what in SCOPE_HELP.items()
    )

    def __init__(self, scope: str):
        if scope not in ApiToken.SCOPES:
            raise ValueError(f"Unknown API scope {scope!r}")
        self.scope = scope
        super().__init__()

    def authenticate(self, request, token: str) -> ApiCaller | None:
        cached = getattr(request, "_api_caller", None)
        if cached is None:
            found = authenticate_api_token(token.strip())
            if found is None:
                return None
            customer_id = found.customer_id  # read with the token
            if customer_id is None:  # staff tokens have nothing to act on here
                return None
            check_rate_limit(found)
            cached = request._api_caller = ApiCaller(found, customer_id)
        if self.scope not in (cached.token.scopes or []):
            raise ApiError(403, "insufficient_scope", f"This token needs the '{self.scope}' scope for this request.")
        return cached


read = TokenAuth("read")
write = TokenAuth("write")
services = TokenAuth("services")
billing = TokenAuth("billing")


def caller(request) -> ApiCaller:
    return request.auth
