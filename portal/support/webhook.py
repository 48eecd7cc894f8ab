"""Ticket events pushed by a SupportPal plugin (SupportPal has no native webhooks: services.md §3.3).

The plugin POSTs JSON `{"event": "...", "ticket_id": 123}` with header
`X-Signature: sha256=<hex HMAC-SHA256 of the raw body with SUPPORTPAL_WEBHOOK_SECRET>`; we re-read
that ticket from the API (the body is only a hint) and refresh the mirror. The 15-minute
mirror task catches anything a lost event missed.
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.support import services as support
from core.support.errors import SupportError, SupportUnavailable


def _secret() -> str:
    return (getattr(settings, "SUPPORTPAL", {}) or {}).get("WEBHOOK_SECRET", "")


@csrf_exempt
@require_POST
def ticket_event(request):
    secret = _secret()
    if not secret:
        return HttpResponseForbidden("Ticket events are not enabled.")
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Signature", "")):
        return HttpResponseForbidden("Bad signature.")
    try:
        ticket_id = str(json.loads(request.body)["ticket_id"])
    except (ValueError, KeyError, TypeError):
        return HttpResponseBadRequest("Expected JSON with ticket_id.")
    try:
        support.refresh_ticket(ticket_id)
    except SupportUnavailable:
        return HttpResponse("Help desk unavailable; send again later.", status=503)
    except SupportError:
        pass  # unknown or deleted ticket: nothing to mirror
    return HttpResponse(status=204)
