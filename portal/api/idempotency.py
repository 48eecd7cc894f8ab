"""`Idempotency-Key` on POSTs that create or charge: a retried request gets the stored answer.

- same key + same request (method, path, body) -> the first answer again, status and body, with
  `Idempotent-Replayed: true`; nothing runs a second time (no second order, no second charge);
- same key + another request -> 422 `idempotency_key_reused`;
- same key while the first request still runs -> 409 `idempotency_in_progress` with Retry-After.

Keys are per user and live settings.API_IDEMPOTENCY_HOURS; answers 401/403/429 and 5xx are not
stored (the request did not run, or may be retried). Apply with `@idempotent` under the route
decorator: it wraps ninja's Operation.run, so it sees the final HttpResponse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from ninja import Header
from ninja.decorators import decorate_view

from core import clock
from core.accounts.models import ApiToken

from .models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
NOT_STORED = {401, 403, 429}

# Declare the header on an operation (for the OpenAPI document): `idempotency_key: IdempotencyKeyHeader = None`.
IdempotencyKeyHeader = Header(
    None,
    alias=HEADER,
    max_length=MAX_KEY_LENGTH,
    description="Any unique string (e.g. a UUID). Retrying with the same key and body returns the first "
    "answer without doing the work again; the same key with another body is refused (422).",
)


def _json_error(status: int, code: str, message: str, **headers) -> HttpResponse:
    response = HttpResponse(json.dumps({"code": code, "message": message, "fields": {}}), status=status,
                            content_type="application/json")  # fmt: skip
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def request_hash(request) -> str:
    body = request.body or b""
    try:  # the same JSON written with other spacing or key order is the same request
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        pass
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(part + b"\0")
    return digest.hexdigest()


def _user_id(request) -> int | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return (
        ApiToken.objects.filter(ApiToken.active_q(), token_hash=ApiToken.hash(secret.strip()))
        .values_list("user_id", flat=True)
        .first()
    )


def purge_expired_keys() -> int:
    """Delete stored answers older than settings.API_IDEMPOTENCY_HOURS; returns how many."""
    expired_before = clock.now() - dt.timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    return IdempotencyKey.objects.filter(created_at__lt=expired_before).delete()[0]


def _claim(user_id: int, key: str, digest: str) -> tuple[IdempotencyKey, bool]:
    """The key's row, and whether this request created it (and so must do the work)."""
    expired_before = clock.now() - dt.timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    IdempotencyKey.objects.filter(user_id=user_id, key=key, created_at__lt=expired_before).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(user_id=user_id, key=key, request_hash=digest), True
    except IntegrityError:
        return IdempotencyKey.objects.get(user_id=user_id, key=key), False


def _run_once(run):
    @wraps(run)
    def wrapper(request, *args, **kwargs):
        key = (request.headers.get(HEADER) or "").strip()
        if request.method != "POST" or not key or len(key) > MAX_KEY_LENGTH:
            return run(request, *args, **kwargs)  # an over-long key is refused by the header's validation
        user_id = _user_id(request)
        if user_id is None:
            return run(request, *args, **kwargs)  # authentication answers 401
        digest = request_hash(request)
        row, created = _claim(user_id, key, digest)
        if not created:
            if row.request_hash != digest:
                return _json_error(422, "idempotency_key_reused",
                                   "This Idempotency-Key was already used for another request; use a new key.")  # fmt: skip
            if row.status_code is None:
                return _json_error(409, "idempotency_in_progress",
                                   "A request with this Idempotency-Key is still running; retry shortly.",
                                   Retry_After="1")  # fmt: skip
            replay = HttpResponse(row.response_body, status=row.status_code, content_type=row.content_type)
            replay["Idempotent-Replayed"] = "true"
            return replay
        try:
            response = run(request, *args, **kwargs)
        except BaseException:
            IdempotencyKey.objects.filter(pk=row.pk).delete()
            raise
        if response.status_code in NOT_STORED or response.status_code >= 500 or getattr(response, "streaming", False):
            IdempotencyKey.objects.filter(pk=row.pk).delete()
            return response
        IdempotencyKey.objects.filter(pk=row.pk).update(
            status_code=response.status_code,
            response_body=response.content.decode(response.charset or "utf-8"),
            content_type=response.get("Content-Type", "application/json"),
        )
        return response

    return wrapper


idempotent = decorate_view(_run_once)
