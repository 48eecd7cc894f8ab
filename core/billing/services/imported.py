"""Invoices imported from another system (WHMCS) next to our own numbering.

Imported invoices keep the numbers customers saw, in their own series ('whmcs'). Should one of
those numbers also be a number our format can produce (a WHMCS install numbered 'INV-2025-000123'
like ours, or our format set to '{seq}' to carry on WHMCS's sequential numbers), our series must
continue after it: `continue_numbering_after_imported` moves the sequence past the highest such
number, and `imported_floors` tells check_invoices that the numbers up to it are not gaps.
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.db import transaction
from django.db.models import Q

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


# --- Cutover: who bills an imported customer ------------------------------------------------------
#
# During the parallel-run weeks WHMCS keeps billing: it issues the renewals and sends the reminders,
# and each delta import brings its invoices and next due dates over. Our billing run must not bill the
# same periods a second time, so imported subscriptions (whmcs_id set) are neither renewed nor moved
# on, and imported invoices get no reminders, until BILLING["IMPORTED_BILLING_FROM"] (the cutover
# moment, an ISO date or datetime; unset = WHMCS still bills). From then on they are billed like ours.


def imported_billing_from() -> dt.datetime | None:
    value = settings.BILLING.get("IMPORTED_BILLING_FROM")
    if not value:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time.min)
    else:
        text = str(value).strip()
        moment = dt.datetime.fromisoformat(text) if "T" in text or " " in text else None
        if moment is None:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time.min)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def imported_billed_here(now: dt.datetime) -> bool:
    """True once the cutover moment has passed: our run bills imported subscriptions too."""
    start = imported_billing_from()
    return start is not None and now >= start


def billed_here_q(now: dt.datetime) -> Q:
    """Filter for subscriptions (or invoices) our run is responsible for at `now`."""
    return Q() if imported_billed_here(now) else Q(whmcs_id__isnull=True)
