"""Customer accounts and API tokens: every change to them goes through these functions.

Portal views, the API, the admin and the WHMCS importer call the same functions, so a
signup always gets its welcome email, audit entry and staff alert, and a token secret
is never stored in clear.
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from core import clock
from core.audit.services import record
from core.catalog.models import Currency
from core.notifications.services import discord_alert, send_email

from .errors import ApiTokenError, BillingCurrencyLockedError, EmailTakenError, InvalidProfileError
from .models import ApiToken, Customer, User

PROFILE_FIELDS = frozenset(
    {"company", "phone", "address_line1", "address_line2", "city", "region", "postal_code", "country",
     "shipping_same_as_billing", "shipping_line1", "shipping_line2", "shipping_city", "shipping_region",
     "shipping_postal_code", "shipping_country", "vat_id", "auto_apply_credit"}
)  # fmt: skip
STAFF_ONLY_FIELDS = frozenset({"is_tax_exempt", "status", "suspension_exempt", "extra_grace_days", "notes"})
MAX_ACTIVE_TOKENS_PER_USER = 20
# Writing last_used_at on every API call would turn each read into a write; a minute is precise enough.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def sign_up_customer(
    *,
    email: str,
    password: str | None,
    first_name: str = "",
    last_name: str = "",
    currency: str | Currency | None = None,
    send_welcome: bool = True,
    actor: User | None = None,
    **profile,
) -> Customer:
    """Create a portal user and their customer record.

    Invariants: one user per email address, case-insensitively (the database's unique
    index backs the check when two signups race); the password passes the configured
    validators; the welcome email and the staff alert are queued only once the account
    is committed. `password=None` creates an account without a usable password (imports,
    staff-created customers who set one through a reset link).
    """
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidProfileError("Enter a valid email address.", field="email") from exc
    _validate_profile(profile, allow_staff_fields=actor is not None and actor.is_staff)
    billing_currency = _currency(currency)
    if password is not None:
        candidate = User(email=email, first_name=first_name, last_name=last_name)
        try:
            validate_password(password, user=candidate)
        except ValidationError as exc:
            raise InvalidProfileError(" ".join(exc.messages), field="password") from exc
    if User.objects.filter(email__iexact=email).exists():
        raise EmailTakenError("An account with this email address already exists. Sign in or reset your password.")
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, first_name=first_name, last_name=last_name)
            customer = Customer.objects.create(user=user, currency=billing_currency, **profile)
            record("customer.signup", customer, actor=actor or user, data={"email": email})
            if send_welcome:
                send_email(
                    "welcome",
                    to=email,
                    subject=f"Welcome to {settings.COMPANY['name']}",
                    template="welcome",
                    context={"name": user.first_name or email, "email": email, "portal_url": settings.SITE_URL + "/"},
                    dedupe_key=f"welcome:{user.pk}",
                    customer=customer,
                )
            discord_alert(
                "New customer signup",
                f"**{customer.display_name}** ({email}) signed up.",
                level="success",
                fields=[("Country", customer.country or "—"), ("Currency", billing_currency.code)],
                dedupe_key=f"signup:{user.pk}",
            )
    except IntegrityError as exc:  # a concurrent signup with the same address won the race
        raise EmailTakenError(
            "An account with this email address already exists. Sign in or reset your password."
        ) from exc
    return customer


def update_customer_profile(customer: Customer, *, actor: User | None = None, **changes) -> Customer:
    """Change a customer's profile and record before/after in the audit log.

    Invariants: customers may change only their own contact and address fields (staff
    also the policy fields); the billing currency changes only while the customer has no
    invoices or subscriptions, because issued amounts and the credit ledger are per currency.
    """
    is_staff = actor is not None and actor.is_staff
    currency = changes.pop("currency", None)
    _validate_profile(changes, allow_staff_fields=is_staff)
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        before, after = {}, {}
        for name, value in changes.items():
            if getattr(locked, name) != value:
                before[name], after[name] = getattr(locked, name), value
                setattr(locked, name, value)
        if currency is not None:
            new_currency = _currency(currency)
            if new_currency.pk != locked.currency_id:
                if locked.invoices.exists() or locked.subscriptions.exists():
                    raise BillingCurrencyLockedError(
                        "The billing currency cannot change once the customer has invoices or subscriptions. "
                        "Create a new customer account for the other currency."
                    )
                before["currency"], after["currency"] = locked.currency_id, new_currency.pk
                locked.currency = new_currency
        if not after:
            return locked
        locked.save()
        record("customer.update", locked, actor=actor, before=_jsonable(before), after=_jsonable(after))
    return locked


def create_api_token(
    user: User,
    *,
    name: str,
    scopes: list[str] | tuple[str, ...] = ("read",),
    expires_at: dt.datetime | None = None,
    actor: User | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token and return it with its secret, which is shown once and never stored.

    Invariants: only the SHA-256 of the secret is kept; scopes are a subset of
    ApiToken.SCOPES; a user has at most MAX_ACTIVE_TOKENS_PER_USER active tokens.
    """
    name = (name or "").strip()
    if not name:
        raise ApiTokenError("Give the token a name so you can recognise it later.", field="name")
    unknown = sorted(set(scopes) - set(ApiToken.SCOPES))
    if unknown or not scopes:
        raise ApiTokenError(
            f"Choose scopes among {', '.join(ApiToken.SCOPES)}"
            + (f" (unknown: {', '.join(unknown)})." if unknown else "."),
            field="scopes",
        )
    if expires_at is not None and expires_at <= clock.now():
        raise ApiTokenError("The expiry date must be in the future.", field="expires_at")
    secret = ApiToken.generate_secret()
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # serialises the count check per user
        if ApiToken.objects.filter(ApiToken.active_q(), user=user).count() >= MAX_ACTIVE_TOKENS_PER_USER:
            raise ApiTokenError(
                f"You already have {MAX_ACTIVE_TOKENS_PER_USER} active tokens. Revoke one you no longer use."
            )
        token = ApiToken.objects.create(
            user=user,
            name=name[:100],
            prefix=secret[:12],
            token_hash=ApiToken.hash(secret),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
        )
        record("api_token.create", token, actor=actor or user, data={"scopes": token.scopes, "prefix": token.prefix})
    return token, secret


