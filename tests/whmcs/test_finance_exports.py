"""Finance exports of everything imported from WHMCS (issue 9): the back office's invoice, invoice
line, payment/refund, credit ledger and tax summary exports include the imported rows, and their
totals per currency equal WHMCS's own sums (less the rows the import report lists as skipped)."""

import csv
import datetime as dt
import io
from collections import defaultdict
from decimal import Decimal

import pytest

from core.analytics.exports import write_export
from core.billing.models import CreditEntry, Invoice, InvoiceLine, Payment
from integrations.whmcs.importer import import_whmcs
from integrations.whmcs.reconcile import BILLED

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db]
FROM, TO = dt.date(1990, 1, 1), dt.date(2100, 12, 31)
ZERO = Decimal("0.00")
CURRENCY = {1: "USD", 2: "EUR", 3: "GBP"}


def exported(key: str) -> list[dict]:
    out = io.BytesIO()
    write_export(key, FROM, TO, "csv", out)
    return list(csv.DictReader(io.StringIO(out.getvalue().decode())))


def per_currency(rows: list[dict], column: str, currency_column: str = "Currency") -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        sums[row[currency_column]] += Decimal(row[column])
    return dict(sums)


def whmcs_sums(conn, sql: str) -> dict[str, Decimal]:
    cur = conn.cursor()
    cur.execute(sql)
    sums = {CURRENCY[currency]: Decimal(total) for currency, total in cur.fetchall() if currency in CURRENCY}
    cur.close()
    return sums


def skipped(report, metric: str) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for (m, currency, _year), amount in report.skipped_money.items():
        if m == metric:
            sums[currency] += amount
    return sums


def minus(a: dict, b: dict) -> dict:
    return {k: v - b.get(k, ZERO) for k, v in a.items() if v - b.get(k, ZERO) != ZERO}


def nonzero(d: dict) -> dict:
    return {k: v for k, v in d.items() if v != ZERO}


@pytest.fixture
def imported(whmcs_source):
    report = import_whmcs(whmcs_source["url"], batch_size=50)
    assert report.is_reconciled, report.summary()
    return report


# Invoices as they count in finance: issued in WHMCS (not draft) and not cancelled, of a client
# that exists (the client's currency is the invoice's; '0' falls back to WHMCS's default, USD).
INVOICES = "FROM tblinvoices i JOIN tblclients c ON c.id = i.userid WHERE i.status NOT IN ('Draft', 'Cancelled')"
CLIENT_CURRENCY = "IF(c.currency IN (1, 2, 3), c.currency, 1)"


def test_invoice_and_line_exports_hold_every_imported_invoice_at_whmcs_totals(imported, whmcs_source):
    conn = whmcs_source["conn"]
    invoices = exported("invoices")
    imported_numbers = set(
        Invoice.objects.filter(whmcs_id__isnull=False, status__in=("issued", "paid")).values_list("number", flat=True)
    )
    assert imported_numbers and imported_numbers <= {row["Number"] for row in invoices}

    whmcs_total = whmcs_sums(conn, f"SELECT {CLIENT_CURRENCY}, SUM({BILLED}) {INVOICES} GROUP BY 1")  # noqa: S608
    assert nonzero(per_currency(invoices, "Total")) == nonzero(whmcs_total)
    whmcs_tax = whmcs_sums(conn, f"SELECT {CLIENT_CURRENCY}, SUM(i.tax + i.tax2) {INVOICES} GROUP BY 1")  # noqa: S608
    assert nonzero(per_currency(invoices, "Tax")) == nonzero(whmcs_tax)
    whmcs_credit = whmcs_sums(conn, f"SELECT {CLIENT_CURRENCY}, SUM(i.credit) {INVOICES} GROUP BY 1")  # noqa: S608
    assert nonzero(per_currency(invoices, "Credit applied")) == nonzero(whmcs_credit)
    assert len([r for r in invoices if r["Number"] in imported_numbers]) == len(imported_numbers)

    # Lines: every imported invoice's lines are there; per currency, lines plus tax add up to the totals.
    lines = exported("invoice_lines")
    assert {r["Invoice"] for r in lines} >= imported_numbers - set(
        Invoice.objects.filter(lines__isnull=True).values_list("number", flat=True)
    )
    assert len(lines) == InvoiceLine.objects.filter(invoice__number__in=imported_numbers).count()
    amounts, taxes = per_currency(lines, "Amount"), per_currency(lines, "Tax")
    assert nonzero({c: amounts.get(c, ZERO) + taxes.get(c, ZERO) for c in amounts}) == nonzero(whmcs_total)

    # Tax summary: taxable + tax = total per currency, tax as WHMCS charged it.
    summary = exported("tax_summary")
    assert nonzero(per_currency(summary, "Tax")) == nonzero(whmcs_tax)
    assert nonzero(per_currency(summary, "Total")) == nonzero(whmcs_total)


