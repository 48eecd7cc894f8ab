"""A real browser orders, pays, watches provisioning, restarts, upgrades and cancels a VPS.

Flow 1: sign up -> confirm the email from the outbox -> log in -> order a VPS with a coupon -> pay
with the sandbox card 4242 -> watch it go provisioning -> active (no reload) -> restart it (confirm
dialog) -> upgrade with the prorated preview and pay it -> cancel with the survey.
Flow 2: a declined card (4000 0000 0000 0002), then a 3-D Secure card (4000 0025 0000 3155).
Screenshots of each step go to $E2E_OUTPUT_DIR (default /tmp/e2e_portal_order/).
"""

import datetime as dt
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail

from core import clock
from core.billing.models import Coupon, Invoice, Order, Subscription
from core.provisioning.models import ProvisioningJob, SandboxResource, Service
from core.provisioning.services import lifecycle
from tests.factories import (
    CurrencyFactory,
    CustomerFactory,
    PlatformConnectionFactory,
    PriceFactory,
    ProductFactory,
    UserFactory,
)

SHOTS = Path(os.environ.get("E2E_OUTPUT_DIR", "/tmp/e2e_portal_order"))
PASSWORD = "a long unusual phrase 42"
OPTIONS = {
    "hostname": "required",
    "locations": [{"id": 1, "label": "Frankfurt"}, {"id": 2, "label": "Dallas"}],
    "os_templates": [{"id": 12, "label": "Debian 12"}, {"id": 14, "label": "Ubuntu 24.04"}],
}


@pytest.fixture
def shop(settings):
    settings.PAYMENT_GATEWAYS = ["sandbox", "manual"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DISCORD_WEBHOOK_URL = ""
    SHOTS.mkdir(parents=True, exist_ok=True)
    usd = CurrencyFactory(code="USD")
    platform = PlatformConnectionFactory(defaults={"build_seconds": 60})
    small = ProductFactory(name="VPS 4 GB", slug="vps-4gb", platform="sandbox", platform_connection=platform,
                           ram_mb=4096, order_options=OPTIONS)  # fmt: skip
    big = ProductFactory(name="VPS 8 GB", slug="vps-8gb", platform="sandbox", platform_connection=platform,
                         ram_mb=8192, order_options=OPTIONS)  # fmt: skip
    PriceFactory(product=small, currency=usd, amount=Decimal("20.00"))
    PriceFactory(product=big, currency=usd, amount=Decimal("40.00"))
    Coupon.objects.create(code="WELCOME", kind="percent", percent=Decimal("25"), duration="once")
    return {"usd": usd, "small": small, "big": big}


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def run_due_provisioning(minutes: int = 5) -> None:
    """What the django-q2 scheduler does once the sandbox build time has passed."""
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=minutes)):
        for _ in range(20):
            job = ProvisioningJob.objects.filter(outcome="queued").order_by("pk").first()
            if job is None:
                break
            lifecycle.run_job(job.pk)


def order_vps(page, base: str, *, hostname: str, coupon: str = "", card: str, shots: str = "") -> None:
    page.goto(f"{base}/order/")
    page.wait_for_selector("h1:has-text('Order a new service')")
    if shots:
        shot(page, f"{shots}_catalog")
    page.click("a[href='/order/vps-4gb/']")
    page.fill("input[name='hostname']", hostname)
    page.select_option("select[name='location']", "2")
    page.select_option("select[name='os_template']", "12")
    if coupon:
        page.fill("input[name='coupon']", coupon)
        page.click("button:text('Update price')")
        page.wait_for_selector("[data-testid='coupon-status']")
    page.check("input[name='gateway'][value='sandbox']")
    page.fill("input[name='card_number']", card)
    if shots:
        shot(page, f"{shots}_checkout")
    page.click("#place-order")


