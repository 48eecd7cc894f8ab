"""A real browser: a customer logs in, opens an open invoice and pays it with the sandbox gateway.

Card 4242 pays at once; card 3155 asks for 3-D Secure, which the sandbox challenge page approves.
Screenshots of each billing page land in /tmp/portal_*.png for a human to look at.
"""

from decimal import Decimal

import pytest

from core.billing.models import Invoice
from core.billing.services import methods
from core.billing.services.invoices import create_draft_invoice, issue_invoice
from tests.factories import CurrencyFactory, CustomerFactory, SubscriptionFactory, UserFactory


@pytest.fixture
def sandbox_only(settings):
    settings.PAYMENT_GATEWAYS = ["sandbox", "manual"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DISCORD_WEBHOOK_URL = ""


def open_invoice(customer, description: str, amount: str) -> Invoice:
    draft = create_draft_invoice(
        customer, lines=[{"description": description, "quantity": Decimal("1"), "unit_amount": Decimal(amount)}]
    )
    return issue_invoice(draft, email=False)


def log_in(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill('input[name="username"]', email)
    page.fill('input[name="password"]', "correct horse battery")
    page.click('button[type="submit"]')
    page.wait_for_selector("text=Welcome")


def pay_with_card(page, base_url: str, invoice: Invoice, card: str, shot: str = "", save: bool = False) -> None:
    page.goto(f"{base_url}/billing/invoices/")
    page.click(f"a:text-is('{invoice.number}')")
    page.wait_for_selector(f"h1:has-text('Invoice {invoice.number}')")
    page.click("a:text('Pay now')")
    page.wait_for_selector("input[name='card_number']")
    if shot:
        page.screenshot(path=shot, full_page=True)
    page.fill("input[name='card_number']", card)
    if save:
        page.check("input[name='save_method']")
    page.click("button:text('Pay with this card')")


@pytest.mark.django_db(transaction=True)
def test_customer_pays_an_open_invoice_by_card_and_with_3d_secure(live_server, browser, sandbox_only):
    usd = CurrencyFactory(code="USD")
    customer = CustomerFactory(user=UserFactory(email="jane@customer.example", first_name="Jane"), currency=usd)
    first = open_invoice(customer, "VPS 4 GB (monthly)", "23.80")
    second = open_invoice(customer, "Game server 8 GB (monthly)", "31.50")
    sub = SubscriptionFactory(customer=customer, price__currency=usd, price__product__name="VPS 4 GB")

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, live_server.url, "jane@customer.example")
    page.goto(f"{live_server.url}/billing/invoices/")
    page.screenshot(path="/tmp/portal_invoice_list.png", full_page=True)

    # 4242: paid straight away.
    pay_with_card(page, live_server.url, first, "4242 4242 4242 4242", shot="/tmp/portal_invoice_pay.png", save=True)
    page.wait_for_selector(f"text=invoice {first.number} is paid")
    assert page.inner_text("h1 .badge") == "Paid"
    page.screenshot(path="/tmp/portal_invoice_paid.png", full_page=True)
    assert Invoice.objects.get(pk=first.pk).status == Invoice.Status.PAID

    # 3155: the bank asks for authentication first; the invoice stays open until it is given.
    pay_with_card(page, live_server.url, second, "4000 0025 0000 3155", shot="/tmp/portal_invoice_pay_saved.png")
    page.wait_for_selector("button:text('Authenticate payment')")
    page.screenshot(path="/tmp/portal_invoice_3ds.png", full_page=True)
    assert Invoice.objects.get(pk=second.pk).status == Invoice.Status.ISSUED
    page.click("button:text('Authenticate payment')")
    page.wait_for_selector(f"text=invoice {second.number} is paid")
    assert page.inner_text("h1 .badge") == "Paid"
    assert Invoice.objects.get(pk=second.pk).status == Invoice.Status.PAID

    # Only the card the customer asked to keep was saved; the subscription page offers it for renewals.
    assert methods.active_payment_methods(customer).count() == 1
    page.goto(f"{live_server.url}/billing/methods/")
    page.screenshot(path="/tmp/portal_methods.png", full_page=True)
    page.goto(f"{live_server.url}/billing/subscriptions/{sub.uuid}/")
    page.screenshot(path="/tmp/portal_subscription.png", full_page=True)
    assert page.locator("input[name='method']").count() == 2  # default + the saved card
