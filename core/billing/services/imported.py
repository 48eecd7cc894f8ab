"""Invoices imported from another system (WHMCS) next to our own numbering.

Imported invoices keep the numbers customers saw, in their own series ('whmcs'). Should one of
those numbers also be a number our format can produce (a WHMCS install numbered 'INV-2025-000123'
like ours, or our format set to '{seq}' to carry on WHMCS's sequential numbers), our series must
continue after it: `continue_numbering_after_imported` moves the sequence past the highest such
number, and `imported_floors` tells check_invoices that the numbers up to it are not gaps.
"""

from __future__ import annotations

import re

from django.db import transaction

from core.billing.models import Invoice, NumberSequence
from core.billing.services import numbering


def _pattern(fmt: str) -> re.Pattern:
    parts, pos = [], 0
    for match in re.finditer(r"\{(\w+)(?::[^}]*)?\}", fmt):
        parts.append(re.escape(fmt[pos : match.start()]))
        name = match.group(1)
        parts.append({"seq": r"(?P<seq>\d+)", "year": r"(?P<year>\d{4})", "month": r"\d{1,2}"}.get(name, r".+?"))
        pos = match.end()
    parts.append(re.escape(fmt[pos:]))
    return re.compile("^" + "".join(parts) + "$")


def imported_numbers_in_format(series: str = numbering.INVOICE) -> dict[int, int]:
    """Highest sequence per series year among imported invoice numbers that our format could produce."""
    fmt = numbering.series_format(series)
    pattern = _pattern(fmt)
    highest: dict[int, int] = {}
    rows = Invoice.objects.filter(whmcs_id__isnull=False).values_list("number", "issue_date")
    for number, issue_date in rows.iterator(chunk_size=5000):
        match = pattern.match(number or "")
        if not match or not issue_date:
            continue
        year_text = match.groupdict().get("year")
        year = numbering.series_year(issue_date.replace(year=int(year_text)) if year_text else issue_date)
        highest[year] = max(highest.get(year, 0), int(match.group("seq")))
    return highest


def imported_floors(series: str) -> dict[int, int]:
    """{series year: highest number taken by imported invoices}; empty for a series without a format."""
    try:
        return imported_numbers_in_format(series)
    except ValueError:
        return {}


@transaction.atomic
def continue_numbering_after_imported(series: str = numbering.INVOICE) -> dict[int, int]:
    """Move our sequence past every imported number our format could produce; returns {year: last value}."""
    moved = {}
    for year, highest in imported_numbers_in_format(series).items():
        seq, _ = NumberSequence.objects.select_for_update().get_or_create(
            series=series, year=year, defaults={"format": numbering.series_format(series)}
        )
        if seq.last_value < highest:
            seq.last_value = highest
            seq.save(update_fields=["last_value"])
            moved[year] = highest
    return moved
