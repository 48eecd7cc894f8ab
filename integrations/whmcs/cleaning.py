"""Repair rules for the dirty data a years-old WHMCS database holds.

Each function returns the repaired value and, when it had to repair, the reason the report lists.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

ZERO = Decimal("0.00")
_CENT = Decimal("0.01")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2}))?")
# Typical UTF-8 read as latin-1 ("MÃ¼ller", "Ã©", "â€™"): lead bytes 0xC2-0xF4 shown as latin-1/cp1252.
_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u2018-\u203a\u0152-\u0178\u20ac]")


def parse_date(raw) -> tuple[dt.date | None, str | None]:
    """A stored date/datetime string as a date. Zero dates mean 'none'; an impossible day is clamped."""
    value, problem = parse_datetime(raw)
    return (value.date() if value else None), problem


def parse_datetime(raw) -> tuple[dt.datetime | None, str | None]:
    """A stored date/datetime string as an aware UTC datetime (WHMCS stores server-local time; UTC assumed)."""
    if raw is None:
        return None, None
    if isinstance(raw, dt.datetime):
        return raw.replace(tzinfo=dt.UTC), None
    if isinstance(raw, dt.date):
        return dt.datetime(raw.year, raw.month, raw.day, tzinfo=dt.UTC), None
    return _parse_text(str(raw))


@functools.lru_cache(maxsize=65536)  # a history repeats the same dates many times
def _parse_text(raw: str) -> tuple[dt.datetime | None, str | None]:
    match = _DATE.match(str(raw))
    if not match:
        return None, f"unreadable date {raw!r}"
    year, month, day = (int(g) for g in match.groups()[:3])
    hour, minute, second = (int(g or 0) for g in match.groups()[3:])
    if year == 0 and month == 0 and day == 0:
        return None, None
    if not (1 <= month <= 12) or year < 1970 or year > 2100 or day < 1:
        return None, f"impossible date {raw!r}"
    last = calendar.monthrange(year, month)[1]
    problem = None
    if day > last:
        problem = f"impossible date {raw!r} clamped to the month's last day"
        day = last
    try:
        return dt.datetime(year, month, day, min(hour, 23), min(minute, 59), min(second, 59), tzinfo=dt.UTC), problem
    except ValueError:
        return None, f"impossible date {raw!r}"


def fix_text(value, max_length: int | None = None) -> tuple[str, str | None]:
    """Text with latin-1 mojibake undone (when it round-trips) and cut to `max_length`."""
    text = "" if value is None else str(value)
    problem = None
    if _MOJIBAKE.search(text):
        for codec in ("cp1252", "latin-1"):
            try:
                repaired = text.encode(codec).decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                continue
            problem = f"latin-1 mojibake repaired ({text!r} -> {repaired!r})"
            text = repaired
            break
    if max_length is not None and len(text) > max_length:
        text = text[:max_length]
    return text, problem


def clean_email(value) -> str | None:
    """The address lower-cased, or None when it is not a valid email address."""
    email = (value or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        return None
    return email


def money(value) -> Decimal:
    if value.__class__ is Decimal:  # what the driver gives for DECIMAL columns
        return value.quantize(_CENT)
    if value is None or value == "":
        return ZERO
    return Decimal(str(value)).quantize(_CENT)
