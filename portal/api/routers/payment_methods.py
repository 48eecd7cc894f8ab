"""Saved payment methods: list, remove, make default (core.billing.services.methods).

Adding a card needs the gateway's own page (Stripe Elements, 3-D Secure): do it in the portal.
"""

from ninja import Path, Router, Status
from ninja.pagination import paginate

from core.billing.models import PaymentMethod
from core.billing.services import methods

from .. import auth
from ..errors import responses
from ..pagination import Mapped, Page
from ..query import known_query
from ..schemas.billing import PaymentMethodOut
from .common import own

router = Router(tags=["payment methods"])


def method_out(method: PaymentMethod) -> dict:
    return {name: getattr(method, name) for name in PaymentMethodOut.model_fields if name != "id"} | {"id": method.pk}


def _own_method(customer, method_id: int) -> PaymentMethod:
    return own(PaymentMethod.objects.filter(removed_at__isnull=True), customer, "payment method", pk=method_id)


@router.get("/payment-methods", response=responses({200: list[PaymentMethodOut]}), auth=auth.read,
            summary="Your saved payment methods")  # fmt: skip
@known_query()
@paginate(Page)
def list_payment_methods(request):
    customer = auth.caller(request).customer
    return Mapped(methods.active_payment_methods(customer).order_by("-is_default", "-created_at", "-id"), method_out)


@router.delete("/payment-methods/{method_id}", response=responses({204: None}, 404), auth=auth.billing,
               summary="Remove a payment method")  # fmt: skip
def remove_payment_method(request, method_id: int = Path(..., ge=1, le=2_147_483_647)):
    caller = auth.caller(request)
    methods.remove_payment_method(caller.customer, _own_method(caller.customer, method_id), actor=caller.user)
    return Status(204, None)


@router.post("/payment-methods/{method_id}/default", response=responses({200: PaymentMethodOut}, 404),
             auth=auth.billing, summary="Make a payment method the default")  # fmt: skip
def set_default_payment_method(request, method_id: int = Path(..., ge=1, le=2_147_483_647)):
    caller = auth.caller(request)
    method = _own_method(caller.customer, method_id)
    methods.set_default_payment_method(caller.customer, method, actor=caller.user)
    return method_out(_own_method(caller.customer, method_id))
