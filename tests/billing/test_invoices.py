import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings

from core import clock
from core.billing.errors import BillingError, ImmutableInvoiceError, InvalidTransition
from core.billing.models import CreditEntry, Invoice, InvoiceLine, NumberSequence
from core.billing.services import credit, invoices
from tests.factories import CurrencyFactory, CustomerFactory, TaxRateFactory

D = Decimal
pytestmark = pytest.mark.django_db


def _draft(customer=None, amount="20.00", **kw):
    customer = customer or CustomerFactory()
    return invoices.create_draft_invoice(customer, lines=[{"description": "VPS Small", "unit_amount": D(amount)}], **kw)


def test_issue_numbers_freezes_snapshot_and_hash():
    with clock.frozen_at(dt.datetime(2026, 3, 5, 10, tzinfo=dt.UTC)):
        inv = invoices.issue_invoice(_draft())
    assert inv.status == Invoice.Status.ISSUED
    assert inv.number == "INV-2026-000001"
    assert inv.issue_date == dt.date(2026, 3, 5)
    assert inv.due_date == dt.date(2026, 3, 12)
    assert inv.total == D("20.00")
    assert inv.billing_details["line1"] == inv.customer.address_line1
    assert inv.seller_details["name"]
    assert inv.snapshot_hash == inv.compute_snapshot_hash()


def test_numbers_are_consecutive_and_restart_each_year():
    with clock.frozen_at(dt.date(2026, 12, 31)):
        a = invoices.issue_invoice(_draft())
        b = invoices.issue_invoice(_draft())
    with clock.frozen_at(dt.date(2027, 1, 1)):
        c = invoices.issue_invoice(_draft())
    assert [a.number, b.number, c.number] == ["INV-2026-000001", "INV-2026-000002", "INV-2027-000001"]


def test_number_format_comes_from_settings(settings):
    settings.BILLING = {**settings.BILLING, "INVOICE_NUMBER_FORMAT": "EZ{seq:05d}", "NUMBER_SERIES_PER_YEAR": False}
    inv = invoices.issue_invoice(_draft())
    assert inv.number == "EZ00001"
    assert NumberSequence.objects.get(series="invoice").year == 0


def test_issued_invoice_rejects_edits_of_frozen_fields():
    inv = invoices.issue_invoice(_draft())
    inv.total = D("1.00")
    with pytest.raises(ImmutableInvoiceError):
        inv.save()
    inv.refresh_from_db()
    inv.billing_details = {"name": "Someone else"}
    with pytest.raises(ImmutableInvoiceError):
        inv.save()


def test_issued_invoice_lines_cannot_be_added_changed_or_removed():
    inv = invoices.issue_invoice(_draft())
    line = inv.lines.get()
    line.amount = D("1.00")
    with pytest.raises(ImmutableInvoiceError):
        line.save()
    with pytest.raises(ImmutableInvoiceError):
        line.delete()
    with pytest.raises(ImmutableInvoiceError):
        invoices.add_invoice_line(inv, description="Extra", unit_amount=D("5"))
    with pytest.raises(ImmutableInvoiceError):
        inv.delete()


def test_issuing_twice_is_refused():
    inv = invoices.issue_invoice(_draft())
    with pytest.raises(InvalidTransition):
        invoices.issue_invoice(inv)
    assert NumberSequence.objects.get(series="invoice").last_value == 1


def test_empty_draft_cannot_be_issued_and_takes_no_number():
    inv = invoices.create_draft_invoice(CustomerFactory(), lines=[])
    with pytest.raises(BillingError):
        invoices.issue_invoice(inv)
    assert not NumberSequence.objects.filter(last_value__gt=0).exists()


def test_tax_is_added_per_line_and_broken_down_per_rate():
    TaxRateFactory(country="DE", rate=D("19.000"), name="VAT 19%")
    customer = CustomerFactory(country="DE", currency=CurrencyFactory(code="EUR"))
    inv = invoices.create_draft_invoice(
        customer,
        lines=[
            {"description": "A", "unit_amount": D("10.00")},
            {"description": "B", "unit_amount": D("0.05"), "quantity": 3},
        ],
    )
    inv = invoices.issue_invoice(inv)
    assert [ln.tax_amount for ln in inv.lines.all()] == [D("1.90"), D("0.03")]
    assert inv.tax_total == D("1.93")
    assert inv.total == D("12.08")
    assert inv.tax_breakdown == [{"name": "VAT 19%", "rate": "19.000", "base": "10.15", "tax": "1.93"}]


