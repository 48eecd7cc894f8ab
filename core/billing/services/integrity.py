"""Proof that the books were not touched: every number series gapless and unique, every issued
invoice unchanged since issue (snapshot hash), totals equal to lines plus tax."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from core.billing.models import Invoice, InvoiceLine, NumberSequence
from core.billing.services import imported, numbering

ZERO = Decimal("0")


def check_invoices(*, chunk_size: int = 2000) -> list[str]:
    """Every finding as a sentence; an empty list means the books are consistent."""
    findings: list[str] = []
    findings += _check_series()
    issued = Invoice.objects.exclude(status=Invoice.Status.DRAFT).order_by("pk")
    last = 0
    while True:
        chunk = list(issued.filter(pk__gt=last)[:chunk_size])
        if not chunk:
            break
        last = chunk[-1].pk
        lines = defaultdict(list)
        for line in InvoiceLine.objects.filter(invoice_id__in=[i.pk for i in chunk]).order_by("position", "id"):
            lines[line.invoice_id].append(line)
        for invoice in chunk:
            findings += _check_invoice(invoice, lines.get(invoice.pk, []))
    return findings


def _check_invoice(invoice: Invoice, lines: list[InvoiceLine]) -> list[str]:
    found = []
    name = invoice.number or f"id {invoice.pk}"
    if invoice.whmcs_id is None and invoice.snapshot_hash != invoice.compute_snapshot_hash(lines):
        found.append(f"Invoice {name} changed after issue (snapshot hash differs).")
    line_sum = sum((ln.amount for ln in lines), ZERO)
    tax_sum = sum((ln.tax_amount for ln in lines), ZERO)
    if invoice.tax_total != tax_sum:
        found.append(f"Invoice {name}: tax total {invoice.tax_total} is not the sum of line tax {tax_sum}.")
    if invoice.total != line_sum + tax_sum:
        found.append(f"Invoice {name}: total {invoice.total} is not lines {line_sum} plus tax {tax_sum}.")
    return found


def _check_series() -> list[str]:
    found = []
    floors: dict[str, dict[int, int]] = {}
    for seq in NumberSequence.objects.all():
        qs = Invoice.objects.filter(series=seq.series).exclude(status=Invoice.Status.DRAFT)
        if seq.year:
            qs = qs.filter(issue_date__year=seq.year)
        numbers = list(qs.values_list("number", flat=True))
        label = f"{seq.series} {seq.year or ''}".strip()
        if len(numbers) != len(set(numbers)):
            found.append(f"Series {label}: duplicate numbers.")
        expected = set()
        # Numbers up to the highest imported one our format could produce were taken by imported
        # invoices (billing.services.imported); our series continues after them.
        if seq.series not in floors:
            floors[seq.series] = imported.imported_floors(seq.series)
        floor = floors[seq.series].get(seq.year, 0)
        for n in range(floor + 1, seq.last_value + 1):
            issue = _any_date_in(seq.year)
            expected.add(numbering.format_number(seq.format, seq=n, year=seq.year, issue_date=issue))
        present = set(numbers)
        missing = sorted(expected - present)
        extra = sorted(present - expected)
        if missing:
            found.append(f"Series {label}: {len(missing)} numbers missing (gap), first {missing[0]}.")
        if extra:
            found.append(f"Series {label}: {len(extra)} numbers outside the sequence, first {extra[0]}.")
    return found


def _any_date_in(year: int):
    import datetime as dt

    return dt.date(year or dt.date.today().year, 1, 1)
