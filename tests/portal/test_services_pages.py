"""The service page (plan, next due, live status, bandwidth chart, controls with reasons, suspended
notice), the sandbox panel page, plan changes with the exact preview, and cancel/undo."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core import signing
from django.urls import reverse

from core import clock
from core.billing.models import CreditEntry, Invoice, Subscription
from core.billing.services.invoices import create_draft_invoice, issue_invoice
from core.provisioning.models import SandboxResource, Service
from core.provisioning.services import create_service
from core.usage.models import BandwidthPeriod, BandwidthUsage
from tests.factories import CustomerFactory, PlatformConnectionFactory, PriceFactory, ProductFactory
from tests.provisioning.conftest import paid_item

from .conftest import MODEL_BACKEND

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("commits", "sandbox_portal")]


@pytest.fixture
def instant_platform(db):
    return PlatformConnectionFactory(name="sandbox-instant", defaults={"build_seconds": 0})


@pytest.fixture
def small_plan(instant_platform):
    return ProductFactory(name="VPS 2 GB", platform="sandbox", platform_connection=instant_platform, ram_mb=2048)


@pytest.fixture
def big_price(small_plan, shopper):
    product = ProductFactory(name="VPS 8 GB", platform="sandbox", platform_connection=small_plan.platform_connection)
    return PriceFactory(product=product, currency=shopper.currency, amount=D("40.00"))


@pytest.fixture
def service(shopper, small_plan, django_capture_on_commit_callbacks):
    PriceFactory(product=small_plan, currency=shopper.currency, amount=D("20.00"))
    with django_capture_on_commit_callbacks(execute=True):
        made = create_service(*paid_item(small_plan, customer=shopper))
    made.refresh_from_db()
    assert made.status == Service.Status.ACTIVE
    return made


def _detail(client, service) -> str:
    return client.get(reverse("portal:service_detail", args=[service.uuid])).content.decode()


def test_detail_shows_plan_next_due_live_status_and_confirmed_power_buttons(shopper_client, service):
    body = _detail(shopper_client, service)
    assert "VPS 2 GB" in body and service.primary_ip in body
    assert 'data-testid="next-due"' in body and "—</dd>" not in body.split('data-testid="next-due"')[1][:40]
    assert 'data-testid="power-state"' in body and "running" in body
    assert re.search(r'data-confirm="Restart [^"]+\?', body) and re.search(r'data-confirm="Shut down [^"]+\?', body)
    assert "The server is already running." in body  # Start is disabled, with the reason
    assert 'data-testid="reinstall-link"' in body  # the sandbox platform reinstalls (tests/portal/test_services_reinstall.py)


def test_bandwidth_this_period_against_quota_with_a_chart(shopper_client, service):
    today = clock.today()
    BandwidthPeriod.objects.create(
        service=service, period_start=today - dt.timedelta(days=3), period_end=today + dt.timedelta(days=27),
        bytes_in=600 * 10**9, bytes_out=200 * 10**9, counted_bytes=800 * 10**9, quota_bytes=1000 * 10**9,
    )  # fmt: skip
    for n in range(3):
        BandwidthUsage.objects.create(service=service, day=today - dt.timedelta(days=n + 1), bytes_in=10**9 * (n + 1))
    body = _detail(shopper_client, service)
    assert "800.0 GB used of 1,000.0 GB (80%)" in body
    chart = body.split('data-testid="bandwidth-chart"')[1].split("</svg>")[0]
    assert chart.count("<rect") == 3


def test_no_traffic_yet_says_so_with_the_plan_quota(shopper_client, service):
    assert "No traffic measured yet this period. Your plan includes 2000 GB." in _detail(shopper_client, service)


def test_suspended_service_says_why_and_links_to_the_overdue_invoice(shopper_client, shopper, service):
    draft = create_draft_invoice(
        shopper, lines=[{"description": "Renewal", "unit_amount": D("20.00")}], subscription=service.subscription
    )
    invoice = issue_invoice(draft, email=False, due_date=clock.today() - dt.timedelta(days=5))
    Service.objects.filter(pk=service.pk).update(status="suspended", suspension_reason="Invoice overdue")
    SandboxResource.objects.filter(external_id=str(service.uuid)).update(is_suspended=True)
    body = _detail(shopper_client, service)
    assert "This service is suspended</strong>: Invoice overdue" in body
    assert reverse("portal:invoice_pay", args=[invoice.uuid]) in body
    assert "This action is unavailable while the service is suspended." in body
    assert "data-confirm" not in body.split('id="controls"')[1].split('id="plan"')[0]


def test_sandbox_panel_link_lands_on_a_portal_page(shopper_client, service):
    response = shopper_client.post(reverse("portal:service_panel", args=[service.uuid]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:service_sandbox_panel", args=[service.uuid]) + "?sso=")
    page = shopper_client.get(response["Location"]).content.decode()
    assert "Sandbox control panel" in page and "Signed in with a one-time link" in page


def test_upgrade_preview_equals_the_confirmed_invoice(shopper_client, service, big_price):
    url = reverse("portal:service_change_plan", args=[service.uuid])
    page = shopper_client.get(url, {"price": big_price.pk})
    preview = page.context["preview"]
    token = page.context["token"]
    shown = [(ln["description"], ln["amount"], ln["tax_amount"]) for ln in preview.lines]
    assert preview.is_upgrade and len(shown) == 2
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=3)):  # the customer reads, then confirms
        response = shopper_client.post(url, {"price": big_price.pk, "preview": token})
    invoice = Invoice.objects.get(purpose="upgrade", subscription=service.subscription)
    assert response["Location"] == reverse("portal:invoice_pay", args=[invoice.uuid])
    assert [(ln.description, ln.amount, ln.tax_amount) for ln in invoice.lines.order_by("position")] == shown
    assert invoice.total == preview.total
    assert Subscription.objects.get(pk=service.subscription_id).price_id == big_price.pk
    assert SandboxResource.objects.get(external_id=str(service.uuid)).features["ram_mb"] == big_price.product.ram_mb


def test_downgrade_gives_the_previewed_credit(shopper_client, shopper, service, small_plan):
    cheap = PriceFactory(
        product=ProductFactory(name="VPS 1 GB", platform="sandbox", platform_connection=small_plan.platform_connection),
        currency=shopper.currency, amount=D("10.00"),
    )  # fmt: skip
    url = reverse("portal:service_change_plan", args=[service.uuid])
    page = shopper_client.get(url, {"price": cheap.pk})
    shopper_client.post(url, {"price": cheap.pk, "preview": page.context["token"]})
    entry = CreditEntry.objects.get(customer=shopper, reason="downgrade")
    assert entry.amount == -page.context["preview"].total


def test_a_tampered_or_stale_preview_is_shown_again_and_nothing_changes(shopper_client, service, big_price):
    url = reverse("portal:service_change_plan", args=[service.uuid])
    forged = signing.dumps({"s": service.subscription_id, "p": big_price.pk, "at": "2000-01-01T00:00:00+00:00"})
    response = shopper_client.post(url, {"price": big_price.pk, "preview": forged})
    assert response.status_code == 200 and response.context["preview"] is not None
    page = shopper_client.get(url, {"price": big_price.pk})
    with clock.frozen_at(clock.now() + dt.timedelta(hours=1)):
        shopper_client.post(url, {"price": big_price.pk, "preview": page.context["token"]})
    assert not Invoice.objects.filter(purpose="upgrade").exists()
    assert Subscription.objects.get(pk=service.subscription_id).price.product.name == "VPS 2 GB"


def test_cancel_needs_a_reason_keeps_the_survey_and_can_be_undone(shopper_client, service):
    url = reverse("portal:service_cancel", args=[service.uuid])
    assert shopper_client.post(url, {"reason": "", "comment": "x"}).status_code == 400
    response = shopper_client.post(url, {"reason": "too_expensive", "comment": "Found cheaper elsewhere"})
    assert response.status_code == 302
    sub = Subscription.objects.get(pk=service.subscription_id)
    assert sub.cancel_at_period_end and sub.cancel_reason == "too_expensive"
    assert sub.cancel_comment == "Found cheaper elsewhere"
    body = _detail(shopper_client, service)
    assert 'data-testid="cancel-pending"' in body and "Undo the pending cancellation before changing plan." in body
    shopper_client.post(reverse("portal:service_cancel_undo", args=[service.uuid]))
    sub.refresh_from_db()
    assert not sub.cancel_at_period_end
    assert 'data-testid="cancel-pending"' not in _detail(shopper_client, service)


@pytest.mark.parametrize(
    "name,method",
    [("service_change_plan", "get"), ("service_change_plan", "post"), ("service_cancel", "get"),
     ("service_cancel", "post"), ("service_cancel_undo", "post"), ("service_sandbox_panel", "get")],
)  # fmt: skip
def test_another_customers_service_is_not_found(client, service, big_price, name, method):
    intruder = CustomerFactory(currency=service.customer.currency)
    client.force_login(intruder.user, backend=MODEL_BACKEND)
    data = {"price": big_price.pk, "reason": "too_expensive"}
    response = getattr(client, method)(reverse(f"portal:{name}", args=[service.uuid]), data)
    assert response.status_code == 404
    sub = Subscription.objects.get(pk=service.subscription_id)
    assert not sub.cancel_at_period_end and sub.price.product.name == "VPS 2 GB"
