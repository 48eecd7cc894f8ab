"""Every API error is JSON of one shape, `ApiErrorOut`: a stable `code`, a `message` a person can act
on, and `fields` (field name -> messages) for invalid input.

| status | code(s)                                   | when                                                    |
|--------|-------------------------------------------|---------------------------------------------------------|
| 401    | unauthorized                              | no, unknown, expired or revoked bearer token            |
| 402    | payment_failed                            | the gateway declined or failed a charge                 |
| 403    | insufficient_scope                        | the token lacks the scope the endpoint needs            |
| 404    | not_found                                 | no such object, or not the caller's (never 403)         |
| 409    | idempotency_in_progress                   | a request with this Idempotency-Key is still running    |
| 422    | invalid_request, invalid_json,            | input that fails validation or a business rule, with   |
|        | idempotency_key_reused, <domain code>     | the field at fault in `fields`                          |
| 429    | rate_limited                              | too many requests for this token (see Retry-After)      |
| 503    | platform_unavailable                      | the hosting platform did not answer a live action       |

Domain errors (core.*.errors) map to 422 with a code from their class name (OrderError -> order,
CouponError -> coupon, SubscriptionError -> subscription, ...), so clients can branch on it.
"""

from __future__ import annotations

import re
from http import HTTPStatus

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from pydantic import Field

from core.accounts.errors import AccountError
from core.billing.errors import BillingError
from core.billing.gateways import GatewayError
from core.provisioning.errors import PlatformActionFailed, ProvisioningError

NON_FIELD = "__all__"


class ApiErrorOut(Schema):
    """An error answer. `fields` maps each invalid input field (dotted path) to its messages."""

    code: str = Field(description="Stable machine-readable error code, e.g. not_found, invalid_request.")
    message: str = Field(description="What went wrong and what to do about it.")
    fields: dict[str, list[str]] = Field(default_factory=dict, description="Messages per invalid input field.")


class ApiError(Exception):
    """Raised by endpoints and the API's own layers for an answer other than the schema's 2xx."""

    def __init__(self, status: int, code: str, message: str, *, fields: dict[str, list[str]] | None = None,
                 headers: dict[str, str] | None = None):  # fmt: skip
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = fields or {}
        self.headers = headers or {}


class NotFound(ApiError):
    def __init__(self, what: str = "object"):
        super().__init__(404, "not_found", f"No such {what}, or it is not yours.")


ERROR_DESCRIPTIONS = {
    401: "Missing, unknown, expired or revoked bearer token (`unauthorized`).",
    402: "The payment was declined or failed at the gateway (`payment_failed`); nothing was charged.",
    403: "The token does not have the scope this endpoint needs (`insufficient_scope`).",
    404: "No such object, or it belongs to another customer (`not_found`).",
    409: "A request with the same Idempotency-Key is still being processed (`idempotency_in_progress`); "
    "retry after Retry-After seconds.",
    422: "Invalid input (`invalid_request`, `invalid_json`), a business rule refused it (domain code such as "
    "`order`, `coupon`, `subscription`, `provisioning`), or the Idempotency-Key was used with another body "
    "(`idempotency_key_reused`); `fields` says which input is at fault.",
    429: "Too many requests for this token (`rate_limited`); retry after Retry-After seconds.",
    503: "The hosting platform did not answer (`platform_unavailable`); nothing changed, try again shortly.",
}
# Every operation can answer these; operations add 402/404/409/503 where they apply.
COMMON = (401, 403, 422, 429)


def responses(ok: dict, *extra: int) -> dict:
    """An operation's `response=` mapping: its success answers plus the error answers it can give."""
    return {**ok, **dict.fromkeys(sorted(set(COMMON) | set(extra)), ApiErrorOut)}


def _code_for(exc: Exception) -> str:
    name = type(exc).__name__
    for suffix in ("Error", "Exception"):
        name = name.removesuffix(suffix)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() or "invalid_request"


def _field_errors(exc: Exception, message: str) -> dict[str, list[str]]:
    found = getattr(exc, "field_errors", None)
    if isinstance(found, dict) and found:
        return {str(k): [str(m) for m in (v if isinstance(v, list | tuple) else [v])] for k, v in found.items()}
    field = getattr(exc, "field", None)
    return {field: [message]} if field else {}


def _validation_fields(errors: list[dict]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ())]
        # ninja prefixes the source (body/query/path/header) and the body parameter's name.
        if loc and loc[0] in ("body", "query", "path", "header", "form", "cookie"):
            source = loc.pop(0)
            if source == "body" and loc and loc[0] == "payload":
                loc.pop(0)
        fields.setdefault(".".join(loc) or NON_FIELD, []).append(error.get("msg", "Invalid value."))
    return fields


def install(api) -> None:
    """Register the handlers that turn every exception an endpoint can raise into an ApiErrorOut."""

    def answer(request, status: int, code: str, message: str, fields=None, headers=None):
        response = api.create_response(request, {"code": code, "message": message, "fields": fields or {}},
                                       status=status)  # fmt: skip
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    @api.exception_handler(ApiError)
    def _api_error(request, exc: ApiError):
        return answer(request, exc.status, exc.code, exc.message, exc.fields, exc.headers)

    @api.exception_handler(ValidationError)
    def _invalid(request, exc: ValidationError):
        fields = _validation_fields(exc.errors)
        return answer(request, 422, "invalid_request", "Some input is invalid; see fields.", fields)

    @api.exception_handler(AuthenticationError)
    def _unauthorized(request, exc):
        return answer(request, 401, "unauthorized", "Send a valid API token as 'Authorization: Bearer <token>'.",
                      headers={"WWW-Authenticate": 'Bearer realm="api"'})  # fmt: skip

    @api.exception_handler(Throttled)
    def _throttled(request, exc: Throttled):
        wait = int(exc.wait or 1) + (1 if exc.wait and exc.wait % 1 else 0)
        return answer(request, 429, "rate_limited", f"Too many requests for this token; retry in {wait} s.",
                      headers={"Retry-After": str(max(wait, 1))})  # fmt: skip

    @api.exception_handler(HttpError)
    def _http_error(request, exc: HttpError):
        if exc.status_code == 400:  # the body is not JSON
            return answer(request, 422, "invalid_json", "The request body must be a JSON document.")
        phrase = HTTPStatus(exc.status_code).phrase if exc.status_code in HTTPStatus._value2member_map_ else ""
        return answer(request, exc.status_code, _code_for(exc), str(exc) or phrase)

    @api.exception_handler(Http404)
    def _not_found(request, exc):
        return answer(request, 404, "not_found", "No such object, or it is not yours.")

    @api.exception_handler(ObjectDoesNotExist)
    def _does_not_exist(request, exc):
        return answer(request, 404, "not_found", "No such object, or it is not yours.")

    @api.exception_handler(GatewayError)
    def _gateway(request, exc: GatewayError):
        return answer(request, 402, "payment_failed", str(exc) or "The payment gateway refused the request.")

    @api.exception_handler(PlatformActionFailed)
    def _platform(request, exc):
        return answer(request, 503, "platform_unavailable", str(exc), headers={"Retry-After": "60"})

    for domain_error in (AccountError, BillingError, ProvisioningError):

        def _domain(request, exc, _base=domain_error):
            message = str(exc)
            return answer(request, 422, _code_for(exc), message, _field_errors(exc, message))

        api.add_exception_handler(domain_error, _domain)
