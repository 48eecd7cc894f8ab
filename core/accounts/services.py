"""Customer accounts and API tokens: every change to them goes through these functions.

Portal views, the API, the admin and the WHMCS importer call the same functions, so a
signup always gets its welcome email, audit entry and staff alert, and a token secret
is never stored in clear.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction

from core import clock
from core.audit.services import record
from core.catalog.models import Currency
from core.notifications.services import discord_alert, send_email

from .errors import (
    ApiTokenError,
    BillingCurrencyLockedError,
    ContactError,
    EmailTakenError,
    EmailVerificationError,
    InvalidProfileError,
)
from .models import ApiToken, Contact, Customer, LoginSession, User

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
VERIFY_EMAIL_SALT = "accounts.verify-email"
VERIFY_EMAIL_MAX_AGE = dt.timedelta(days=3)
MAX_CONTACTS_PER_CUSTOMER = 20


def sign_up_customer(
    *,
    email: str,
    password: str | None,
    first_name: str = "",
    last_name: str = "",
    currency: str | Currency | None = None,
    send_welcome: bool = True,
    actor: User | None = None,
    ip_address: str | None = None,
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
    _normalise_vat_id(profile, profile.get("country", ""))
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
                    context={
                        "name": user.first_name or email,
                        "email": email,
                        "portal_url": settings.SITE_URL + "/",
                        # Self sign-ups confirm their address; imported or staff-made accounts are trusted.
                        "verify_url": email_verification_url(user) if password is not None else "",
                    },
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
            if actor is None:  # self sign-ups only: staff-made and imported accounts are trusted
                from .signup_checks import alert_if_suspicious

                alert_if_suspicious(customer, email=email, ip_address=ip_address)
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
        _normalise_vat_id(changes, changes.get("country", locked.country))
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


@functools.cache
def _active_token_sql() -> str:
    """The token with this hash (unique index) if not revoked and its user is active, with the id of the user's
    customer record, as plain SQL built once: it runs on every API request, where building it with the ORM cost
    more CPU than the rest of the request's authentication. Expiry is checked in Python, against core.clock."""
    quote = connection.ops.quote_name
    meta, user_meta, customer_meta = ApiToken._meta, User._meta, Customer._meta
    token, user, customer = quote(meta.db_table), quote(user_meta.db_table), quote(customer_meta.db_table)
    token_user = f"{token}.{quote(meta.get_field('user').column)}"
    columns = ", ".join(f"{token}.{quote(field.column)}" for field in meta.concrete_fields)
    columns += f", {customer}.{quote(customer_meta.pk.column)} AS {quote('customer_id')}"
    joins = (f"INNER JOIN {user} ON {user}.{quote(user_meta.pk.column)} = {token_user} LEFT OUTER JOIN {customer} "
             f"ON {customer}.{quote(customer_meta.get_field('user').column)} = {token_user}")  # fmt: skip
    where = (f"{token}.{quote(meta.get_field('token_hash').column)} = %s "
             f"AND {token}.{quote(meta.get_field('revoked_at').column)} IS NULL "
             f"AND {user}.{quote(user_meta.get_field('is_active').column)} = %s")  # fmt: skip
    return f"SELECT {columns} FROM {token} {joins} WHERE {where}"  # noqa: S608 (quoted names)


def authenticate_api_token(secret: str) -> ApiToken | None:
    """The active token for a presented secret, or None. Marks it used (at most once a minute).

    Read from the database on every call (no cache), so a revoked or expired token, or one whose user
    was deactivated, is refused from the next request on. `token.customer_id` is the id of the user's
    customer record (None for staff), read by the same query."""
    if not secret or not secret.startswith("ezs_"):
        return None
    found = list(ApiToken.objects.raw(_active_token_sql(), [ApiToken.hash(secret), True]))
    now = clock.now()
    token = found[0] if found else None
    if token is None or (token.expires_at is not None and token.expires_at <= now):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def email_verification_token(user: User) -> str:
    """A signed, expiring token naming the user and the address it confirms (a later address change voids it)."""
    return signing.dumps({"u": user.pk, "e": user.email}, salt=VERIFY_EMAIL_SALT, compress=True)


def email_verification_url(user: User) -> str:
    from django.urls import reverse

    return settings.SITE_URL + reverse("portal:verify_email", args=[email_verification_token(user)])


def send_verification_email(user: User) -> None:
    """Queue a fresh confirmation link (the "resend" button); each link stays valid VERIFY_EMAIL_MAX_AGE."""
    if user.email_verified_at is not None:
        return
    send_email(
        "verify_email",
        to=user.email,
        subject=f"Confirm your email address for {settings.COMPANY['name']}",
        template="welcome",
        context={
            "name": user.first_name or user.email,
            "email": user.email,
            "portal_url": settings.SITE_URL + "/",
            "verify_url": email_verification_url(user),
        },
        customer=getattr(user, "customer", None),
    )


