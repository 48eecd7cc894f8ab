"""Webhook endpoints: verify, store, process once, answer fast. No session, no CSRF (signed instead)."""

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.billing.gateways import GatewayError, WebhookVerificationError
from core.billing.services.webhooks import receive_webhook


def _receive(request, gateway_name: str) -> HttpResponse:
    try:
        receipts = receive_webhook(gateway_name, request.body, dict(request.headers))
    except ImproperlyConfigured:
        return HttpResponseNotFound("gateway not enabled")
    except WebhookVerificationError:
        return HttpResponseBadRequest("invalid signature")
    except GatewayError:
        # The gateway's verification endpoint was unreachable: let the sender retry later.
        return HttpResponse("verification unavailable", status=503)
    if all(receipt.ok for receipt in receipts):
        return HttpResponse("ok")
    # Not applied yet (e.g. a refund ahead of its payment): a non-2xx makes the gateway redeliver.
    return HttpResponse("not processed", status=500)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    return _receive(request, "stripe")


@csrf_exempt
@require_POST
def paypal_webhook(request):
    return _receive(request, "paypal")


@csrf_exempt
@require_POST
def sandbox_webhook(request):
    return _receive(request, "sandbox")
