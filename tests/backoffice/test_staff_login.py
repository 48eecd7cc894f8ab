"""Staff sign-in: password then a second factor before any admin page; lockout; passkeys."""

import base64
import importlib

import pytest
from axes.models import AccessAttempt
from django.test import override_settings
from django.urls import clear_url_caches, reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from core.notifications.models import Notification
from tests.conftest import MODEL_BACKEND
from tests.factories import StaffUserFactory

PASSWORD = "correct horse battery"  # tests.factories.UserFactory


def _password_step(client, email, password, follow=False):
    return client.post(
        reverse("two_factor:login"),
        {"login_view-current_step": "auth", "auth-username": email, "auth-password": password},
        REMOTE_ADDR="198.51.100.7",
        follow=follow,
    )


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):0{device.digits}d}"


@pytest.fixture
def totp_staff(db):
    user = StaffUserFactory()
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    return user, device


def test_login_page_renders_in_unfold_layout(client, db):
    response = client.get(reverse("two_factor:login"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="auth-username"' in body
    assert "EZSCALE" in body
    assert "unfold" in body.lower()  # Unfold's stylesheet, not two-factor's Bootstrap placeholders
    assert "btn btn-primary" not in body


def test_totp_wizard_login_ends_on_admin_index(client, totp_staff):
    user, device = totp_staff
    response = _password_step(client, user.email, PASSWORD)
    assert response.status_code == 200
    assert 'name="token-otp_token"' in response.content.decode()
    response = client.post(
        reverse("two_factor:login"),
        {"login_view-current_step": "token", "token-otp_token": _code(device)},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("admin:index")
    assert response.status_code == 200
    assert response.wsgi_request.user.is_verified()


def test_wrong_totp_code_keeps_the_user_out(client, totp_staff):
    user, device = totp_staff
    _password_step(client, user.email, PASSWORD)
    wrong = f"{(int(_code(device)) + 1) % 1_000_000:06d}"
    response = client.post(reverse("two_factor:login"), {"login_view-current_step": "token", "token-otp_token": wrong})
    assert response.status_code == 200
    assert "token-otp_token" in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302


def test_backup_code_completes_login(client, totp_staff):
    user, _ = totp_staff
    static = StaticDevice.objects.create(user=user, name="backup")
    static.token_set.create(token="abcd1234")
    _password_step(client, user.email, PASSWORD)
    client.post(reverse("two_factor:login"), {"login_view-current_step": "token", "wizard_goto_step": "backup"})
    response = client.post(
        reverse("two_factor:login"), {"login_view-current_step": "backup", "backup-otp_token": "abcd1234"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("admin:index")
    assert not static.token_set.filter(token="abcd1234").exists()


def test_unverified_staff_is_redirected_away_from_admin(client, totp_staff):
    user, _ = totp_staff
    client.force_login(user, backend=MODEL_BACKEND)
    response = client.get(reverse("admin:billing_invoice_changelist"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("two_factor:login"))
    assert 'name="auth-username"' in response.content.decode()


def test_customer_cannot_reach_admin_even_verified(client, customer):
    client.force_login(customer.user, backend=MODEL_BACKEND)
    device = TOTPDevice.objects.create(user=customer.user, name="default", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    response = client.get(reverse("admin:index"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("two_factor:login"))


def _setup_generator_step(client):
    """Post the welcome step; the response is the generator step with the QR code."""
    return client.post(reverse("two_factor:setup"), {"backoffice_setup_view-current_step": "welcome"})


def test_staff_without_device_is_sent_to_setup_with_qr(client, db):
    user = StaffUserFactory()
    response = _password_step(client, user.email, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("two_factor:setup")
    page = _setup_generator_step(client).content.decode()
    assert reverse("two_factor:qr") in page
    qr = client.get(reverse("two_factor:qr"))
    assert qr.status_code == 200
    assert qr["Content-Type"].startswith("image/svg")


def test_totp_setup_wizard_enrols_a_device_and_backup_codes_render(client, db):
    user = StaffUserFactory()
    client.force_login(user, backend=MODEL_BACKEND)
    page = _setup_generator_step(client).content.decode()
    key = client.session["django_two_factor-qr_secret_key"]
    assert key in page  # the secret is shown for manual entry
    device = TOTPDevice(key=base64.b32decode(key).hex(), user=user)
    response = client.post(
        reverse("two_factor:setup"),
        {"backoffice_setup_view-current_step": "generator", "generator-token": _code(device)},
    )
    assert response.status_code == 302
    assert TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert client.get(reverse("two_factor:setup_complete")).status_code == 200
    client.post(reverse("two_factor:backup_tokens"))
    page = client.get(reverse("two_factor:backup_tokens")).content.decode()
    assert 'id="backup-codes"' in page
    tokens = StaticDevice.objects.get(user=user).token_set.all()
    assert tokens.count() == 10
    assert all(t.token in page for t in tokens)


def test_passkey_user_goes_to_passkey_verification_after_password(client, db):
    user = StaffUserFactory()
    WebAuthnCredential.objects.create(
        user=user, name="YubiKey", credential_id=b"cred", public_key=b"key", transports=[], confirmed=True,
        aaguid="00000000-0000-0000-0000-000000000000", credential_id_sha256="b" * 64,
    )  # fmt: skip
    response = _password_step(client, user.email, PASSWORD)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("backoffice_passkey_verify"))
    page = client.get(response["Location"])
    body = page.content.decode()
    assert 'id="passkey-verification-placeholder"' in body
    assert reverse("otp_webauthn:credential-authentication-begin") in body
    assert client.get(reverse("admin:index")).status_code == 302  # not verified yet


def test_verified_staff_can_open_passkey_registration(staff_client):
    body = staff_client.get(reverse("backoffice_passkey_register")).content.decode()
    assert 'id="passkey-registration-placeholder"' in body
    assert reverse("otp_webauthn:credential-registration-begin") in body


def test_unverified_staff_with_a_device_cannot_register_a_passkey(client, totp_staff):
    user, _ = totp_staff
    client.force_login(user, backend=MODEL_BACKEND)
    assert client.get(reverse("backoffice_passkey_register")).status_code == 403


def test_account_security_page_renders(staff_client):
    assert staff_client.get(reverse("two_factor:profile")).status_code == 200


@override_settings(
    AXES_ENABLED=True, AXES_FAILURE_LIMIT=3, DISCORD_WEBHOOK_URL="https://discord.invalid/api/webhooks/1/x"
)
def test_repeated_failures_lock_out_with_429_and_alert_staff(client, totp_staff, monkeypatch):
    monkeypatch.setattr("core.notifications.services._enqueue", lambda *args: None)
    user, _ = totp_staff
    statuses = [_password_step(client, user.email, "wrong password").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert _password_step(client, user.email, PASSWORD).status_code == 429
    assert AccessAttempt.objects.filter(username=user.email).exists()
    assert Notification.objects.filter(channel="discord", subject="Staff account locked out").count() == 1


@override_settings(
    AXES_ENABLED=True, AXES_FAILURE_LIMIT=3, DISCORD_WEBHOOK_URL="https://discord.invalid/api/webhooks/1/x"
)
def test_customer_lockout_sends_no_staff_alert(client, customer, monkeypatch):
    monkeypatch.setattr("core.notifications.services._enqueue", lambda *args: None)
    for _ in range(3):
        _password_step(client, customer.user.email, "wrong password")
    assert _password_step(client, customer.user.email, PASSWORD).status_code == 429
    assert not Notification.objects.filter(subject="Staff account locked out").exists()


def test_admin_lives_at_admin_path_setting(settings, staff_client):
    settings.ADMIN_PATH = "staff-7f3a/"
    import core.urls

    try:
        clear_url_caches()
        importlib.reload(core.urls)
        assert reverse("admin:index") == "/staff-7f3a/"
        assert staff_client.get("/staff-7f3a/").status_code == 200
        assert staff_client.get("/admin/").status_code == 404
    finally:
        settings.ADMIN_PATH = "admin/"
        importlib.reload(core.urls)
        clear_url_caches()
    assert reverse("admin:index") == "/" + settings.ADMIN_PATH