def test_payment_and_credit_exports_hold_every_imported_transaction_at_whmcs_sums(imported, whmcs_source):
    conn = whmcs_source["conn"]
    payments = exported("payments")
    ids = {str(pk) for pk in Payment.objects.filter(whmcs_id__isnull=False).values_list("pk", flat=True)}
    assert ids and ids <= {row["Payment ID"] for row in payments}
    assert {r["Kind"] for r in payments if r["Payment ID"] in ids} >= {"payment", "refund"}

    # WHMCS: money in and out per client currency; rows the report skipped carry their money in it.
    accounts = "FROM tblaccounts a LEFT JOIN tblclients c ON c.id = a.userid"
    currency = "IF(c.id IS NULL, a.currency, IF(c.currency IN (1, 2, 3), c.currency, 1))"
    paid = minus(
        whmcs_sums(conn, f"SELECT {currency}, SUM(a.amountin) {accounts} GROUP BY 1"), skipped(imported, "paid")
    )  # noqa: S608
    refunded = minus(
        whmcs_sums(conn, f"SELECT {currency}, SUM(a.amountout) {accounts} GROUP BY 1"),  # noqa: S608
        skipped(imported, "refunded"),
    )
    ours_in = per_currency([r for r in payments if r["Kind"] == "payment"], "Amount")
    ours_out = per_currency([r for r in payments if r["Kind"] == "refund"], "Amount")
    assert nonzero(ours_in) == paid
    assert nonzero(ours_out) == refunded
    net = {c: paid.get(c, ZERO) - refunded.get(c, ZERO) for c in set(paid) | set(refunded)}
    assert nonzero(per_currency(payments, "Signed amount")) == nonzero(net)
    fees = minus(whmcs_sums(conn, f"SELECT {currency}, SUM(a.fees) {accounts} GROUP BY 1"), skipped(imported, "fees"))  # noqa: S608
    signed_fees: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for r in payments:
        signed_fees[r["Currency"]] += Decimal(r["Fee"]) * (1 if r["Kind"] == "payment" else -1)
    assert nonzero(signed_fees) == fees

    credit = exported("credit_ledger")
    entries = {str(pk) for pk in CreditEntry.objects.filter(whmcs_id__isnull=False).values_list("pk", flat=True)}
    assert entries and entries <= {row["Entry ID"] for row in credit}
    whmcs_credit = minus(
        whmcs_sums(
            conn,
            "SELECT IF(c.currency IN (1, 2, 3), c.currency, 1), SUM(cr.amount) FROM tblcredit cr "
            "JOIN tblclients c ON c.id = cr.clientid GROUP BY 1",
        ),
        skipped(imported, "credit"),
    )
    assert nonzero(per_currency([r for r in credit if r["Entry ID"] in entries], "Amount")) == whmcs_credit
    # With the import's balance adjustments (reported) the ledger adds up to the balances WHMCS shows.
    balances = whmcs_sums(
        conn, "SELECT IF(c.currency IN (1, 2, 3), c.currency, 1), SUM(c.credit) FROM tblclients c GROUP BY 1"
    )
    assert nonzero(per_currency(credit, "Amount")) == nonzero(balances)
    adjusted = {i.whmcs_id for i in imported.issues if i.table == "tblclients" and "adjustment entry" in i.reason}
    assert len(credit) - len(entries) == len(adjusted) == 1