@pytest.mark.django_db(transaction=True)
def test_sign_up_order_pay_watch_restart_upgrade_and_cancel(live_server, browser, shop):
    base = live_server.url
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    # Sign up and confirm the address from the outbox.
    page.goto(f"{base}/signup/")
    page.fill("input[name='first_name']", "Dana")
    page.fill("input[name='last_name']", "Demo")
    page.fill("input[name='email']", "dana@customer.example")
    page.fill("input[name='password']", PASSWORD)
    page.fill("input[name='country']", "US")
    page.select_option("select[name='currency']", "USD")
    shot(page, "01_signup")
    page.click("button[type='submit']")
    page.wait_for_url(re.compile(r".*/signup/done/"))
    # The link names the configured site; the path is what matters here.
    link = next(re.search(r"/verify-email/[^/\s]+/", m.body) for m in mail.outbox if "verify-email" in m.body)
    page.goto(base + link.group(0))
    page.fill("input[name='username']", "dana@customer.example")
    page.fill("input[name='password']", PASSWORD)
    page.click("button[type='submit']")
    page.wait_for_selector("text=Welcome")
    shot(page, "02_dashboard")

    # Order with a coupon; the summary shows the discount before paying.
    order_vps(page, base, hostname="web1.example.com", coupon="welcome", card="4242 4242 4242 4242", shots="03")
    page.wait_for_selector("text=is paid")
    order = Order.objects.get(customer__user__email="dana@customer.example")
    assert order.invoice.discount_total == Decimal("5.00") and order.invoice.status == Invoice.Status.PAID
    page.wait_for_selector("[data-testid='service-status'] >> text=Provisioning")
    shot(page, "04_provisioning")

    # The platform finishes the build; the page updates itself (no reload).
    run_due_provisioning()
    page.wait_for_selector("[data-testid='welcome-notice']", timeout=15000)
    shot(page, "05_active")
    service = Service.objects.get(order_item__order=order)
    assert service.status == Service.Status.ACTIVE
    assert any("dana@customer.example" in m.to and m is not mail.outbox[0] for m in mail.outbox)

    # Restart, accepting the confirmation dialog.
    page.click("[data-testid='welcome-notice'] a")
    page.wait_for_selector("h1:has-text('VPS 4 GB')")
    assert "web1.example.com" in page.inner_text("main")
    shot(page, "06_service")
    dialogs = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.click("form[data-confirm^='Restart'] button")
    page.wait_for_selector("text=Restart sent")
    assert dialogs and dialogs[0].startswith("Restart VPS 4 GB?")
    assert service.jobs.filter(action="power", argument="restart").exists()
    shot(page, "07_restarted")

    # Upgrade: the preview's lines are what the invoice then carries.
    page.click("a:text('Upgrade or downgrade')")
    page.check(f"input[name='price'][value='{shop['big'].prices.get().pk}']")
    page.click("button:text('Show the price')")
    page.wait_for_selector("#plan-preview")
    shown = page.inner_text("[data-testid='plan-preview-lines']")
    shot(page, "08_upgrade_preview")
    page.click("button:text('Confirm change to VPS 8 GB')")
    page.wait_for_selector("input[name='card_number']")
    upgrade = Invoice.objects.get(purpose="upgrade")
    for line in upgrade.lines.all():
        assert line.description in shown
    page.fill("input[name='card_number']", "4242424242424242")
    page.click("button:text('Pay with this card')")
    page.wait_for_selector(f"text=invoice {upgrade.number} is paid")
    # The package change is a queued provisioning job; the worker runs (or retries) it.
    jobs = list(service.jobs.filter(action="change_package").values_list("outcome", "error"))
    assert jobs, "no package change was requested"
    run_due_provisioning()
    resource = SandboxResource.objects.get(external_id=str(service.uuid))
    assert resource.features["ram_mb"] == 8192, jobs
    shot(page, "09_upgrade_paid")

    # Cancel at period end with the survey.
    page.goto(f"{base}/services/{service.uuid}/")
    page.click("a:text('Cancel service')")
    page.select_option("select[name='reason']", "too_expensive")
    page.fill("textarea[name='comment']", "Just trying the demo")
    shot(page, "10_cancel_survey")
    page.click("button:text('Cancel at period end')")
    page.wait_for_selector("[data-testid='cancel-pending']")
    shot(page, "11_cancel_pending")
    sub = Subscription.objects.get(pk=service.subscription_id)
    assert sub.cancel_at_period_end and sub.cancel_reason == "too_expensive"


@pytest.mark.django_db(transaction=True)
def test_declined_card_then_three_d_secure(live_server, browser, shop):
    base = live_server.url
    CustomerFactory(user=UserFactory(email="erin@customer.example", password=PASSWORD), currency=shop["usd"])
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(f"{base}/login/")
    page.fill("input[name='username']", "erin@customer.example")
    page.fill("input[name='password']", PASSWORD)
    page.click("button[type='submit']")
    page.wait_for_selector("text=Welcome")

    order_vps(page, base, hostname="game1.example.com", card="4000 0000 0000 0002", shots="21")
    page.wait_for_selector("text=Your card was declined.")
    shot(page, "22_declined")
    order = Order.objects.get(customer__user__email="erin@customer.example")
    assert order.invoice.status == Invoice.Status.ISSUED

    page.fill("input[name='card_number']", "4000 0025 0000 3155")
    page.click("button:text('Pay with this card')")
    page.wait_for_selector("button:text('Authenticate payment')")
    shot(page, "23_3ds_challenge")
    assert Invoice.objects.get(pk=order.invoice_id).status == Invoice.Status.ISSUED
    page.click("button:text('Authenticate payment')")
    page.wait_for_selector("text=is paid")
    shot(page, "24_3ds_paid")
    assert Invoice.objects.get(pk=order.invoice_id).status == Invoice.Status.PAID
