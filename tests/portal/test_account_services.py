"""core.accounts.services for the portal's account pages: email verification, VAT IDs, currency lock,
contacts who receive invoices, sessions and second factors."""

import datetime as dt

import pytest
from django.core import signing
from django.test import override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import clock
from core.accounts import services
from core.accounts.errors import (
    BillingCurrencyLockedError,
    ContactError,
    EmailVerificationError,
    InvalidProfileError,
)
from core.accounts.models import Contact, LoginSession
from core.notifications.models import Notification
from tests.factories import CurrencyFactory, CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def currencies():
    return CurrencyFactory(code="USD"), CurrencyFactory(code="EUR")


def signup(**extra):
    values = {"email": "Ana@Example.com", "password": "a long unusual passphrase", "first_name": "Ana"}
    values.update(extra)
    return services.sign_up_customer(**values)


def test_sign_up_sends_a_verification_link_that_confirms_the_address(currencies, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        customer = signup(currency="EUR")
    assert customer.currency_id == "EUR"
    assert customer.user.email_verified_at is None
    welcome = Notification.objects.get(event="welcome")
    assert welcome.recipient == "ana@example.com"
    token = services.email_verification_token(customer.user)
    user = services.verify_email(token)
    assert user.email_verified_at is not None
    first = user.email_verified_at
    assert services.verify_email(token).email_verified_at == first  # twice is harmless


def test_verification_link_is_refused_when_tampered_expired_or_for_an_old_address(currencies):
    customer = signup()
    token = services.email_verification_token(customer.user)
    with pytest.raises(EmailVerificationError, match="not valid"):
        services.verify_email(token[:-2] + "xx")
    customer.user.email = "new@example.com"
    customer.user.save()
    with pytest.raises(EmailVerificationError, match="no longer on the account"):
        services.verify_email(token)
    old = signing.dumps({"u": customer.user.pk, "e": "new@example.com"}, salt=services.VERIFY_EMAIL_SALT)
    with override_settings():
        import time

        real = time.time
        try:
            time.time = lambda: real() + services.VERIFY_EMAIL_MAX_AGE.total_seconds() + 60
            with pytest.raises(EmailVerificationError, match="expired"):
                services.verify_email(old)
        finally:
            time.time = real
    customer.user.refresh_from_db()
    assert customer.user.email_verified_at is None


@pytest.mark.parametrize(
    ("country", "typed", "stored"),
    [("DE", "DE 136 695 976", "DE136695976"), ("DE", "136695976", "DE136695976"), ("US", "12-3456789", "12-3456789")],
)
def test_vat_id_is_checked_with_stdnum_and_stored_compact(currencies, country, typed, stored):
    customer = signup(country=country, vat_id=typed)
    assert customer.vat_id == stored


def test_invalid_vat_id_is_refused_and_nothing_changes(currencies):
    customer = CustomerFactory(country="DE", vat_id="")
    with pytest.raises(InvalidProfileError, match="not a valid VAT ID") as caught:
        services.update_customer_profile(customer, actor=customer.user, vat_id="DE136695977", city="Bonn")
    assert caught.value.field == "vat_id"
    customer.refresh_from_db()
    assert (customer.vat_id, customer.city) != ("DE136695977", "Bonn")


def test_currency_chosen_at_sign_up_is_fixed_once_an_invoice_exists(currencies):
    customer = signup(currency="USD")
    services.update_customer_profile(customer, actor=customer.user, currency="EUR")  # no invoice yet: allowed
    customer.refresh_from_db()
    assert customer.currency_id == "EUR"
    InvoiceFactory(customer=customer, currency=customer.currency)
    with pytest.raises(BillingCurrencyLockedError):
        services.update_customer_profile(customer, actor=customer.user, currency="USD")
    customer.refresh_from_db()
    assert customer.currency_id == "EUR"


def test_invoice_recipients_are_the_account_then_contacts_flagged_for_invoices(currencies):
    customer = CustomerFactory(user__email="owner@example.com")
    services.add_contact(customer, name="Zed Books", email="Books@Example.com")
    services.add_contact(customer, name="Amy Ops", email="ops@example.com", receives_invoices=False)
    services.add_contact(customer, name="Ada Finance", email="finance@example.com")
    assert services.invoice_recipients(customer) == ["owner@example.com", "finance@example.com", "books@example.com"]


def test_contacts_refuse_duplicates_the_account_address_and_bad_addresses(currencies):
    customer = CustomerFactory(user__email="owner@example.com")
    services.add_contact(customer, name="Books", email="books@example.com")
    for name, email, field in [
        ("Again", "BOOKS@example.com", "email"),
        ("Me", "owner@example.com", "email"),
        ("Bad", "not-an-email", "email"),
        ("", "x@example.com", "name"),
    ]:
        with pytest.raises(ContactError) as caught:
            services.add_contact(customer, name=name, email=email)
        assert caught.value.field == field
    assert Contact.objects.filter(customer=customer).count() == 1


def test_log_out_everywhere_ends_every_other_session_in_the_store(client, currencies):
    from importlib import import_module

    from django.conf import settings

    customer = CustomerFactory()
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = []
    for _ in range(3):
        session = store()
        session["x"] = 1
        session.create()
        keys.append(session.session_key)
        services.record_login_session(customer.user, session.session_key, ip_address="198.51.100.7")
    assert len(services.active_login_sessions(customer.user)) == 3
    assert services.end_login_sessions(customer.user, keep_session_key=keys[0]) == 2
    assert [s.session_key for s in services.active_login_sessions(customer.user)] == [keys[0]]
    assert store().exists(keys[0]) and not store().exists(keys[1]) and not store().exists(keys[2])


def test_totp_is_on_only_after_a_correct_code_and_off_only_with_the_password(currencies):
    customer = CustomerFactory()
    user = customer.user
    device = services.start_totp_setup(user)
    assert services.start_totp_setup(user).pk == device.pk
    assert not services.has_two_factor(user)
    with pytest.raises(InvalidProfileError, match="not right"):
        services.confirm_totp_setup(user, "000000" if totp(device.bin_key) != 0 else "111111")
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    services.confirm_totp_setup(user, code)
    assert services.has_two_factor(user)
    with pytest.raises(InvalidProfileError, match="password"):
        services.disable_two_factor(user, password="wrong")
    assert services.has_two_factor(user)
    services.disable_two_factor(user, password="correct horse battery")
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_login_records_the_session_for_the_sessions_list(client, currencies):
    customer = CustomerFactory()
    client.force_login(customer.user, backend="django.contrib.auth.backends.ModelBackend")
    assert LoginSession.objects.filter(user=customer.user, session_key=client.session.session_key).exists()


def test_api_token_expiry_must_be_in_the_future(currencies):
    from core.accounts.errors import ApiTokenError

    customer = CustomerFactory()
    with pytest.raises(ApiTokenError):
        services.create_api_token(customer.user, name="ci", scopes=["read"], expires_at=clock.now() - dt.timedelta(1))
