"""Small pieces every router uses: amounts as strings, date-range filters, the caller's own objects."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from core import money

from ..errors import ApiError, NotFound


def amount(value, currency: str) -> str | None:
    """An amount as a string with the currency's decimals (never a float)."""
    if value is None:
        return None
    return str(money.quantize(value, currency))


def plain(value) -> str:
    """A Decimal that is not money (quantity, tax rate, fraction), normalised without exponent."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def own(queryset: QuerySet, customer, what: str, **lookup):
    """The caller's object or 404 (never 403: another customer's object looks exactly like a missing one)."""
    found = queryset.filter(customer_id=getattr(customer, "pk", customer), **lookup).first()
    if found is None:
        raise NotFound(what)
    return found


def date_range(queryset: QuerySet, field: str, start: dt.date | None, end: dt.date | None) -> QuerySet:
    """Filter on `field` between two dates, both included; 422 when the range is reversed."""
    if start and end and start > end:
        raise ApiError(422, "invalid_request", "The start date is after the end date.",
                       fields={"date_from": ["Must be on or before date_to."]})  # fmt: skip
    is_datetime = queryset.model._meta.get_field(field).get_internal_type() == "DateTimeField"
    suffix = "__date" if is_datetime else ""
    if start:
        queryset = queryset.filter(**{f"{field}{suffix}__gte": start})
    if end:
        queryset = queryset.filter(**{f"{field}{suffix}__lte": end})
    return queryset
