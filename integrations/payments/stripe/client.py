"""Everything Stripe-specific about talking to Stripe: the SDK client, request options, error mapping.

The rest of the code sees plain dicts (``StripeObject.to_dict()``; since stripe-python 15 objects are
no longer dicts) and the exceptions below. Keys never reach a log: the SDK logs nothing by default
and our messages carry Stripe's error text, never request options.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import stripe
from django.conf import settings

from core.billing.gateways import WebhookVerificationError

log = logging.getLogger(__name__)


class StripeApiError(Exception):
    """Stripe refused the request (bad parameters, unknown object): retrying the same call will not help."""

    def __init__(self, message: str, *, code: str = "", http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class StripeConfigError(StripeApiError):
    """Our key is wrong or lacks a permission: staff must fix settings."""


class StripeUnavailable(StripeApiError):
    """Timeout, connection error, 5xx or rate limit after the SDK's own retries: the outcome is unknown."""


class StripeCardError(StripeApiError):
    """A card was declined or needs the customer (HTTP 402, ``type=card_error``)."""

    def __init__(
        self, message: str, *, code: str = "", decline_code: str = "", payment_intent: dict | None = None,
        charge_id: str = "",
    ):  # fmt: skip
        super().__init__(message, code=code, http_status=402)
        self.decline_code = decline_code
        self.payment_intent = payment_intent or {}
        self.charge_id = charge_id

    @property
    def needs_authentication(self) -> bool:
        # Off-session confirms that need SCA fail with this code and leave the PaymentIntent
        # in requires_payment_method (support.stripe.com, "off-session payments requiring SCA").
        return self.code == "authentication_required" or self.decline_code == "authentication_required"


def _as_dict(obj: Any) -> dict:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    return obj.to_dict()


def _translate(exc: stripe.StripeError) -> StripeApiError:
    status = getattr(exc, "http_status", None)
    if isinstance(exc, stripe.CardError):
        error = exc.error
        return StripeCardError(
            exc.user_message or str(getattr(error, "message", "") or "The card was declined."),
            code=exc.code or "",
            decline_code=getattr(error, "decline_code", None) or "",
            payment_intent=_as_dict(getattr(error, "payment_intent", None)),
            charge_id=getattr(error, "charge", None) or "",
        )
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return StripeConfigError(
            "Stripe rejected our API key: check STRIPE_SECRET_KEY.", code=exc.code or "", http_status=status
        )
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or (status or 0) >= 500:
        return StripeUnavailable(
            f"Stripe did not answer in time or failed ({exc.__class__.__name__}); the outcome is unknown.",
            code=getattr(exc, "code", "") or "",
            http_status=status,
        )
    message = getattr(exc, "user_message", None) or str(exc) or "Stripe refused the request."
    return StripeApiError(message, code=getattr(exc, "code", "") or "", http_status=status)


