"""Finance exports: invoices, invoice lines, payments and refunds, the credit ledger, and a tax summary.

Each export is a header row and a generator of rows read in primary-key ranges (`pk >= a AND pk < b`
with the period's filters, b - a = CHUNK), so memory stays flat however many rows there are and every
page is a short range read of the primary key, whatever index the period's filter could use. `write_export` writes CSV
(csv module) or XLSX (exports_xlsx.StreamingXlsx, rows streamed into the zip) to any binary file. Small exports stream
straight to the browser (backoffice.exports); large ones run as ExportJob through the django-q2
task core.analytics.tasks.run_export_job, which records progress and stores the file under
MEDIA_ROOT/exports/ for a staff-only download.

Periods are inclusive dates: invoices and lines by issue date, payments by the day received
(UTC), credit entries by the day created. Draft and void invoices are left out; credit notes are
in (their amounts are negative). Amounts are written as plain decimal strings, never floats.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncMonth

from core import clock

CHUNK = 2000
COUNTED_INVOICES = ("issued", "paid")
MAX_ROWS_INLINE = 50_000  # above this the export form queues a job instead of streaming
XLSX_SHEET_ROWS = 1_000_000  # a worksheet holds 1,048,576 rows: the rest go on a second sheet


@dataclass(frozen=True)
class Export:
    key: str
    label: str
    headers: list[str]
    rows: Callable[[dt.date, dt.date], Iterator[list]]
    count: Callable[[dt.date, dt.date], int]


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _end(day: dt.date) -> dt.datetime:
    return _start(day + dt.timedelta(days=1))


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


# Values the csv module writes as _text would (None as "", the rest with str()).
_CSV_AS_IS = frozenset({str, int, bool, type(None), dt.date})


def _id_ranges(qs, size: int = CHUNK):
    """(first, last + 1) primary-key ranges of `size` ids covering the rows of `qs`."""
    bounds = qs.order_by().aggregate(lo=Min("pk"), hi=Max("pk"))
    if bounds["lo"] is None:
        return
    for start in range(bounds["lo"], bounds["hi"] + 1, size):
        yield start, start + size


def _keyset(qs, fields: tuple[str, ...], size: int = CHUNK):
    """Rows of `qs` (values_list of pk + fields) in primary-key ranges: each page is a
    `pk >= a AND pk < b ... ORDER BY pk` query, a short range read whatever the filter. (A
    `pk > last ORDER BY pk LIMIT n` page let MariaDB pick the filter's index and sort the whole period
    for every page; QuerySet.iterator() cannot stream on MySQL: the driver buffers the whole result.)"""
    for start, stop in _id_ranges(qs, size):
        yield from qs.filter(pk__gte=start, pk__lt=stop).order_by("pk").values_list("pk", *fields)


# --- invoices -----------------------------------------------------------------------------------


def _invoices(date_from, date_to):
    from core.billing.models import Invoice

    return Invoice.objects.filter(status__in=COUNTED_INVOICES, issue_date__gte=date_from, issue_date__lte=date_to)


INVOICE_HEADERS = ["Number", "Kind", "Status", "Issue date", "Due date", "Customer ID", "Customer", "Country",
                   "VAT ID", "Currency", "Subtotal", "Discount", "Tax", "Total", "Paid", "Credit applied", "Refunded",
                   "Reverse charge", "Paid at"]  # fmt: skip


def invoice_rows(date_from, date_to):
    fields = ("number", "kind", "status", "issue_date", "due_date", "customer_id", "billing_details", "currency_id",
              "subtotal", "discount_total", "tax_total", "total", "amount_paid", "credit_applied", "amount_refunded",
              "reverse_charge", "paid_at")  # fmt: skip
    for _pk, *row in _keyset(_invoices(date_from, date_to), fields):
        details = row[6] or {}
        yield [row[0], row[1], row[2], row[3], row[4], row[5], details.get("name", ""), details.get("country", ""),
               details.get("vat_id", ""), *row[7:15], "yes" if row[15] else "no", row[16]]  # fmt: skip


# --- invoice lines ------------------------------------------------------------------------------

LINE_HEADERS = ["Invoice", "Issue date", "Currency", "Country", "Position", "Kind", "Description", "Quantity",
                "Unit amount", "Amount", "Tax rate %", "Tax", "Tax name", "Product ID", "Period start",
                "Period end"]  # fmt: skip


def _lines(date_from, date_to):
    from core.billing.models import InvoiceLine

    return InvoiceLine.objects.filter(
        invoice__status__in=COUNTED_INVOICES, invoice__issue_date__gte=date_from, invoice__issue_date__lte=date_to
    )


def line_rows(date_from, date_to):
    # Per range of invoice ids: the period's invoices in it (their own primary key), then the lines
    # of that range by invoice id (the line table's invoice index), keeping those of the period's
    # invoices. No join: a join filtered on the invoice side let MariaDB sort every line of the period
    # again for each page, and no IN list of ids (Django prepares every id of it in Python).
    from core.billing.models import InvoiceLine

    invoices = _invoices(date_from, date_to).annotate(country=KeyTextTransform("country", "billing_details"))
    line_fields = ("invoice_id", "position", "kind", "description", "quantity", "unit_amount", "amount", "tax_rate",
                   "tax_amount", "tax_name", "product_id", "period_start", "period_end")  # fmt: skip
    for start, stop in _id_ranges(invoices, max(1, CHUNK // 2)):
        page = invoices.filter(pk__gte=start, pk__lt=stop).values_list("pk", "number", "issue_date", "currency_id",
                                                                      "country")  # fmt: skip
        head = {
            pk: (number, issued, currency, (country or "").upper()) for pk, number, issued, currency, country in page
        }
        if not head:
            continue
        lines = (
            InvoiceLine.objects.filter(invoice_id__gte=min(head), invoice_id__lte=max(head))
            .order_by("invoice_id", "position", "id").values_list(*line_fields)
        )  # fmt: skip
        for invoice_id, *rest in lines:
            invoice = head.get(invoice_id)
            if invoice is not None:
                yield [*invoice, *rest]


# --- payments and refunds -----------------------------------------------------------------------

PAYMENT_HEADERS = ["Payment ID", "Kind", "Status", "Received at", "Customer ID", "Invoice", "Gateway",
                   "Gateway transaction ID", "Currency", "Amount", "Signed amount", "Fee", "Disputed",
                   "Original payment ID", "Reference"]  # fmt: skip


def _payments(date_from, date_to):
    from core.billing.models import Payment

    return Payment.objects.filter(received_at__gte=_start(date_from), received_at__lt=_end(date_to))


def payment_rows(date_from, date_to):
    fields = ("kind", "status", "received_at", "customer_id", "invoice__number", "gateway", "gateway_transaction_id",
              "currency_id", "amount", "fee", "is_disputed", "original_payment_id", "reference")  # fmt: skip
    for row in _keyset(_payments(date_from, date_to), fields):
        signed = row[9] if row[1] == "payment" else -row[9]
        yield [*row[:10], signed if row[2] == "succeeded" else Decimal("0.00"), row[10],
               "yes" if row[11] else "no", row[12], row[13]]  # fmt: skip


# --- credit ledger ------------------------------------------------------------------------------

CREDIT_HEADERS = ["Entry ID", "Created at", "Customer ID", "Currency", "Amount", "Reason", "Description", "Invoice",
                  "Payment ID"]  # fmt: skip


def _credit(date_from, date_to):
    from core.billing.models import CreditEntry

    return CreditEntry.objects.filter(created_at__gte=_start(date_from), created_at__lt=_end(date_to))


def credit_rows(date_from, date_to):
    fields = ("created_at", "customer_id", "currency_id", "amount", "reason", "description", "invoice__number",
              "payment_id")  # fmt: skip
    for row in _keyset(_credit(date_from, date_to), fields):
        yield list(row)


# --- tax summary --------------------------------------------------------------------------------

TAX_HEADERS = ["Period", "Country", "Currency", "Tax rate %", "Reverse charged", "Lines", "Taxable", "Tax",
               "Total"]  # fmt: skip


def tax_summary(date_from, date_to) -> list[dict]:
    """Per month of issue, billing country, currency, tax rate and reverse charge: taxable amount and tax.

    Taxable is the sum of line amounts (discount lines are negative, credit notes too), so
    taxable + tax over all rows equals the sum of the invoices' totals in the period.
    """
    rows = (
        _lines(date_from, date_to)
        .annotate(period=TruncMonth("invoice__issue_date"),
                  country=KeyTextTransform("country", "invoice__billing_details"))
        .values("period", "country", "invoice__currency_id", "tax_rate", "invoice__reverse_charge")
        .annotate(lines=Count("id"), taxable=Sum("amount"), tax=Sum("tax_amount"))
        .order_by("period", "country", "invoice__currency_id", "tax_rate", "invoice__reverse_charge")
    )  # fmt: skip
    out = []
    for r in rows:
        period = r["period"].date() if isinstance(r["period"], dt.datetime) else r["period"]
        out.append({
            "period": f"{period:%Y-%m}", "country": (r["country"] or "").upper(), "currency": r["invoice__currency_id"],
            "tax_rate": r["tax_rate"], "reverse_charge": r["invoice__reverse_charge"], "lines": r["lines"],
            "taxable": r["taxable"], "tax": r["tax"], "total": r["taxable"] + r["tax"],
        })  # fmt: skip
    return out


def tax_rows(date_from, date_to):
    for r in tax_summary(date_from, date_to):
        yield [r["period"], r["country"], r["currency"], r["tax_rate"], "yes" if r["reverse_charge"] else "no",
               r["lines"], r["taxable"], r["tax"], r["total"]]  # fmt: skip


def _tax_count(date_from, date_to) -> int:
    return len(tax_summary(date_from, date_to))


EXPORTS: dict[str, Export] = {
    e.key: e
    for e in (
        Export("invoices", "Invoices", INVOICE_HEADERS, invoice_rows, lambda a, b: _invoices(a, b).count()),
        Export("invoice_lines", "Invoice lines", LINE_HEADERS, line_rows, lambda a, b: _lines(a, b).count()),
        Export("payments", "Payments and refunds", PAYMENT_HEADERS, payment_rows, lambda a, b: _payments(a, b).count()),
        Export("credit_ledger", "Credit ledger", CREDIT_HEADERS, credit_rows, lambda a, b: _credit(a, b).count()),
        Export("tax_summary", "Tax summary", TAX_HEADERS, tax_rows, _tax_count),
    )
}
FORMATS = ("csv", "xlsx")


def get_export(key: str) -> Export:
    try:
        return EXPORTS[key]
    except KeyError:
        raise ValueError(f"There is no export called {key!r}; choose one of {', '.join(EXPORTS)}.") from None


def filename(key: str, date_from, date_to, file_format: str) -> str:
    return f"{key}_{date_from:%Y%m%d}-{date_to:%Y%m%d}.{file_format}"


def write_export(key: str, date_from, date_to, file_format: str, out, progress=None) -> int:
    """Write the export to the binary file `out`; call progress(rows_done) every CHUNK rows. Returns rows."""
    export = get_export(key)
    if file_format not in FORMATS:
        raise ValueError("The format must be csv or xlsx.")
    done = 0
    if file_format == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
        writer = csv.writer(text)
        writer.writerow(export.headers)
        as_is = _CSV_AS_IS
        batch = []
        for row in export.rows(date_from, date_to):
            batch.append([v if type(v) in as_is else _text(v) for v in row])
            if len(batch) == CHUNK:
                writer.writerows(batch)
                done += CHUNK
                batch = []
                if progress:
                    progress(done)
        writer.writerows(batch)
        done += len(batch)
        text.flush()
        text.detach()
    else:
        from .exports_xlsx import StreamingXlsx

        book = StreamingXlsx(out)
        for row in export.rows(date_from, date_to):
            if done % XLSX_SHEET_ROWS == 0:
                book.add_sheet(export.label[:28] + (f" {done // XLSX_SHEET_ROWS + 1}" if done else ""))
                book.append(export.headers)
            book.append(row)  # amounts as their exact digits, dates and times as Excel dates
            done += 1
            if progress and done % CHUNK == 0:
                progress(done)
        if not done:
            book.add_sheet(export.label[:31])
            book.append(export.headers)
        book.close()
    if progress:
        progress(done)
    return done


class _Echo:
    def write(self, value):
        return value


def stream_csv(key: str, date_from, date_to) -> Iterator[str]:
    """CSV lines one by one, for a StreamingHttpResponse."""
    export = get_export(key)
    writer = csv.writer(_Echo())
    yield writer.writerow(export.headers)
    for row in export.rows(date_from, date_to):
        yield writer.writerow([_text(v) for v in row])


# --- jobs ---------------------------------------------------------------------------------------


def start_export_job(key: str, date_from, date_to, file_format: str, *, actor=None):
    """Create an ExportJob and queue it (runs inline when Q_CLUSTER sync is on, as in tests)."""
    from django_q.tasks import async_task

    from core.audit.services import record

    from .models import ExportJob

    get_export(key)
    if file_format not in FORMATS:
        raise ValueError("The format must be csv or xlsx.")
    if date_to < date_from:
        raise ValueError("The end date is before the start date.")
    job = ExportJob.objects.create(kind=key, file_format=file_format, date_from=date_from, date_to=date_to,
                                   requested_by=actor)  # fmt: skip
    record("analytics.export", job, actor=actor, data={"kind": key, "from": str(date_from), "to": str(date_to)})
    async_task("core.analytics.tasks.run_export_job", job.pk, task_name=f"export-{job.uuid}")
    return job


def run_export_job(job_id: int, on_progress=None) -> None:
    """Build the job's file under MEDIA_ROOT/exports/. Safe to run twice: a finished job is left alone,
    a rerun of a failed or interrupted one starts the file afresh. on_progress(rows_done), if given, is
    called beside each progress update (the benchmark samples memory with it)."""
    import tempfile

    from django.core.files import File

    from .models import ExportJob

    job = ExportJob.objects.get(pk=job_id)
    if job.status == ExportJob.Status.DONE:
        return
    export = get_export(job.kind)
    total = export.count(job.date_from, job.date_to)
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING, rows_total=total, rows_done=0,
                                               error="")  # fmt: skip

    def progress(done):
        ExportJob.objects.filter(pk=job.pk).update(rows_done=done)
        if on_progress:
            on_progress(done)

    try:
        with tempfile.TemporaryFile() as tmp:
            write_export(job.kind, job.date_from, job.date_to, job.file_format, tmp, progress)
            tmp.seek(0)
            name = f"{job.uuid}_{filename(job.kind, job.date_from, job.date_to, job.file_format)}"
            job.refresh_from_db()
            job.file.save(name, File(tmp), save=False)
    except Exception as exc:
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.FAILED, error=str(exc)[:2000],
                                                   finished_at=clock.now())  # fmt: skip
        raise
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.DONE, file=job.file.name,
                                               finished_at=clock.now())  # fmt: skip


def payments_net_by_currency(date_from, date_to) -> dict[str, Decimal]:
    """Net succeeded payments per currency in the period (the dashboard's revenue definition)."""
    from core.billing.models import Payment

    rows = (
        _payments(date_from, date_to).filter(status=Payment.Status.SUCCEEDED).values("currency_id")
        .annotate(inflow=Sum("amount", filter=Q(kind=Payment.Kind.PAYMENT), default=Decimal("0")),
                  outflow=Sum("amount", filter=~Q(kind=Payment.Kind.PAYMENT), default=Decimal("0")))
        .order_by()
    )  # fmt: skip
    return {r["currency_id"]: r["inflow"] - r["outflow"] for r in rows}


__all__ = ["EXPORTS", "payments_net_by_currency", "run_export_job", "start_export_job", "write_export"]
