"""GET/PATCH /account: the caller's profile, changed through core.accounts.services.update_customer_profile."""

from ninja import Router

from core.accounts.services import update_customer_profile

from .. import auth
from ..errors import responses
from ..schemas.account import AccountOut, AccountUpdateIn

router = Router(tags=["account"])


def account_out(customer) -> dict:
    user = customer.user
    fields = {name: getattr(customer, name) for name in AccountOut.model_fields if hasattr(customer, name)}
    return {**fields, "email": user.email, "first_name": user.first_name, "last_name": user.last_name,
            "currency": customer.currency_id}  # fmt: skip


@router.get("/account", response=responses({200: AccountOut}), auth=auth.read, summary="Your profile")
def get_account(request):
    return account_out(auth.caller(request).customer)


@router.patch("/account", response=responses({200: AccountOut}), auth=auth.write, summary="Change your profile")
def update_account(request, payload: AccountUpdateIn):
    """Change contact and billing details. The billing currency changes only while nothing was billed."""
    caller = auth.caller(request)
    changes = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    customer = update_customer_profile(caller.customer, actor=caller.user, **changes)
    return account_out(customer)
