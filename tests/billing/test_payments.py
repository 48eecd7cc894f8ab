from decimal import Decimal

import pytest

from core.billing.errors import PaymentError
from core.billing.models import Invoice, Payment
from core.billing.services import credit, invoices, payments
from tests.factories import CustomerFactory

D = Decimal
pytestmark = pytest.mark.django_db


def _issued(amount="100.00", customer=None):
    customer = customer or CustomerFactory(auto_apply_credit=False)
    draft = invoices.create_draft_invoice(customer, lines=[{"description": "Server", "unit_amount": D(amount)}])
    return invoices.issue_invoice(draft)


def test_duplicate_transaction_records_one_payment():
    inv = _issued()
    first = payments.record_payment(inv, amount=D("100.00"), gateway="stripe", gateway_transaction_id="pi_123")
    second = payments.record_payment(inv, amount=D("100.00"), gateway="stripe", gateway_transaction_id="pi_123")
    assert first.pk == second.pk
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.PAID and inv.amount_paid == D("100.00")
    assert Payment.objects.count() == 1


def test_partial_payments_leave_invoice_open_until_covered():
    inv = _issued()
    payments.record_manual_payment(inv, amount=D("40.00"), received_on=inv.issue_date, reference="BANK-1")
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.ISSUED and inv.amount_due == D("60.00")
    payments.record_manual_payment(inv, amount=D("60.00"), received_on=inv.issue_date, reference="BANK-2")
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.PAID


def test_overpayment_becomes_credit():
    inv = _issued()
    payments.record_payment(inv, amount=D("130.00"), gateway="manual", gateway_transaction_id="t1")
    inv.refresh_from_db()
    assert inv.amount_paid == D("100.00")
    assert credit.credit_balance(inv.customer) == D("30.00")


def test_payment_on_void_invoice_becomes_credit():
    inv = _issued()
    invoices.void_invoice(inv, reason="duplicate")
    payments.record_payment(inv, amount=D("100.00"), gateway="manual", gateway_transaction_id="late")
    assert credit.credit_balance(inv.customer) == D("100.00")


def test_failed_payment_is_recorded_once_and_invoice_stays_open():
    inv = _issued()
    a = payments.record_failed_payment(
        inv, gateway="stripe", gateway_transaction_id="pi_f", failure_code="card_declined", failure_message="Declined"
    )
    b = payments.record_failed_payment(
        inv, gateway="stripe", gateway_transaction_id="pi_f", failure_code="card_declined", failure_message="Declined"
    )
    assert a.pk == b.pk and a.status == Payment.Status.FAILED
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.ISSUED and inv.last_charge_error == "Declined"


def test_refunds_are_partial_idempotent_and_capped():
    inv = _issued()
    pay = payments.record_payment(inv, amount=D("100.00"), gateway="stripe", gateway_transaction_id="pi_r")
    r1 = payments.record_refund(pay, amount=D("30.00"), gateway_refund_id="re_1", reason="goodwill")
    again = payments.record_refund(pay, amount=D("30.00"), gateway_refund_id="re_1")
    assert r1.pk == again.pk and r1.kind == Payment.Kind.REFUND and r1.original_payment == pay
    with pytest.raises(PaymentError):
        payments.record_refund(pay, amount=D("70.01"), gateway_refund_id="re_2")
    payments.record_refund(pay, amount=D("70.00"), gateway_refund_id="re_3")
    inv.refresh_from_db()
    assert inv.amount_refunded == D("100.00")
    assert payments.refundable_amount(pay) == D("0.00")


def test_manual_refund_of_bank_transfer_by_staff():
    inv = _issued()
    pay = payments.record_manual_payment(inv, amount=D("100.00"), received_on=inv.issue_date, reference="B-9")
    refund = payments.refund_payment(pay, amount=D("25.00"), reason="partial service")
    assert refund.amount == D("25.00") and refund.gateway == "manual"


def test_chargeback_and_dispute_flag():
    inv = _issued()
    pay = payments.record_payment(inv, amount=D("100.00"), gateway="stripe", gateway_transaction_id="pi_d")
    payments.mark_payment_disputed(pay)
    pay.refresh_from_db()
    assert pay.is_disputed
    cb = payments.record_chargeback(pay, amount=D("100.00"), gateway_dispute_id="dp_1")
    assert cb.kind == Payment.Kind.CHARGEBACK
    assert payments.record_chargeback(pay, amount=D("100.00"), gateway_dispute_id="dp_1").pk == cb.pk


def test_high_value_payment_alerts_discord_after_commit(settings, django_capture_on_commit_callbacks, monkeypatch):
    settings.DISCORD_WEBHOOK_URL = "https://discord.invalid/webhook"
    sent = []
    monkeypatch.setattr("core.notifications.services.deliver_discord", lambda nid, payload: sent.append(payload))
    monkeypatch.setattr("core.notifications.tasks.deliver_discord", lambda nid, payload: sent.append(payload))
    inv = _issued("600.00")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        payments.record_payment(inv, amount=D("600.00"), gateway="manual", gateway_transaction_id="big")
        assert sent == []  # nothing leaves inside the transaction
    for cb in callbacks:
        cb()
    assert any("High-value" in p["title"] for p in sent)


def test_payment_on_draft_is_refused():
    draft = invoices.create_draft_invoice(CustomerFactory(), lines=[{"description": "x", "unit_amount": D("1")}])
    with pytest.raises(PaymentError):
        payments.record_payment(draft, amount=D("1"), gateway="manual", gateway_transaction_id="d")