class StripeApi:
    """A thin, typed wrapper over ``stripe.StripeClient`` (v1 services) returning dicts."""

    def __init__(
        self,
        api_key: str,
        webhook_secret: str = "",
        *,
        max_network_retries: int = 2,
        timeout: float = 30.0,
        http_client: stripe.HTTPClient | None = None,
    ):
        if not api_key:
            raise StripeConfigError("Stripe is enabled but STRIPE_SECRET_KEY is empty.")
        # StripeClient does not retry unless told (services.md 1.1); a retry re-sends the same
        # Idempotency-Key, so Stripe replays rather than repeats.
        self._client = stripe.StripeClient(
            api_key,
            http_client=http_client or stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True),
            max_network_retries=max_network_retries,
        )
        self.webhook_secret = webhook_secret

    @classmethod
    def from_settings(cls) -> StripeApi:
        return cls(
            settings.STRIPE_SECRET_KEY,
            settings.STRIPE_WEBHOOK_SECRET,
            max_network_retries=getattr(settings, "STRIPE_MAX_NETWORK_RETRIES", 2),
            timeout=getattr(settings, "PAYMENT_GATEWAY_TIMEOUT", 30.0),
        )

    def _call(self, fn, *args, **kwargs) -> dict:
        try:
            return _as_dict(fn(*args, **kwargs))
        except stripe.StripeError as exc:
            mapped = _translate(exc)
            log.warning("stripe %s failed: %s", getattr(fn, "__qualname__", fn), mapped)
            raise mapped from exc

    @property
    def v1(self):
        return self._client.v1

    # Customers and payment methods
    def create_customer(self, *, email: str, name: str, metadata: dict, idempotency_key: str) -> dict:
        params = {"email": email, "name": name, "metadata": metadata}
        return self._call(self.v1.customers.create, params, {"idempotency_key": idempotency_key})

    def retrieve_customer(self, customer_id: str) -> dict:
        return self._call(self.v1.customers.retrieve, customer_id)

    def set_default_payment_method(self, customer_id: str, payment_method_id: str) -> dict:
        params = {"invoice_settings": {"default_payment_method": payment_method_id}}
        return self._call(self.v1.customers.update, customer_id, params)

    def create_setup_intent(self, *, customer_id: str, metadata: dict) -> dict:
        params = {
            "customer": customer_id,
            "usage": "off_session",
            "automatic_payment_methods": {"enabled": True},
            "metadata": metadata,
        }
        return self._call(self.v1.setup_intents.create, params)

    def retrieve_setup_intent(self, setup_intent_id: str) -> dict:
        return self._call(self.v1.setup_intents.retrieve, setup_intent_id, {"expand": ["payment_method"]})

    def list_payment_methods(self, customer_id: str) -> list[dict]:
        def fetch():
            page = self.v1.customers.payment_methods.list(customer_id, {"limit": 100})
            return [_as_dict(pm) for pm in page.auto_paging_iter()]

        try:
            return fetch()
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    def detach_payment_method(self, payment_method_id: str) -> dict:
        return self._call(self.v1.payment_methods.detach, payment_method_id)

    # PaymentIntents
    def create_payment_intent(self, params: dict, *, idempotency_key: str) -> dict:
        return self._call(self.v1.payment_intents.create, params, {"idempotency_key": idempotency_key})

    def retrieve_payment_intent(self, payment_intent_id: str) -> dict:
        return self._call(self.v1.payment_intents.retrieve, payment_intent_id)

    def find_payment_intents_for_invoice(self, invoice_uuid: str) -> list[dict]:
        """PaymentIntents carrying our invoice uuid (Search API; results can lag ~1 minute behind writes)."""
        query = f"metadata['invoice_uuid']:'{invoice_uuid}'"
        return self._call(self.v1.payment_intents.search, {"query": query, "limit": 20}).get("data", [])

    def iter_payment_intents(self, *, created_gte: int, created_lt: int | None = None) -> Iterator[dict]:
        """Every PaymentIntent created in the window, following ``has_more``/``starting_after``."""
        created: dict[str, int] = {"gte": created_gte}
        if created_lt is not None:
            created["lt"] = created_lt
        params: dict[str, Any] = {"limit": 100, "created": created}
        while True:
            page = self._call(self.v1.payment_intents.list, dict(params))
            data = page.get("data", [])
            yield from data
            if not page.get("has_more") or not data:
                return
            params["starting_after"] = data[-1]["id"]

    # Refunds
    def create_refund(
        self, *, payment_intent_id: str, amount_minor: int, metadata: dict, idempotency_key: str, reason: str = ""
    ) -> dict:
        params: dict[str, Any] = {"payment_intent": payment_intent_id, "amount": amount_minor, "metadata": metadata}
        if reason in {"duplicate", "fraudulent", "requested_by_customer"}:
            params["reason"] = reason
        return self._call(self.v1.refunds.create, params, {"idempotency_key": idempotency_key})

    def list_refunds(self, *, payment_intent_id: str) -> list[dict]:
        return self._call(self.v1.refunds.list, {"payment_intent": payment_intent_id, "limit": 100}).get("data", [])

    # Webhooks
    def construct_event(self, body: bytes, signature_header: str) -> dict:
        """Verify ``Stripe-Signature`` over the raw body (HMAC-SHA256, 300 s tolerance) and parse it."""
        if not self.webhook_secret:
            raise WebhookVerificationError("STRIPE_WEBHOOK_SECRET is not set; refusing unverifiable webhooks.")
        try:
            event = stripe.Webhook.construct_event(body, signature_header or "", self.webhook_secret)
        except stripe.SignatureVerificationError as exc:
            raise WebhookVerificationError(f"Bad Stripe signature: {exc.user_message or exc}") from exc
        except ValueError as exc:
            raise WebhookVerificationError("Stripe webhook body is not valid JSON.") from exc
        # stripe-python refuses a timestamp older than the tolerance only; one from the future is as suspect.
        timestamp = _signed_timestamp(signature_header)
        if timestamp > time.time() + WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookVerificationError("Bad Stripe signature: timestamp is in the future (clock skew or replay).")
        return _as_dict(event)


WEBHOOK_TOLERANCE_SECONDS = 300


def _signed_timestamp(header: str) -> int:
    """The ``t=`` of a ``Stripe-Signature`` header (verified by construct_event before this is read)."""
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                break
    raise WebhookVerificationError("Bad Stripe signature: no timestamp.")
