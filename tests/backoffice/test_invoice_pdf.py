"""Invoice PDF text: tax rates print as people write them (20%, never 2E+1%)."""

from decimal import Decimal

import pytest
from django.template.loader import render_to_string

from core.billing.models import Invoice
from core.billing.services.pdf import format_rate, invoice_context, plain_number, tax_label
from tests.backoffice.conftest import issue_for_test
from tests.factories import InvoiceFactory, InvoiceLineFactory


@pytest.mark.parametrize(
    ("stored", "printed"),
    [("20.000", "20"), ("7.250", "7.25"), ("19", "19"), ("0.000", "0"), ("0", "0"), ("100.000", "100"),
     ("-0.000", "0"), (Decimal("2E+1"), "20")],
)  # fmt: skip
def test_format_rate_never_uses_exponent_notation(stored, printed):
    assert format_rate(stored) == printed


def test_plain_number_prints_whole_quantities_without_exponent():
    assert plain_number(Decimal("10.00")) == "10"
    assert plain_number(Decimal("1.50")) == "1.5"


def test_tax_label_adds_the_rate_only_when_the_name_lacks_it():
    assert tax_label("VAT", "20") == "VAT 20%"
    assert tax_label("VAT 20%", "20") == "VAT 20%"
    assert tax_label("MwSt 19 %", "19") == "MwSt 19 %"
    assert tax_label("", "0") == "Tax 0%"


@pytest.mark.django_db
def test_invoice_pdf_prints_each_rate_in_plain_digits():
    invoice = InvoiceFactory()
    for position, rate in enumerate(["20.000", "7.250", "19.000", "0.000"]):
        InvoiceLineFactory(invoice=invoice, position=position, tax_rate=Decimal(rate))
    issue_for_test(invoice, "INV-PDF-1")
    Invoice.objects.filter(pk=invoice.pk).update(
        tax_breakdown=[
            {"name": "VAT", "rate": "20.000", "base": "10.00", "tax": "2.00"},
            {"name": "Sales tax 7.25%", "rate": "7.250", "base": "10.00", "tax": "0.73"},
            {"name": "MwSt", "rate": "19", "base": "10.00", "tax": "1.90"},
            {"name": "Zero rated", "rate": "0.000", "base": "10.00", "tax": "0.00"},
        ]
    )
    invoice.refresh_from_db()

    context = invoice_context(invoice)
    html = render_to_string("billing/invoice_pdf.html", context)

    assert [line["tax_rate"] for line in context["lines"]] == ["20", "7.25", "19", "0"]
    assert [row["label"] for row in context["breakdown"]] == ["VAT 20%", "Sales tax 7.25%", "MwSt 19%", "Zero rated 0%"]
    assert "E+" not in html
    for text in ("VAT 20% on", "Sales tax 7.25% on", "MwSt 19% on", "Zero rated 0% on", ">20%<", ">7.25%<", ">0%<"):
        assert text in html
    assert "7.25% 7.25%" not in html
