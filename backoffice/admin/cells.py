"""List cells built in Python for the big changelists (invoices, payments, customers, services).

Unfold's `@display(header=True)` and `@display(label=...)` render a template per cell: on a page of
100 rows with three such columns that is 300 template renders, most of a list's time. These
functions return the same markup (Unfold's display_header.html and label.html) from format_html;
a column uses a plain `@display(description=..., ordering=...)` and returns `header(...)` or
`badge(...)`.
"""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

_BADGE_BASE = "inline-block font-semibold rounded-default text-[11px] uppercase whitespace-nowrap h-6 leading-6 px-2"
_BADGE_COLOURS = {
    "info": "bg-blue-100 text-blue-700 dark:bg-blue-500/20 dark:text-blue-400",
    "danger": "bg-red-100 text-red-700 dark:bg-red-500/20 dark:text-red-400",
    "warning": "bg-orange-100 text-orange-700 dark:bg-orange-500/20 dark:text-orange-400",
    "success": "bg-green-100 text-green-700 dark:bg-green-500/20 dark:text-green-400",
    "primary": "bg-primary-100 text-primary-700 dark:bg-primary-500/20 dark:text-primary-400",
}
_BADGE_GREY = "bg-base-500/8 text-base-700 dark:bg-base-500/20 dark:text-base-200"
# One class string per colour, built once.
_BADGE_CLASS = {kind: f"{_BADGE_BASE} {colour}" for kind, colour in _BADGE_COLOURS.items()}


def header(title, subtitle=None) -> SafeString:
    """A two-line cell: the title, the subtitle in grey under it (Unfold's header cell)."""
    top = format_html('<strong class="block font-normal">{}</strong>', title) if title else ""
    under = format_html('<p class="text-base-500">{}</p>', subtitle) if subtitle else ""
    return format_html(
        '<span class="flex gap-4 items-center"><span class="flex flex-col text-start">{}{}</span></span>', top, under
    )


def badge(value: str, text, colours: dict[str, str]) -> SafeString:
    """A coloured status badge: `colours` maps the value to info/success/warning/danger/primary (else grey)."""
    if not text:
        return mark_safe("-")
    css = _BADGE_CLASS.get(colours.get(value, ""), f"{_BADGE_BASE} {_BADGE_GREY}")
    return format_html('<span class="{}">{}</span>', css, text)
