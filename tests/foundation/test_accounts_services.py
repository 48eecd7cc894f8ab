"""Customer signup, profile changes and API tokens go through core.accounts.services."""

import datetime as dt

import pytest
from django.core import mail

from core import clock
from core.accounts import services
from core.accounts.errors import ApiTokenError, BillingCurrencyLockedError, EmailTakenError, InvalidProfileError
from core.accounts.models import ApiToken, Customer
from core.audit.models import AuditLog
from core.notifications.models import Notification
from tests.factories import CurrencyFactory, CustomerFactory, InvoiceFactory, StaffUserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "Blue-Heron-Lantern-42"


@pytest.fixture(autouse=True)
def _currencies(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    CurrencyFactory(code="USD")
    CurrencyFactory(code="EUR")


def test_signup_creates_customer_sends_one_welcome_email_and_audits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        customer = services.sign_up_customer(
            email="Jane.Doe@Example.com", password=PASSWORD, first_name="Jane", last_name="Doe",
            currency="EUR", country="de", city="Berlin",
        )  # fmt: skip
    assert customer.user.email == "jane.doe@example.com"
    assert customer.user.check_password(PASSWORD)
    assert (customer.currency_id, customer.country, customer.city) == ("EUR", "DE", "Berlin")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["jane.doe@example.com"]
    assert "Welcome" in mail.outbox[0].subject
    assert "jane.doe@example.com" in mail.outbox[0].body
    assert Notification.objects.get(event="welcome").status == "sent"
    assert AuditLog.objects.filter(action="customer.signup", object_id=str(customer.pk)).exists()


def test_signup_refuses_an_email_already_used_in_any_case():
    services.sign_up_customer(email="taken@example.com", password=PASSWORD, send_welcome=False)
    with pytest.raises(EmailTakenError) as exc:
        services.sign_up_customer(email="TAKEN@example.com", password=PASSWORD)
    assert exc.value.field == "email"
    assert Customer.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"currency": "XYZ"}, "currency"),
        ({"country": "Germany"}, "country"),
        ({"status": "banned"}, "status"),  # a customer cannot set staff-only fields
    ],
)
def test_signup_rejects_invalid_input_with_the_field_at_fault(kwargs, field):
    data = {"email": "new@example.com", "password": PASSWORD, **kwargs}
    with pytest.raises(InvalidProfileError) as exc:
        services.sign_up_customer(**data)
    assert exc.value.field == field
    assert not Customer.objects.exists()


def test_update_profile_records_before_and_after():
    customer = CustomerFactory(city="Leeds", country="GB")
    services.update_customer_profile(customer, city="York", phone="+44 1904 000000", actor=customer.user)
    customer.refresh_from_db()
    assert customer.city == "York"
    entry = AuditLog.objects.get(action="customer.update")
    assert entry.before == {"city": "Leeds", "phone": ""}
    assert entry.after == {"city": "York", "phone": "+44 1904 000000"}


def test_update_profile_without_changes_records_nothing():
    customer = CustomerFactory(city="Leeds")
    services.update_customer_profile(customer, city="Leeds")
    assert not AuditLog.objects.filter(action="customer.update").exists()


def test_customer_cannot_change_staff_fields_but_staff_can():
    customer = CustomerFactory()
    with pytest.raises(InvalidProfileError):
        services.update_customer_profile(customer, suspension_exempt=True, actor=customer.user)
    services.update_customer_profile(customer, suspension_exempt=True, actor=StaffUserFactory())
    customer.refresh_from_db()
    assert customer.suspension_exempt is True


def test_billing_currency_is_locked_once_the_customer_has_invoices():
    customer = CustomerFactory()
    services.update_customer_profile(customer, currency="EUR")
    customer.refresh_from_db()
    assert customer.currency_id == "EUR"
    InvoiceFactory(customer=customer)
    with pytest.raises(BillingCurrencyLockedError):
        services.update_customer_profile(customer, currency="USD")


def test_api_token_secret_is_returned_once_and_only_its_hash_is_stored():
    user = CustomerFactory().user
    token, secret = services.create_api_token(user, name="CI deploy", scopes=["read", "services"])
    assert secret.startswith("ezs_")
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.token_hash == ApiToken.hash(secret) and secret not in stored.token_hash
    assert stored.prefix == secret[:12]
    assert stored.scopes == ["read", "services"]
    assert services.authenticate_api_token(secret) == stored
    assert services.authenticate_api_token(secret + "x") is None


def test_revoked_or_expired_tokens_stop_authenticating():
    user = CustomerFactory().user
    token, secret = services.create_api_token(user, name="laptop")
    services.revoke_api_token(token, actor=user)
    assert services.authenticate_api_token(secret) is None
    services.revoke_api_token(token, actor=user)  # revoking again changes nothing
    assert AuditLog.objects.filter(action="api_token.revoke").count() == 1

    short, short_secret = services.create_api_token(
        user, name="short-lived", expires_at=clock.now() + dt.timedelta(hours=1)
    )
    with clock.frozen_at(clock.now() + dt.timedelta(hours=2)):
        assert services.authenticate_api_token(short_secret) is None


def test_token_of_a_deactivated_user_does_not_authenticate():
    user = CustomerFactory().user
    _, secret = services.create_api_token(user, name="old")
    user.is_active = False
    user.save()
    assert services.authenticate_api_token(secret) is None


@pytest.mark.parametrize(("name", "scopes"), [("", ["read"]), ("x", ["root"]), ("x", [])])
def test_api_token_needs_a_name_and_known_scopes(name, scopes):
    with pytest.raises(ApiTokenError):
        services.create_api_token(CustomerFactory().user, name=name, scopes=scopes)


def test_active_token_count_is_limited(monkeypatch):
    monkeypatch.setattr(services, "MAX_ACTIVE_TOKENS_PER_USER", 2)
    user = CustomerFactory().user
    first, _ = services.create_api_token(user, name="a")
    services.create_api_token(user, name="b")
    with pytest.raises(ApiTokenError):
        services.create_api_token(user, name="c")
    services.revoke_api_token(first)
    services.create_api_token(user, name="c")
