"""A real browser: sign up -> confirm the email from the outbox -> log in; billing details; an API
token created (shown once) and revoked; then every main page at a 390 px phone width with no
horizontal overflow, the menu collapsed behind its button, and no Content-Security-Policy violation.
Screenshots go to $E2E_OUTPUT_DIR (default /tmp/e2e_portal_account/).
"""

import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail

from core.accounts.models import ApiToken, User
from core.billing.services.invoices import create_draft_invoice, issue_invoice
from tests.factories import CurrencyFactory, ServiceFactory, SubscriptionFactory

SHOTS = Path(os.environ.get("E2E_OUTPUT_DIR", "/tmp/e2e_portal_account"))
PASSWORD = "a long unusual phrase 42"
PHONE_PAGES = ["/", "/services/", "/billing/invoices/", "/billing/subscriptions/", "/billing/methods/",
               "/settings/profile/", "/settings/contacts/", "/settings/security/", "/settings/tokens/"]  # fmt: skip


@pytest.fixture
def portal(settings):
    settings.PAYMENT_GATEWAYS = ["sandbox", "manual"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DISCORD_WEBHOOK_URL = ""
    SHOTS.mkdir(parents=True, exist_ok=True)
    CurrencyFactory(code="USD")
    return CurrencyFactory(code="EUR")


def optional_pages() -> list[str]:
    """Pages other parts of the portal add (ordering, support), checked at phone width once they exist."""
    from django.urls import NoReverseMatch, reverse

    found = []
    for name in ("portal:catalog", "portal:order_list", "portal:ticket_list"):
        try:
            found.append(reverse(name))
        except NoReverseMatch:
            continue
    return found


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def give_the_customer_some_history(customer) -> None:
    subscription = SubscriptionFactory(customer=customer, price__product__name="VPS 4 GB with a long product name")
    ServiceFactory(customer=customer, subscription=subscription, product=subscription.price.product,
                   hostname="a-rather-long-hostname-for-a-small-screen.customer.example.net")  # fmt: skip
    for amount in ("23.80", "1234.50"):
        draft = create_draft_invoice(
            customer,
            lines=[{"description": "VPS 4 GB (monthly)", "quantity": Decimal("1"), "unit_amount": Decimal(amount)}],
        )
        issue_invoice(draft, email=False)


@pytest.mark.django_db(transaction=True)
def test_sign_up_confirm_log_in_profile_token_and_phone_layout(live_server, browser, portal):
    csp_violations = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("dialog", lambda dialog: dialog.accept())
    base = live_server.url

    # Sign up, choosing EUR.
    page.goto(f"{base}/signup/")
    page.fill("input[name='first_name']", "Nora")
    page.fill("input[name='last_name']", "Berg")
    page.fill("input[name='email']", "nora@customer.example")
    page.fill("input[name='password']", PASSWORD)
    page.fill("input[name='country']", "DE")
    page.select_option("select[name='currency']", "EUR")
    shot(page, "01_signup")
    page.click("button:text('Create account')")
    page.wait_for_selector("h1:text('Check your email')")
    shot(page, "02_check_email")

    # The confirmation link from the outbox.
    [message] = [m for m in mail.outbox if "nora@customer.example" in m.to]
    link = re.search(r"https?://\S+?(/verify-email/\S+?/)\s", message.body + " ").group(1)
    page.goto(base + link)
    page.wait_for_selector("text=nora@customer.example is confirmed")
    user = User.objects.get(email="nora@customer.example")
    assert user.email_verified_at is not None and user.customer.currency_id == "EUR"

    # Log in.
    page.fill("input[name='username']", "nora@customer.example")
    page.fill("input[name='password']", PASSWORD)
    page.click("button:text('Log in')")
    page.wait_for_selector("h1:has-text('Welcome')")
    shot(page, "03_dashboard")

    # Billing details, with a VAT ID checked by stdnum.
    page.click("a:text('Account')")
    page.fill("input[name='company']", "Berg Hosting GmbH")
    page.fill("input[name='address_line1']", "Hauptstraße 1")
    page.fill("input[name='city']", "Berlin")
    page.fill("input[name='postal_code']", "10115")
    page.fill("input[name='vat_id']", "DE 136 695 977")
    page.click("button:text('Save details')")
    page.wait_for_selector("text=not a valid VAT ID")
    page.fill("input[name='vat_id']", "DE 136 695 976")
    page.click("button:text('Save details')")
    page.wait_for_selector("text=Your details are saved.")
    shot(page, "04_profile")
    user.customer.refresh_from_db()
    assert (user.customer.company, user.customer.vat_id) == ("Berg Hosting GmbH", "DE136695976")

    # An API token: shown once, stored hashed, then revoked.
    page.click("a:text('API tokens')")
    page.fill("input[name='name']", "terraform on ci-01")
    page.check("input[name='scopes'][value='services']")
    page.select_option("select[name='expires_in_days']", "30")
    page.click("button:text('Create token')")
    secret = page.inner_text("#new-token-secret").strip()
    shot(page, "05_token_created")
    token = ApiToken.objects.get(user=user)
    assert secret.startswith("ezs_") and token.token_hash == ApiToken.hash(secret)
    assert set(token.scopes) == {"read", "services"}
    page.goto(f"{base}/settings/tokens/")
    assert secret not in page.content()  # shown once
    page.click("button:text('Revoke')")
    page.wait_for_selector("text=is revoked")
    shot(page, "06_token_revoked")
    token.refresh_from_db()
    assert token.revoked_at is not None

    # A 390 px phone: the menu collapses, tables become cards, nothing is cut off.
    give_the_customer_some_history(user.customer)
    page.set_viewport_size({"width": 390, "height": 844})
    overflowing = {}
    customer = user.customer
    detail_pages = [
        f"/billing/invoices/{customer.invoices.first().uuid}/",
        f"/services/{customer.services.first().uuid}/",
    ]
    for path in PHONE_PAGES + detail_pages + optional_pages():
        page.goto(base + path)
        page.wait_for_load_state("load")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            overflowing[path] = width
        shot(page, "phone_" + (path.strip("/").replace("/", "_")[:40] or "home"))
    assert not overflowing, f"pages wider than the 390 px screen: {overflowing}"
    page.goto(base + "/billing/invoices/")
    assert not page.is_visible("#portal-nav a:text('Invoices')")
    page.click("button:text('Menu')")
    assert page.is_visible("#portal-nav a:text('Invoices')")
    shot(page, "phone_menu_open")
    assert page.is_visible("td[data-label='Total']:has-text('€1,234.50')")
    assert not csp_violations, csp_violations


@pytest.mark.django_db(transaction=True)
def test_customer_adds_a_passkey_and_gives_it_after_the_password(live_server, browser, portal, settings):
    """Chromium's virtual authenticator (DevTools WebAuthn domain) stands in for a phone or security key."""
    from django_otp_webauthn.models import WebAuthnCredential

    from tests.factories import CustomerFactory, UserFactory

    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    customer = CustomerFactory(user=UserFactory(email="kim@customer.example"))
    base = live_server.url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {"options": {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                     "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True}},
    )  # fmt: skip

    def log_in():
        page.goto(f"{base}/login/")
        page.fill("input[name='username']", "kim@customer.example")
        page.fill("input[name='password']", "correct horse battery")
        page.click("button:text('Log in')")

    log_in()
    page.wait_for_selector("h1:has-text('Welcome')")
    page.goto(f"{base}/settings/security/")
    page.click("#passkey-register-button")
    page.wait_for_selector("#passkey-register-status-message:has-text('successful')")
    shot(page, "passkey_added")
    assert WebAuthnCredential.objects.filter(user=customer.user, confirmed=True).exists()

    page.goto(f"{base}/logout/")
    page.click("main button:text('Log out')")
    log_in()
    page.wait_for_selector("h1:text('One more step')")  # the password alone opens nothing
    shot(page, "passkey_asked")
    page.click("#passkey-verification-button")
    page.wait_for_selector("h1:has-text('Welcome')")
    shot(page, "passkey_verified")