def verify_email(token: str) -> User:
    """Mark the address in a verification token as confirmed.

    Invariants: the token was signed by us for this address, is younger than
    VERIFY_EMAIL_MAX_AGE, and the user still has that address. Verifying twice is harmless.
    """
    try:
        data = signing.loads(token, salt=VERIFY_EMAIL_SALT, max_age=VERIFY_EMAIL_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise EmailVerificationError("This confirmation link has expired. Log in and ask for a new one.") from exc
    except signing.BadSignature as exc:
        raise EmailVerificationError(
            "This confirmation link is not valid. Copy the whole link from the email."
        ) from exc
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=data.get("u")).first()
        if user is None or user.email.lower() != str(data.get("e", "")).lower():
            raise EmailVerificationError("This confirmation link is for an address that is no longer on the account.")
        if user.email_verified_at is None:
            user.email_verified_at = clock.now()
            user.save(update_fields=["email_verified_at"])
            record("user.email_verified", user, actor=user, data={"email": user.email})
    return user


def record_login_session(user: User, session_key: str, *, ip_address: str | None = None, user_agent: str = "") -> None:
    """Remember a signed-in browser so it can be listed and ended ("log out everywhere")."""
    if not session_key:
        return
    LoginSession.objects.update_or_create(
        session_key=session_key,
        defaults={"user": user, "ip_address": ip_address or None, "user_agent": (user_agent or "")[:300]},
    )


def active_login_sessions(user: User) -> list[LoginSession]:
    """The user's sessions that still exist in the session store (expired or ended ones are forgotten)."""
    store = _session_store()
    alive = []
    for login_session in LoginSession.objects.filter(user=user).order_by("-created_at"):
        if store.exists(login_session.session_key):
            alive.append(login_session)
        else:
            login_session.delete()
    return alive


def end_login_sessions(user: User, *, keep_session_key: str | None = None, actor: User | None = None) -> int:
    """Log the user out of every browser but `keep_session_key` (the one asking). Returns how many ended."""
    store = _session_store()
    ended = 0
    for login_session in LoginSession.objects.filter(user=user).exclude(session_key=keep_session_key or ""):
        store.delete(login_session.session_key)
        login_session.delete()
        ended += 1
    if ended:
        record("user.sessions_ended", user, actor=actor or user, data={"count": ended})
    return ended


def end_login_session(user: User, session_id: int, *, actor: User | None = None) -> None:
    """Log one of the user's own sessions out (another user's id changes nothing)."""
    login_session = LoginSession.objects.filter(user=user, pk=session_id).first()
    if login_session is None:
        raise InvalidProfileError("That session has already ended.")
    _session_store().delete(login_session.session_key)
    login_session.delete()
    record("user.sessions_ended", user, actor=actor or user, data={"count": 1})


def has_two_factor(user: User) -> bool:
    """True when the user has a confirmed second factor (TOTP app or passkey)."""
    from django_otp import devices_for_user

    return any(True for _ in devices_for_user(user, confirmed=True))


def start_totp_setup(user: User):
    """The user's pending authenticator-app device (created once; shown as a QR code until confirmed).

    Invariant: a customer has at most one TOTP device; it counts only once confirmed with a code.
    """
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="default", confirmed=False)
    return device


