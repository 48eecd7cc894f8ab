"""Template filters for the portal: one money format and one date format per locale (babel, as the PDF),
and the colour of a status badge.

    {% load portal_ui %}
    {{ invoice.total|money:invoice.currency_id }}   -> $1,234.50 / 1.234,50 €
    {{ invoice.issue_date|local_date }}            -> Dec 6, 2026 / 06.12.2026
    {{ job.created_at|local_datetime }}            -> Dec 6, 2026, 5:01 AM (in the site's time zone)
    <span class="badge badge-{{ service.status|status_tone }}">…</span>
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django import template
from django.utils import timezone, translation
from django.utils.safestring import mark_safe

register = template.Library()

# Every status word used by the portal's objects, by what it means to the customer.
STATUS_TONES = {
    "success": {"active", "paid", "succeeded", "completed", "verified", "on"},
    "warning": {"issued", "pending", "provisioning", "past_due", "trialing", "awaiting_stock", "partially_refunded",
                "requires_action", "processing", "expiring"},
    "danger": {"suspended", "failed", "overdue", "terminated", "cancelled", "void", "revoked", "expired",
               "banned", "declined", "refunded", "off"},
    "info": {"draft", "ended", "scheduled"},
}  # fmt: skip


def current_locale() -> str:
    """The babel locale of the active language (LANGUAGE_CODE unless a request switched it)."""
    from core.billing.services.pdf import babel_locale

    language = translation.get_language()
    return translation.to_locale(language) if language else babel_locale()


@register.filter
def money(value, currency) -> str:
    """An amount in its currency, formatted for the locale; '—' for no amount."""
    if value is None or value == "":
        return "—"
    from core.billing.services.pdf import format_money

    code = getattr(currency, "code", currency) or ""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return format_money(amount, str(code), locale=current_locale())


@register.filter
def local_date(value) -> str:
    if not value:
        return "—"
    from babel.dates import format_date

    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return format_date(value, format="medium", locale=current_locale())


@register.filter
def local_datetime(value) -> str:
    if not value:
        return "—"
    from babel.dates import format_date, format_time, get_datetime_format

    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return local_date(value)
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    locale = current_locale()
    # The locale's own way of joining a date and a time ("{1}, {0}" in English), without seconds.
    pattern = get_datetime_format("medium", locale=locale)
    pattern = getattr(pattern, "pattern", pattern)
    return (
        str(pattern)
        .replace("{1}", format_date(value, "medium", locale=locale))
        .replace("{0}", format_time(value, "short", locale=locale))
    )


@register.filter
def status_tone(value) -> str:
    """success | warning | danger | info | neutral, for `badge-<tone>`."""
    word = str(getattr(value, "value", value) or "").lower()
    for tone, words in STATUS_TONES.items():
        if word in words:
            return tone
    return "neutral"


@register.simple_tag(takes_context=True)
def nav_current(context, *names) -> str:
    """`aria-current="page"` when the current URL's name is one of `names` (marks the menu entry)."""
    match = getattr(context.get("request"), "resolver_match", None)
    if match is not None and match.url_name in names:
        return mark_safe('aria-current="page"')
    return ""
