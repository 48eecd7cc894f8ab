"""Keeps the acting user, impersonator, IP and user agent of the current request for audit records."""

import contextlib
import contextvars
from dataclasses import dataclass

_context: contextvars.ContextVar["RequestContext | None"] = contextvars.ContextVar("audit_context", default=None)


@dataclass(frozen=True)
class RequestContext:
    user_id: int | None
    impersonator_id: int | None
    ip_address: str | None
    user_agent: str
    source: str


def current() -> "RequestContext | None":
    return _context.get()


@contextlib.contextmanager
def acting_as(source: str, *, user_id: int | None = None):
    """Run a block (a django-q2 task, the importer, a management command) under a named audit source,
    so entries it writes say where they came from instead of "system"."""
    token = _context.set(RequestContext(user_id=user_id, impersonator_id=None, ip_address=None, user_agent="",
                                        source=source))  # fmt: skip
    try:
        yield
    finally:
        _context.reset(token)


def source_for_path(path: str) -> str:
    """admin, api, webhook or portal, from the request path (the admin path is a setting)."""
    from django.conf import settings

    admin_prefix = "/" + settings.ADMIN_PATH.strip("/") + "/"
    if path.startswith("/api/"):
        return "api"
    if path.startswith(("/webhooks/", "/anymail/")):
        return "webhook"
    if path.startswith((admin_prefix, "/account/", "/webauthn/", "/staff")):
        return "admin"
    return "portal"


def client_ip(request) -> str | None:
    # Only trust X-Forwarded-For when a proxy count is configured (AXES_IPWARE_PROXY_COUNT).
    from django.conf import settings

    if getattr(settings, "AXES_IPWARE_PROXY_COUNT", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR")


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        impersonator_id = None
        if getattr(request, "user", None) is not None and getattr(request.user, "is_hijacked", False):
            impersonator_id = (request.session.get("hijack_history") or [None])[-1]
            try:
                impersonator_id = int(impersonator_id) if impersonator_id is not None else None
            except (TypeError, ValueError):
                impersonator_id = None
        source = source_for_path(request.path)
        token = _context.set(
            RequestContext(
                user_id=user.pk if user is not None and user.is_authenticated else None,
                impersonator_id=impersonator_id,
                ip_address=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:255],
                source=source,
            )
        )
        try:
            return self.get_response(request)
        finally:
            _context.reset(token)
