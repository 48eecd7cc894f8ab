"""Finance exports: CSV and XLSX per kind, a tax summary that adds up to the invoices, payment
figures equal to the dashboard's revenue to the cent, and large exports as a task with a staff-only file."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from core import clock
from core.analytics import exports, queries
from core.analytics.models import ExportJob
from core.billing.models import CreditEntry, Payment, TaxRate
from core.billing.services import invoices
from tests.factories import CurrencyFactory, CustomerFactory, PaymentFactory

MAY_FROM, MAY_TO = dt.date(2026, 5, 1), dt.date(2026, 5, 31)


@pytest.fixture
def may(db):
    """Issued in May 2026 (worked out by hand):
    USD customer in the US at 7%: 100.00 + 7.00 = 107.00, and 20.00 - 5.00 discount = 15.00 + 1.05 = 16.05
    EUR customer in DE at 19%: 50.00 + 9.50 = 59.50
    Payments in May: USD 107.00 in, USD 7.00 refunded, USD 30.00 failed (not money); EUR 59.50 in.
    """
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    eur = CurrencyFactory(code="EUR", exchange_rate=Decimal("0.9"))
    TaxRate.objects.create(name="Sales tax 7%", country="US", region="", rate=Decimal("7.000"))
    TaxRate.objects.create(name="VAT 19%", country="DE", region="", rate=Decimal("19.000"))
    us = CustomerFactory(currency=usd, country="US", region="")
    de = CustomerFactory(currency=eur, country="DE", region="", vat_id="")
    with clock.frozen_at(dt.datetime(2026, 5, 10, 12, tzinfo=dt.UTC)):
        for customer, lines in (
            (us, [{"description": "VPS", "unit_amount": Decimal("100.00")}]),
            (us, [{"description": "Game", "unit_amount": Decimal("20.00")},
                  {"description": "Coupon", "unit_amount": Decimal("-5.00"), "kind": "discount"}]),
            (de, [{"description": "Web", "unit_amount": Decimal("50.00")}]),
        ):  # fmt: skip
            invoices.issue_invoice(invoices.create_draft_invoice(customer, lines=lines), email=False)
        draft = invoices.create_draft_invoice(us, lines=[{"description": "Draft", "unit_amount": Decimal("999")}])
    at = dt.datetime(2026, 5, 12, 9, tzinfo=dt.UTC)
    PaymentFactory(customer=us, currency=usd, amount=Decimal("107.00"), received_at=at)
    PaymentFactory(customer=us, currency=usd, amount=Decimal("7.00"), kind=Payment.Kind.REFUND, received_at=at)
    PaymentFactory(customer=us, currency=usd, amount=Decimal("30.00"), status=Payment.Status.FAILED, received_at=at)
    PaymentFactory(customer=de, currency=eur, amount=Decimal("59.50"), received_at=at)
    PaymentFactory(customer=de, currency=eur, amount=Decimal("1.00"), received_at=at + dt.timedelta(days=30))  # June
    CreditEntry.objects.create(customer=us, currency=usd, amount=Decimal("12.50"), reason="manual", created_at=at)
    return {"us": us, "de": de, "draft": draft}


def _csv(key):
    out = io.BytesIO()
    exports.write_export(key, MAY_FROM, MAY_TO, "csv", out)
    return list(csv.DictReader(io.StringIO(out.getvalue().decode())))


def test_tax_summary_adds_up_to_the_invoice_totals_per_currency(may):
    summary = {(r["country"], r["currency"], r["tax_rate"]): r for r in exports.tax_summary(MAY_FROM, MAY_TO)}
    us = summary[("US", "USD", Decimal("7.000"))]
    assert (us["taxable"], us["tax"], us["total"], us["lines"]) == (
        Decimal("115.00"), Decimal("8.05"), Decimal("123.05"), 3
    )  # fmt: skip
    de = summary[("DE", "EUR", Decimal("19.000"))]
    assert (de["taxable"], de["tax"], de["total"]) == (Decimal("50.00"), Decimal("9.50"), Decimal("59.50"))
    assert us["period"] == "2026-05" and us["reverse_charge"] is False
    invoice_rows = _csv("invoices")
    assert len(invoice_rows) == 3  # the draft is not exported
    for code in ("USD", "EUR"):
        from_invoices = sum(Decimal(r["Total"]) for r in invoice_rows if r["Currency"] == code)
        from_summary = sum(r["total"] for r in summary.values() if r["currency"] == code)
        assert from_invoices == from_summary
    assert sum(Decimal(r["Total"]) for r in invoice_rows if r["Currency"] == "USD") == Decimal("123.05")


def test_payments_export_matches_the_dashboard_revenue_to_the_cent(may):
    rows = _csv("payments")
    assert len(rows) == 4  # the June payment is outside the period; the failed one is listed, signed 0
    net = {}
    for r in rows:
        net[r["Currency"]] = net.get(r["Currency"], Decimal("0")) + Decimal(r["Signed amount"])
    revenue = queries.revenue_by_month(12, today=dt.date(2026, 5, 31))
    may_index = revenue["months"].index(MAY_FROM)
    assert net == {"USD": Decimal("100.00"), "EUR": Decimal("59.50")}
    assert {c: s[may_index] for c, s in revenue["by_currency"].items()} == net
    assert exports.payments_net_by_currency(MAY_FROM, MAY_TO) == net


def test_invoice_lines_and_credit_ledger_exports(may):
    lines = _csv("invoice_lines")
    assert [(r["Description"], r["Amount"], r["Tax"]) for r in lines if r["Currency"] == "USD"] == [
        ("VPS", "100.00", "7.00"), ("Game", "20.00", "1.40"), ("Coupon", "-5.00", "-0.35"),
    ]  # fmt: skip
    assert {r["Country"] for r in lines} == {"US", "DE"}
    credit = _csv("credit_ledger")
    assert [(r["Amount"], r["Reason"]) for r in credit] == [("12.50", "manual")]


def test_xlsx_keeps_exact_amounts(may):
    out = io.BytesIO()
    rows = exports.write_export("tax_summary", MAY_FROM, MAY_TO, "xlsx", out)
    sheet = load_workbook(io.BytesIO(out.getvalue()), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == tuple(exports.TAX_HEADERS)
    assert len(values) == rows + 1
    assert {(v[1], str(v[8])) for v in values[1:]} == {("US", "123.05"), ("DE", "59.5")}


def test_large_export_runs_as_a_job_with_progress_and_a_staff_only_download(may, staff_client, client, settings,
                                                                              tmp_path):  # fmt: skip
    settings.MEDIA_ROOT = tmp_path
    job = exports.start_export_job("invoice_lines", MAY_FROM, MAY_TO, "csv")
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE
    assert (job.rows_total, job.rows_done, job.progress_percent) == (4, 4, 100)
    assert job.file.name.startswith("exports/")
    url = reverse("admin:analytics_exportjob_download", args=[job.pk])
    response = staff_client.get(url)
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("Invoice,Issue date")
    assert len(body.strip().splitlines()) == 5
    anonymous = client.__class__().get(url)
    assert anonymous.status_code in (302, 403)
    # Running the task again leaves the finished job alone.
    exports.run_export_job(job.pk)
    assert ExportJob.objects.get(pk=job.pk).file.name == job.file.name


def test_export_page_streams_small_exports_and_queues_background_ones(may, staff_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    url = reverse("admin:analytics_exportjob_new")
    assert staff_client.get(url).status_code == 200
    data = {"kind": "payments", "file_format": "csv", "date_from": "2026-05-01", "date_to": "2026-05-31"}
    response = staff_client.post(url, data)
    assert response.status_code == 200
    assert 'filename="payments_20260501-20260531.csv"' in response["Content-Disposition"]
    assert len(b"".join(response.streaming_content).decode().strip().splitlines()) == 5
    queued = staff_client.post(url, {**data, "background": "on", "file_format": "xlsx"})
    assert queued.status_code == 302
    assert ExportJob.objects.get().status == ExportJob.Status.DONE
    bad = staff_client.post(url, {**data, "date_to": "2026-04-01"})
    assert "before the start date" in bad.content.decode()


def test_unknown_export_is_refused_with_a_clear_message(db):
    with pytest.raises(ValueError, match="no export called"):
        exports.start_export_job("ledger", MAY_FROM, MAY_TO, "csv")
