"""The portal's account pages: sign up -> confirm -> log in, throttled logins, the second factor,
sessions, profile, contacts, API tokens, password reset; CSRF and CSP on them."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.accounts.models import ApiToken, Contact, LoginSession, User
from tests.factories import CurrencyFactory, CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DISCORD_WEBHOOK_URL = ""
    CurrencyFactory(code="USD")
    CurrencyFactory(code="EUR")


def code_for(device) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"


def test_sign_up_then_confirm_from_the_email_then_log_in(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("portal:signup"),
            {"first_name": "Ana", "last_name": "Lopez", "email": "ana@example.com", "password": "a long unusual phrase",
             "company": "", "country": "de", "currency": "EUR"},
        )  # fmt: skip
    assert response.status_code == 302 and response["Location"] == reverse("portal:signup_done")
    user = User.objects.get(email="ana@example.com")
    assert user.customer.currency_id == "EUR" and user.customer.country == "DE"
    assert user.email_verified_at is None
    [message] = mail.outbox
    link = re.search(r"https?://\S+/verify-email/\S+/", message.body).group(0)
    response = client.get(link.split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email_verified_at is not None
    response = client.post(
        reverse("portal:login"), {"username": "ana@example.com", "password": "a long unusual phrase"}
    )
    assert response.status_code == 302
    assert client.get(reverse("portal:home")).status_code == 200


def test_sign_up_errors_are_shown_on_the_field_and_nothing_is_created(client):
    CustomerFactory(user__email="taken@example.com")
    response = client.post(
        reverse("portal:signup"),
        {"first_name": "A", "last_name": "B", "email": "taken@example.com", "password": "a long unusual phrase",
         "country": "US", "currency": "USD"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert User.objects.filter(email="taken@example.com").count() == 1


def test_bad_verification_link_says_why(client):
    response = client.get(reverse("portal:verify_email", args=["nonsense"]))
    assert response.status_code == 400
    assert "not valid" in response.content.decode()


def test_repeated_wrong_passwords_lock_the_login_with_a_clear_message(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    CustomerFactory(user__email="jo@example.com")
    statuses = [
        client.post(reverse("portal:login"), {"username": "jo@example.com", "password": "wrong"}).status_code
        for _ in range(3)
    ]
    assert statuses[:2] == [200, 200] and statuses[2] == 429
    response = client.post(reverse("portal:login"), {"username": "jo@example.com", "password": PASSWORD})
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many failed attempts" in body and "reset your password" in body
    assert "_auth_user_id" not in client.session


def test_customer_with_an_authenticator_app_gives_a_code_before_any_page(client):
    customer = CustomerFactory()
    device = TOTPDevice.objects.create(user=customer.user, name="default", confirmed=True)
    response = client.post(reverse("portal:login"), {"username": customer.user.email, "password": PASSWORD})
    assert response.status_code == 302
    response = client.get(reverse("portal:invoice_list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login_verify"))
    assert client.post(reverse("portal:login_verify"), {"otp_token": "000000"}).status_code == 200
    assert client.get(reverse("portal:home")).status_code == 302  # a wrong code lets nothing through
    device.refresh_from_db()
    device.throttle_reset()  # django-otp makes the next try wait after a failure; the test does not
    response = client.post(
        reverse("portal:login_verify"), {"otp_token": code_for(device), "next": reverse("portal:invoice_list")}
    )
    assert response.status_code == 302 and response["Location"] == reverse("portal:invoice_list")
    assert client.get(reverse("portal:invoice_list")).status_code == 200


def test_totp_setup_page_turns_two_factor_on_with_a_code(client):
    customer = CustomerFactory()
    client.force_login(customer.user, backend=MODEL_BACKEND)
    page = client.get(reverse("portal:totp_setup"))
    assert page.status_code == 200 and "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=customer.user)
    response = client.post(reverse("portal:totp_setup"), {"otp_token": code_for(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(reverse("portal:security")).status_code == 200  # verified in this session


def test_log_out_everywhere_ends_other_browsers_but_not_this_one(client):
    customer = CustomerFactory()
    other = Client()
    other.force_login(customer.user, backend=MODEL_BACKEND)
    client.force_login(customer.user, backend=MODEL_BACKEND)
    assert other.get(reverse("portal:home")).status_code == 200
    page = client.get(reverse("portal:security")).content.decode()
    assert "This browser" in page and "Log out everywhere else" in page
    client.post(reverse("portal:sessions_end_all"))
    assert other.get(reverse("portal:home")).status_code == 302  # logged out
    assert client.get(reverse("portal:home")).status_code == 200
    assert LoginSession.objects.filter(user=customer.user).count() == 1


def test_profile_saves_billing_details_and_refuses_a_bad_vat_id(customer_client, customer):
    data = {"company": "Acme GmbH", "phone": "", "address_line1": "Hauptstr. 1", "address_line2": "", "city": "Berlin",
            "region": "", "postal_code": "10115", "country": "DE", "vat_id": "DE136695976", "currency": "USD"}  # fmt: skip
    assert customer_client.post(reverse("portal:profile"), data).status_code == 302
    customer.refresh_from_db()
    assert (customer.company, customer.vat_id) == ("Acme GmbH", "DE136695976")
    response = customer_client.post(reverse("portal:profile"), {**data, "vat_id": "DE000000000", "city": "Bonn"})
    assert response.status_code == 200 and "not a valid VAT ID" in response.content.decode()
    customer.refresh_from_db()
    assert customer.city == "Berlin"


def test_currency_select_is_disabled_with_the_reason_once_an_invoice_exists(customer_client, customer):
    InvoiceFactory(customer=customer, currency=customer.currency)
    page = customer_client.get(reverse("portal:profile")).content.decode()
    assert "Fixed: you already have invoices" in page
    assert re.search(r'<select name="currency"[^>]*disabled', page)


def test_contacts_page_adds_edits_and_removes_invoice_recipients(customer_client, customer):
    customer_client.post(
        reverse("portal:contacts"), {"name": "Books", "email": "books@example.com", "receives_invoices": "on"}
    )
    contact = Contact.objects.get(customer=customer)
    assert contact.receives_invoices
    customer_client.post(
        reverse("portal:contact_edit", args=[contact.pk]), {"name": "Books", "email": "books@example.com"}
    )
    contact.refresh_from_db()
    assert not contact.receives_invoices
    customer_client.post(reverse("portal:contact_remove", args=[contact.pk]))
    assert not Contact.objects.filter(customer=customer).exists()


def test_api_token_secret_is_shown_once_stored_hashed_and_revocable(customer_client, customer):
    response = customer_client.post(
        reverse("portal:tokens"), {"name": "terraform", "scopes": ["read", "services"], "expires_in_days": "30"}
    )
    body = response.content.decode()
    secret = re.search(r'id="new-token-secret">(ezs_[^<]+)<', body).group(1)
    token = ApiToken.objects.get(user=customer.user)
    assert token.token_hash == ApiToken.hash(secret) and secret not in str(token.__dict__)
    assert token.scopes == ["read", "services"] and token.expires_at is not None
    assert response["Cache-Control"] == "no-store"
    assert secret not in customer_client.get(reverse("portal:tokens")).content.decode()
    customer_client.post(reverse("portal:token_revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None and not token.is_active


def test_password_reset_sends_a_link_that_sets_a_new_password(client, django_capture_on_commit_callbacks):
    customer = CustomerFactory(user__email="reset@example.com")
    with django_capture_on_commit_callbacks(execute=True):  # the outbox sends after commit
        client.post(reverse("portal:password_reset"), {"email": "reset@example.com"})
    [message] = mail.outbox
    path = re.search(r"https?://[^/\s]+(/password-reset/\S+/)", message.body).group(1)
    response = client.get(path, follow=True)
    form_url = response.redirect_chain[-1][0]
    client.post(form_url, {"new_password1": "another long phrase 42", "new_password2": "another long phrase 42"})
    customer.user.refresh_from_db()
    assert customer.user.check_password("another long phrase 42")


def test_logout_needs_a_post(customer_client):
    assert customer_client.get(reverse("portal:logout")).status_code == 200
    assert "_auth_user_id" in customer_client.session
    customer_client.post(reverse("portal:logout"))
    assert "_auth_user_id" not in customer_client.session


def test_portal_pages_send_a_strict_csp_and_forms_need_csrf(customer, settings):
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer.user, backend=MODEL_BACKEND)
    response = client.get(reverse("portal:tokens"))
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self' 'nonce-" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert client.post(reverse("portal:tokens"), {"name": "x", "scopes": ["read"]}).status_code == 403
    assert not ApiToken.objects.exists()


def test_logging_out_removes_the_session_from_the_list(customer_client, customer):
    assert LoginSession.objects.filter(user=customer.user).count() == 1
    customer_client.post(reverse("portal:logout"))
    assert not LoginSession.objects.filter(user=customer.user).exists()
