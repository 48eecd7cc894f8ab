from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail

from core.audit.models import AuditLog
from core.billing.models import Invoice, InvoiceLine, Payment
from core.catalog.models import Product
from core.provisioning import drivers
from core.provisioning.errors import CapacityError, RefundNotPossible
from core.provisioning.models import SandboxResource
from core.provisioning.services import (
    assign_hardware,
    check_capacity,
    create_service,
    refund_or_credit_failed_service,
    terminate_service,
)
from integrations.platforms.sandbox.driver import inject_fault
from tests.factories import ProductFactory

from .conftest import paid_item

pytestmark = pytest.mark.django_db


def test_in_stock_product_on_a_platform_with_room_passes(product):
    assert check_capacity(product) is None


def test_out_of_stock_vps_is_refused_with_a_customer_message(product):
    product.stock_quantity = 0
    product.save()
    with pytest.raises(CapacityError, match="out of stock"):
        check_capacity(product)


def test_out_of_stock_dedicated_server_is_back_ordered(sandbox):
    box = ProductFactory(service_type="dedicated", platform="sandbox", platform_connection=sandbox, stock_quantity=0)
    assert check_capacity(box) is None


def test_platform_without_room_refuses(product, sandbox):
    sandbox.defaults = {"build_seconds": 0, "max_services": 0}
    sandbox.save()
    with pytest.raises(CapacityError, match="sold out"):
        check_capacity(product)


def test_platform_that_cannot_be_asked_refuses_unless_configured(product, sandbox, settings):
    inject_fault(sandbox, "check_capacity", "before", times=2)
    with pytest.raises(CapacityError, match="try again in a few minutes"):
        check_capacity(product)
    settings.PROVISIONING = {"CAPACITY_UNVERIFIED": "accept"}
    assert check_capacity(product) is None


def test_no_active_connection_refuses(db):
    orphan = ProductFactory(platform="sandbox")
    with pytest.raises(CapacityError):
        check_capacity(orphan)


def test_stock_goes_down_on_create_and_up_on_termination(product, django_capture_on_commit_callbacks):
    Product.objects.filter(pk=product.pk).update(stock_quantity=2)
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    product.refresh_from_db()
    assert product.stock_quantity == 1 and service.holds_stock
    with django_capture_on_commit_callbacks(execute=True):
        terminate_service(service, reason="Cancelled")
    product.refresh_from_db()
    assert product.stock_quantity == 2


def test_last_unit_taken_by_another_order_waits_for_staff(product, django_capture_on_commit_callbacks):
    Product.objects.filter(pk=product.pk).update(stock_quantity=1)
    first = paid_item(product)
    second = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        a = create_service(*first)
        b = create_service(*second)
    a.refresh_from_db()
    b.refresh_from_db()
    product.refresh_from_db()
    assert a.status == "active" and b.status == "awaiting_stock"
    assert product.stock_quantity == 0  # never below zero


def test_dedicated_without_stock_waits_until_hardware_is_assigned(
    sandbox, staff_user, django_capture_on_commit_callbacks
):
    box = ProductFactory(service_type="dedicated", platform="sandbox", platform_connection=sandbox, stock_quantity=0)
    subscription, item = paid_item(box)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    service.refresh_from_db()
    assert service.status == "awaiting_stock"
    assert not SandboxResource.objects.exists()
    # Staff rack a new box: it is added to stock, then assigned.
    Product.objects.filter(pk=box.pk).update(stock_quantity=1)
    with django_capture_on_commit_callbacks(execute=True):
        assign_hardware(service, note="Rack 4, unit 12", actor=staff_user)
    service.refresh_from_db()
    box.refresh_from_db()
    assert service.status == "active" and service.hardware_note == "Rack 4, unit 12"
    assert box.stock_quantity == 0 and service.holds_stock
    assert AuditLog.objects.filter(action="service.assign_hardware", actor=staff_user).exists()
    with django_capture_on_commit_callbacks(execute=True):
        terminate_service(service, reason="Cancelled", actor=staff_user)
    box.refresh_from_db()
    assert box.stock_quantity == 1


def test_manual_approval_product_waits_even_with_stock(sandbox, django_capture_on_commit_callbacks):
    gated = ProductFactory(platform="sandbox", platform_connection=sandbox, requires_manual_approval=True)
    subscription, item = paid_item(gated)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    assert service.status == "awaiting_stock"


# --- Refund or credit a failed service -----------------------------------------------------------


@pytest.fixture
def failed_service(product, sandbox, django_capture_on_commit_callbacks):
    inject_fault(sandbox, "create", "before", times=1, retryable=False)
    subscription, item = paid_item(product)
    invoice = Invoice.objects.create(
        customer=subscription.customer, currency=subscription.currency, status="draft", purpose="new_order"
    )
    InvoiceLine.objects.create(
        invoice=invoice, description="VPS", amount=Decimal("20.00"), unit_amount=Decimal("20.00"),
        tax_amount=Decimal("3.80"), subscription=subscription,
    )  # fmt: skip
    Invoice.objects.filter(pk=invoice.pk).update(status="paid", number="INV-TEST-1", total=Decimal("23.80"))
    Payment.objects.create(
        customer=subscription.customer, invoice=invoice, gateway="sandbox", amount=Decimal("23.80"),
        currency=subscription.currency, gateway_transaction_id="sbx_1",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    service.refresh_from_db()
    assert service.status == "failed"
    return service


def test_credit_for_failed_service_credits_what_was_paid_and_tells_the_customer(
    failed_service, staff_user, django_capture_on_commit_callbacks
):
    with (
        mock.patch("core.billing.services.credit.add_credit") as add_credit,
        django_capture_on_commit_callbacks(execute=True),
    ):
        refund_or_credit_failed_service(failed_service, mode="credit", actor=staff_user)
    add_credit.assert_called_once()
    assert add_credit.call_args.args[1] == Decimal("23.80")
    assert add_credit.call_args.kwargs["reason"] == "provisioning_failed"
    failed_service.refresh_from_db()
    assert failed_service.compensation == "credit" and failed_service.status == "terminated"
    assert any("could not set up" in m.subject and "23.80" in m.body for m in mail.outbox)
    assert AuditLog.objects.filter(action="service.credit_failed", actor=staff_user).exists()
    with pytest.raises(RefundNotPossible):
        refund_or_credit_failed_service(failed_service, mode="credit", actor=staff_user)


def test_refund_for_failed_service_refunds_the_payment(failed_service, staff_user, django_capture_on_commit_callbacks):
    with (
        mock.patch("core.billing.services.payments.refund_payment") as refund,
        django_capture_on_commit_callbacks(execute=True),
    ):
        refund_or_credit_failed_service(failed_service, mode="refund", actor=staff_user)
    payment = Payment.objects.get(gateway_transaction_id="sbx_1")
    refund.assert_called_once_with(
        payment, amount=Decimal("23.80"), reason="Service could not be provisioned", actor=staff_user
    )


def test_only_failed_services_can_be_refunded(product, django_capture_on_commit_callbacks):
    subscription, item = paid_item(product)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(subscription, item)
    with pytest.raises(RefundNotPossible, match="Only a failed service"):
        refund_or_credit_failed_service(service, mode="credit", actor=None)


def test_driver_capacity_error_type_is_the_interface_one():
    assert issubclass(drivers.CapacityError, drivers.DriverError)
