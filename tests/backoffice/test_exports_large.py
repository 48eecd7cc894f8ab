"""Finance exports at scale (core/analytics/exports.py, exports_xlsx.py): primary-key range pages that
skip gaps and the period's other invoices, and the streaming XLSX writer (read back with openpyxl,
a second sheet past the row limit)."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from core.analytics import exports
from core.analytics.exports_xlsx import StreamingXlsx
from core.billing.models import Invoice
from tests.factories import CustomerFactory, InvoiceFactory, InvoiceLineFactory

pytestmark = pytest.mark.django_db
PERIOD = (dt.date(2026, 5, 1), dt.date(2026, 5, 31))


def _invoice(customer, number, status, issue_date, amounts):
    invoice = InvoiceFactory(customer=customer, billing_details={"name": "Shop", "country": "de"})
    for position, amount in enumerate(amounts):
        InvoiceLineFactory(invoice=invoice, position=position, description=f"{number} line {position}",
                           unit_amount=Decimal(amount), amount=Decimal(amount))  # fmt: skip
    # Issued afterwards (issued invoices' lines are frozen); the export only reads these columns.
    Invoice.objects.filter(pk=invoice.pk).update(number=number, status=status, issue_date=issue_date)
    return invoice


@pytest.fixture
def lines(monkeypatch):
    """Seven invoices with id gaps between them: five in May (one void), one in June, one draft."""
    monkeypatch.setattr(exports, "CHUNK", 4)  # pages of 2 invoice ids: every page boundary is crossed
    customer = CustomerFactory()
    made = []
    for i, (status, day) in enumerate([("paid", 3), ("issued", 4), ("void", 5), ("paid", 6), ("paid", 40),
                                       ("draft", 7), ("issued", 8)]):  # fmt: skip
        made.append(_invoice(customer, f"INV-{i}", status, dt.date(2026, 5, 1) + dt.timedelta(days=day),
                             ["10.00", "2.50"][: 1 + i % 2]))  # fmt: skip
        InvoiceFactory(customer=customer).delete()  # an id gap after each
    return made


def test_invoice_lines_csv_pages_over_gaps_and_skips_other_invoices(lines):
    out = io.BytesIO()
    rows = exports.write_export("invoice_lines", *PERIOD, "csv", out)
    got = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert rows == len(got) == 6
    assert [(r["Invoice"], r["Position"], r["Amount"]) for r in got] == [
        ("INV-0", "0", "10.00"),
        ("INV-1", "0", "10.00"),
        ("INV-1", "1", "2.50"),
        ("INV-3", "0", "10.00"),
        ("INV-3", "1", "2.50"),
        ("INV-6", "0", "10.00"),
    ]  # fmt: skip (void INV-2, June's INV-4 and the draft INV-5 are not exported)
    assert {r["Country"] for r in got} == {"DE"}
    assert exports.get_export("invoice_lines").count(*PERIOD) == rows


def test_invoices_csv_lists_the_period_once_each(lines):
    out = io.BytesIO()
    exports.write_export("invoices", *PERIOD, "csv", out)
    got = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [r["Number"] for r in got] == ["INV-0", "INV-1", "INV-3", "INV-6"]


def test_xlsx_puts_rows_past_the_sheet_limit_on_a_second_sheet(lines, monkeypatch):
    monkeypatch.setattr(exports, "XLSX_SHEET_ROWS", 4)
    out = io.BytesIO()
    rows = exports.write_export("invoice_lines", *PERIOD, "xlsx", out)
    book = load_workbook(io.BytesIO(out.getvalue()), read_only=True)
    assert book.sheetnames == ["Invoice lines", "Invoice lines 2"]
    first, second = (list(book[name].iter_rows(values_only=True)) for name in book.sheetnames)
    assert first[0] == second[0] == tuple(exports.LINE_HEADERS)
    assert len(first) - 1 + len(second) - 1 == rows == 6
    assert first[1][:3] == ("INV-0", dt.datetime(2026, 5, 4), "USD")  # an Excel date
    assert first[2][9] == 10 and second[1][9] == 2.5


def test_streaming_xlsx_writes_every_kind_of_value_readably():
    out = io.BytesIO()
    book = StreamingXlsx(out)
    book.add_sheet("Mixed: [values]?")
    book.append(["Text", "Amount", "Count", "Yes", "Day", "At", "Empty", "Odd"])
    book.append(["a < b & \"c\"\x07", Decimal("-1234.5600"), 42, True, dt.date(2026, 5, 31),
                 dt.datetime(2026, 5, 31, 23, 30, tzinfo=dt.UTC), None, Decimal("0.0001")])  # fmt: skip
    book.close()
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    assert sheet.title == "Mixed   values  "
    values = [cell.value for cell in sheet[2]]
    assert values[:6] == ['a < b & "c"', -1234.56, 42, True, dt.datetime(2026, 5, 31),
                          dt.datetime(2026, 5, 31, 23, 30)]  # fmt: skip
    assert values[6] is None and values[7] == 0.0001
    assert sheet["E2"].is_date and sheet["F2"].is_date


def test_an_empty_export_is_a_workbook_with_the_header_row(db):
    out = io.BytesIO()
    assert exports.write_export("payments", *PERIOD, "xlsx", out) == 0
    sheet = load_workbook(io.BytesIO(out.getvalue()), read_only=True).active
    assert list(sheet.iter_rows(values_only=True)) == [tuple(exports.PAYMENT_HEADERS)]