def revoke_api_token(token: ApiToken, *, actor: User | None = None) -> ApiToken:
    """Revoke a token at once. Revoking a revoked token changes nothing (and records nothing)."""
    with transaction.atomic():
        locked = ApiToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at = clock.now()
        locked.save(update_fields=["revoked_at"])
        record("api_token.revoke", locked, actor=actor, data={"prefix": locked.prefix})
    return locked


def authenticate_api_token(secret: str) -> ApiToken | None:
    """The active token for a presented secret, or None. Marks it used (at most once a minute)."""
    if not secret or not secret.startswith("ezs_"):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(ApiToken.active_q(), token_hash=ApiToken.hash(secret), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = clock.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def _currency(value: str | Currency | None) -> Currency:
    code = (value.code if isinstance(value, Currency) else value or settings.DEFAULT_CURRENCY).upper()
    found = Currency.objects.filter(code=code, is_active=True).first()
    if found is None:
        raise InvalidProfileError(f"{code} is not a currency we bill in.", field="currency")
    return found


def _validate_profile(values: dict, *, allow_staff_fields: bool) -> None:
    allowed = PROFILE_FIELDS | (STAFF_ONLY_FIELDS if allow_staff_fields else frozenset())
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise InvalidProfileError(f"These fields cannot be changed here: {', '.join(unknown)}.", field=unknown[0])
    for name in ("country", "shipping_country"):
        if values.get(name):
            values[name] = str(values[name]).strip().upper()
            if not _COUNTRY.match(values[name]):
                raise InvalidProfileError("Use a two-letter country code such as US, DE or GB.", field=name)


def _jsonable(values: dict) -> dict:
    return {k: v if isinstance(v, str | int | bool | float | type(None)) else str(v) for k, v in values.items()}
