"""Invoice PDFs (WeasyPrint), rendered from the frozen snapshot on the invoice row, never from live data."""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string

from core import money
from core.billing.models import Invoice

LOGO_FALLBACK = Path(settings.BASE_DIR) / "templates" / "billing" / "logo.svg"


def babel_locale() -> str:
    return settings.BILLING.get("LOCALE") or settings.LANGUAGE_CODE.replace("-", "_")


def format_money(value, currency: str, *, locale: str | None = None) -> str:
    """`$1,234.50`, `1.234,50 €`, `¥500`: the amount quantised to the currency, formatted for the locale."""
    from babel.numbers import format_currency

    amount = money.quantize(value, currency)
    try:
        # currency_digits: CLDR's minor units per currency (JPY 0, KWD 3), the same as core.money's ISO table.
        return format_currency(amount, currency, locale=locale or babel_locale(), currency_digits=True)
    except (ValueError, LookupError):
        return money.format_amount(amount, currency)


def plain_number(value: Decimal | str | int) -> str:
    """A decimal as people write it: `20`, `7.25`, `19`, `0`; never `2E+1` nor `20.000`.

    `Decimal.normalize()` alone drops trailing zeros by switching to exponent notation for
    whole tens (Decimal("20.000").normalize() is 2E+1); the "f" format never uses an exponent.
    """
    text = format(Decimal(str(value)).normalize(), "f")
    return "0" if text == "-0" else text


def format_rate(rate: Decimal | str | int) -> str:
    """A tax rate in percent without its sign: `20`, `7.25`, `0`."""
    return plain_number(rate)


def tax_label(name: str, rate: str) -> str:
    """`VAT 20%` from a rate's name and formatted rate, without repeating a rate the name already holds."""
    name = (name or "Tax").strip()
    return name if f"{rate}%" in name.replace(" %", "%") else f"{name} {rate}%"


def _logo_data_uri() -> str:
    configured = settings.COMPANY.get("logo", "")
    path = Path(configured) if configured else LOGO_FALLBACK
    if configured and re.match(r"^(https?:|data:)", configured):
        return configured
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    mime = "image/svg+xml" if path.suffix == ".svg" else f"image/{path.suffix.lstrip('.') or 'png'}"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def invoice_context(invoice: Invoice) -> dict:
    currency = invoice.currency_id

    def fmt(value):
        return format_money(value, currency)

    lines = [
        {"description": ln.description, "quantity": plain_number(ln.quantity), "unit": fmt(ln.unit_amount),
         "amount": fmt(ln.amount), "tax_rate": format_rate(ln.tax_rate), "kind": ln.kind,
         "period": (f"{ln.period_start:%Y-%m-%d} – {ln.period_end:%Y-%m-%d}" if ln.period_start and ln.period_end else "")}
        for ln in invoice.lines.order_by("position", "id")
    ]  # fmt: skip
    breakdown = [
        {"name": row["name"], "rate": format_rate(row["rate"]), "label": tax_label(row["name"], format_rate(row["rate"])),
         "base": fmt(Decimal(row["base"])), "tax": fmt(Decimal(row["tax"]))}
        for row in invoice.tax_breakdown
    ]  # fmt: skip
    return {
        "invoice": invoice,
        "seller": invoice.seller_details or settings.COMPANY,
        "buyer": invoice.billing_details,
        "logo": _logo_data_uri(),
        "lines": lines,
        "breakdown": breakdown,
        "subtotal": fmt(invoice.subtotal),
        "discount_total": fmt(invoice.discount_total) if invoice.discount_total else "",
        "tax_total": fmt(invoice.tax_total),
        "total": fmt(invoice.total),
        "amount_paid": fmt(invoice.amount_paid + invoice.credit_applied),
        "amount_due": fmt(max(invoice.amount_due, Decimal("0"))),
        "is_paid": invoice.status == Invoice.Status.PAID,
        "is_void": invoice.status == Invoice.Status.VOID,
        "is_credit_note": invoice.kind == Invoice.Kind.CREDIT_NOTE,
    }


def _url_fetcher():
    """Only data: URIs are rendered; a PDF must never fetch from the network or the disk."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, timeout=5)


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice as PDF bytes. Drafts render with a DRAFT mark (previews only; they are never sent)."""
    from weasyprint import HTML

    html = render_to_string("billing/invoice_pdf.html", invoice_context(invoice))
    return HTML(string=html, base_url=str(settings.BASE_DIR), url_fetcher=_url_fetcher()).write_pdf()


def invoice_filename(invoice: Invoice) -> str:
    return f"{invoice.number or f'draft-{invoice.pk}'}.pdf"


def invoice_attachments(invoice_id: int) -> list:
    """attachment_builder for the invoice email (runs in the notification worker)."""
    from core.notifications.services import Attachment

    invoice = Invoice.objects.select_related("customer").get(pk=invoice_id)
    return [Attachment(filename=invoice_filename(invoice), content=render_invoice_pdf(invoice))]