def confirm_totp_setup(user: User, token: str) -> None:
    """Turn the pending authenticator app on once the user proves it works with a current code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            raise InvalidProfileError("Start the setup again: there is no authenticator app waiting for a code.")
        if not device.verify_token((token or "").strip().replace(" ", "")):
            raise InvalidProfileError("That code is not right. Check the time on your phone and try the next code.",
                                      field="otp_token")  # fmt: skip
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        record("user.2fa_enabled", user, actor=user, data={"method": "totp"})


def disable_two_factor(user: User, *, password: str) -> None:
    """Remove every second factor after the password is re-entered (staff must keep theirs: refused)."""
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from django_otp_webauthn.models import WebAuthnCredential

    if user.is_staff:
        raise InvalidProfileError("Staff accounts must keep two-factor authentication.")
    if not user.check_password(password or ""):
        raise InvalidProfileError("That password is not right.", field="password")
    with transaction.atomic():
        for model in (TOTPDevice, StaticDevice, WebAuthnCredential):
            model.objects.filter(user=user).delete()
        record("user.2fa_disabled", user, actor=user)


def verify_second_factor(user: User, token: str):
    """The confirmed device that accepts `token` (throttled per device by django-otp), or None."""
    from django_otp import match_token

    return match_token(user, (token or "").strip().replace(" ", ""))


def _session_store():
    from importlib import import_module

    return import_module(settings.SESSION_ENGINE).SessionStore()


def add_contact(
    customer: Customer, *, name: str, email: str, receives_invoices: bool = True, actor: User | None = None
) -> Contact:
    """Add a person who hears from us on the customer's behalf.

    Invariants: a valid address, once per customer, not the account's own login address
    (that one always gets invoices), at most MAX_CONTACTS_PER_CUSTOMER.
    """
    name, email = _clean_contact(customer, name, email)
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        if customer.contacts.count() >= MAX_CONTACTS_PER_CUSTOMER:
            raise ContactError(f"You can have up to {MAX_CONTACTS_PER_CUSTOMER} contacts. Remove one first.")
        if customer.contacts.filter(email__iexact=email).exists():
            raise ContactError(f"{email} is already a contact.", field="email")
        contact = Contact.objects.create(customer=customer, name=name, email=email, receives_invoices=receives_invoices)
        record("contact.add", customer, actor=actor, data={"email": email, "receives_invoices": receives_invoices})
    return contact


def update_contact(
    contact: Contact, *, name: str, email: str, receives_invoices: bool, actor: User | None = None
) -> Contact:
    name, email = _clean_contact(contact.customer, name, email)
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        if locked.customer.contacts.filter(email__iexact=email).exclude(pk=locked.pk).exists():
            raise ContactError(f"{email} is already a contact.", field="email")
        before = {"name": locked.name, "email": locked.email, "receives_invoices": locked.receives_invoices}
        locked.name, locked.email, locked.receives_invoices = name, email, receives_invoices
        locked.save(update_fields=["name", "email", "receives_invoices"])
        record(
            "contact.update",
            locked.customer,
            actor=actor,
            before=before,
            after={"name": name, "email": email, "receives_invoices": receives_invoices},
        )
    return locked


def remove_contact(contact: Contact, *, actor: User | None = None) -> None:
    with transaction.atomic():
        record("contact.remove", contact.customer, actor=actor, data={"email": contact.email})
        contact.delete()


def invoice_recipients(customer: Customer) -> list[str]:
    """Who gets an invoice email: the account's address first, then each contact flagged "receives invoices".

    Addresses are unique case-insensitively and in a stable order (login address, then contacts by name).
    """
    recipients = [customer.user.email]
    seen = {customer.user.email.lower()}
    for email in (
        customer.contacts.filter(receives_invoices=True).order_by("name", "pk").values_list("email", flat=True)
    ):
        if email.lower() not in seen:
            seen.add(email.lower())
            recipients.append(email)
    return recipients


def _clean_contact(customer: Customer, name: str, email: str) -> tuple[str, str]:
    name, email = (name or "").strip(), (email or "").strip().lower()
    if not name:
        raise ContactError("Give the contact a name.", field="name")
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ContactError("Enter a valid email address.", field="email") from exc
    if email == customer.user.email.lower():
        raise ContactError("That is the account's own address; it always receives invoices.", field="email")
    return name[:150], email


def _normalise_vat_id(values: dict, country: str) -> None:
    """Check a VAT ID with python-stdnum and store it compact with its country prefix (DE136695976).

    A number without a prefix is read as one of the billing country. Countries stdnum has no VAT
    rules for (the US has no VAT) keep the number as typed, trimmed.
    """
    if not values.get("vat_id"):
        return
    from stdnum import vatin
    from stdnum.exceptions import ValidationError as StdnumError
    from stdnum.util import get_cc_module

    raw = re.sub(r"[\s.\-]", "", str(values["vat_id"])).upper()
    country = (country or "").upper()
    candidates = [raw] if raw[:2].isalpha() else []
    if country and not raw.startswith(country):
        prefix = {"GR": "EL"}.get(country, country)
        candidates.append(prefix + raw)
    for candidate in candidates:
        try:
            values["vat_id"] = vatin.compact(vatin.validate(candidate))
            return
        except (StdnumError, ValueError, LookupError):
            continue

    def has_vat_rules(code: str) -> bool:
        code = code[:2].lower()
        return code.isalpha() and get_cc_module({"el": "gr", "xi": "gb"}.get(code, code), "vat") is not None

    checkable = any(has_vat_rules(c) for c in candidates) or (bool(country) and has_vat_rules(country))
    if checkable:
        raise InvalidProfileError(
            f"{values['vat_id']} is not a valid VAT ID. Check the number and its country prefix (e.g. DE136695976).",
            field="vat_id",
        )
    values["vat_id"] = str(values["vat_id"]).strip()[:32]


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