def test_void_keeps_number_and_turns_received_money_into_credit():
    customer = CustomerFactory()
    inv = invoices.issue_invoice(_draft(customer))
    from core.billing.services.payments import record_payment

    record_payment(inv, amount=D("5.00"), gateway="manual", gateway_transaction_id="bank-1")
    inv = invoices.void_invoice(inv, reason="Ordered by mistake")
    assert inv.status == Invoice.Status.VOID and inv.number == f"INV-{clock.today().year}-000001"
    assert credit.credit_balance(customer) == D("5.00")
    with pytest.raises(InvalidTransition):
        invoices.void_invoice(inv, reason="again")


def test_full_credit_note_reverses_lines_in_its_own_series():
    TaxRateFactory(country="US", region="", rate=D("10.000"), name="Sales tax", is_eu_vat=False)
    inv = invoices.issue_invoice(_draft(amount="50.00"))
    note = invoices.create_credit_note(inv, reason="Service outage")
    assert note.kind == Invoice.Kind.CREDIT_NOTE
    assert note.original_invoice == inv
    assert note.number.startswith("CN-")
    assert note.total == D("-55.00") and note.tax_total == D("-5.00")
    assert note.snapshot_hash == note.compute_snapshot_hash()
    with pytest.raises(BillingError):
        invoices.create_credit_note(inv, amount=D("1.00"), reason="more than invoiced")


def test_partial_credit_note_splits_gross_amount_with_the_original_rate_and_can_credit_customer():
    TaxRateFactory(country="US", region="", rate=D("10.000"), name="Sales tax", is_eu_vat=False)
    customer = CustomerFactory()
    inv = invoices.issue_invoice(_draft(customer, amount="50.00"))
    note = invoices.create_credit_note(inv, amount=D("11.00"), reason="Goodwill", credit_customer=True)
    assert note.total == D("-11.00")
    assert note.lines.get().amount == D("-10.00")
    assert credit.credit_balance(customer) == D("11.00")


def test_auto_apply_credit_at_issue_pays_invoice():
    customer = CustomerFactory(auto_apply_credit=True)
    credit.add_credit(customer, D("25.00"), reason=CreditEntry.Reason.MANUAL)
    inv = invoices.issue_invoice(_draft(customer))
    assert inv.status == Invoice.Status.PAID
    assert inv.credit_applied == D("20.00")
    assert credit.credit_balance(customer) == D("5.00")


def test_credit_not_applied_when_customer_opted_out():
    customer = CustomerFactory(auto_apply_credit=False)
    credit.add_credit(customer, D("25.00"), reason=CreditEntry.Reason.MANUAL)
    inv = invoices.issue_invoice(_draft(customer))
    assert inv.status == Invoice.Status.ISSUED and inv.credit_applied == 0


def test_issue_queues_invoice_email_with_pdf_attachment(django_capture_on_commit_callbacks, mailoutbox, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        inv = invoices.issue_invoice(_draft())
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert inv.number in message.subject
    name, content, mimetype = message.attachments[0]
    assert name == f"{inv.number}.pdf" and mimetype == "application/pdf" and content.startswith(b"%PDF")


def test_zero_total_invoice_is_paid_at_issue():
    inv = invoices.issue_invoice(_draft(amount="0.00"))
    assert inv.status == Invoice.Status.PAID


def test_credit_balance_never_goes_negative():
    customer = CustomerFactory()
    credit.add_credit(customer, D("3.00"), reason=CreditEntry.Reason.MANUAL)
    from core.billing.errors import InsufficientCredit

    with pytest.raises(InsufficientCredit):
        credit.remove_credit(customer, D("3.01"), reason=CreditEntry.Reason.MANUAL)
    inv = invoices.issue_invoice(_draft(CustomerFactory(auto_apply_credit=False)))
    with pytest.raises(BillingError):
        credit.apply_credit(inv, amount=D("1.00"))  # other customer's invoice, no credit


@override_settings(
    COMPANY={"name": "EZ", "address": "x", "country": "DE", "vat_id": "DE136695976", "email": "b@x", "website": ""}
)
def test_line_kinds_default_to_discount_for_negative_amounts():
    inv = invoices.create_draft_invoice(
        CustomerFactory(),
        lines=[{"description": "A", "unit_amount": D("10.00")}, {"description": "Coupon", "unit_amount": D("-2.00")}],
    )
    kinds = list(inv.lines.values_list("kind", flat=True))
    assert kinds == [InvoiceLine.Kind.ITEM, InvoiceLine.Kind.DISCOUNT]
    inv = invoices.issue_invoice(inv)
    assert inv.subtotal == D("10.00") and inv.discount_total == D("2.00") and inv.total == D("8.00")
