"""Invoices: list (filter by status and issue date), detail, PDF, and paying with a saved method."""

import datetime as dt
import uuid
from typing import Literal

from django.http import HttpResponse
from django.urls import reverse
from ninja import Router
from ninja.pagination import paginate

from core.billing.gateways import ChargeStatus
from core.billing.models import Invoice, PaymentMethod
from portal.billing import checkout

from .. import auth
from ..errors import ApiError, NotFound, responses
from ..idempotency import IdempotencyKeyHeader, idempotent
from ..pagination import Mapped, Page
from ..query import known_query
from ..schemas.billing import InvoiceDetailOut, InvoiceOut, PayInvoiceIn, PayInvoiceOut
from .common import amount, date_range, own, plain

router = Router(tags=["invoices"])
InvoiceStatus = Literal["issued", "paid", "void"]
# Drafts are staff work in progress: a customer never sees one.
VISIBLE = (Invoice.Status.ISSUED, Invoice.Status.PAID, Invoice.Status.VOID)


def _invoices(customer_id: int):
    return Invoice.objects.filter(customer_id=customer_id, status__in=VISIBLE)


def _own_invoice(customer_id: int, invoice_id) -> Invoice:
    return own(Invoice.objects.filter(status__in=VISIBLE), customer_id, "invoice", uuid=invoice_id)


def invoice_out(invoice: Invoice) -> dict:
    cur = invoice.currency_id
    return {
        "id": invoice.uuid, "number": invoice.number, "kind": invoice.kind, "purpose": invoice.purpose,
        "status": invoice.status, "currency": cur, "total": amount(invoice.total, cur),
        "amount_due": amount(max(invoice.amount_due, 0) if invoice.status == Invoice.Status.ISSUED else 0, cur),
        "issue_date": invoice.issue_date, "due_date": invoice.due_date, "paid_at": invoice.paid_at,
        "is_overdue": invoice.is_overdue,
    }  # fmt: skip


def invoice_detail_out(invoice: Invoice) -> dict:
    cur = invoice.currency_id
    lines = [
        {"description": ln.description, "kind": ln.kind, "quantity": plain(ln.quantity),
         "unit_amount": plain(ln.unit_amount), "amount": amount(ln.amount, cur), "tax_rate": plain(ln.tax_rate),
         "tax_amount": amount(ln.tax_amount, cur), "tax_name": ln.tax_name, "period_start": ln.period_start,
         "period_end": ln.period_end}
        for ln in invoice.lines.all()
    ]  # fmt: skip
    payments = [
        {"id": p.uuid, "kind": p.kind, "status": p.status, "gateway": p.gateway, "amount": amount(p.amount, cur),
         "currency": p.currency_id, "received_at": p.received_at}
        for p in invoice.payments.order_by("received_at", "id")
    ]  # fmt: skip
    return {
        **invoice_out(invoice),
        "subtotal": amount(invoice.subtotal, cur), "discount_total": amount(invoice.discount_total, cur),
        "tax_total": amount(invoice.tax_total, cur), "amount_paid": amount(invoice.amount_paid, cur),
        "credit_applied": amount(invoice.credit_applied, cur),
        "amount_refunded": amount(invoice.amount_refunded, cur), "tax_note": invoice.tax_note,
        "reverse_charge": invoice.reverse_charge, "billing_details": invoice.billing_details or {},
        "lines": lines, "payments": payments,
    }  # fmt: skip


@router.get("/invoices", response=responses({200: list[InvoiceOut]}), auth=auth.read, summary="Your invoices")
@known_query("status", "date_from", "date_to")
@paginate(Page)
def list_invoices(request, status: InvoiceStatus | None = None, date_from: dt.date | None = None,
                  date_to: dt.date | None = None):  # fmt: skip
    """Newest first. `date_from`/`date_to` filter on the issue date (both included)."""
    invoices = _invoices(auth.caller(request).customer_id)
    if status:
        invoices = invoices.filter(status=status)
    invoices = date_range(invoices, "issue_date", date_from, date_to)
    return Mapped(invoices.order_by("-issue_date", "-created_at", "-id"), invoice_out)


@router.get("/invoices/{invoice_id}", response=responses({200: InvoiceDetailOut}, 404), auth=auth.read,
            summary="One invoice")  # fmt: skip
def get_invoice(request, invoice_id: uuid.UUID):
    return invoice_detail_out(_own_invoice(auth.caller(request).customer_id, invoice_id))


@router.get(
    "/invoices/{invoice_id}/pdf", response=responses({200: None}, 404), auth=auth.read, summary="Invoice PDF",
    openapi_extra={"responses": {200: {"description": "The invoice as PDF, rendered from its frozen snapshot.",
                                       "content": {"application/pdf": {"schema": {"type": "string",
                                                                                  "format": "binary"}}}}}},
)  # fmt: skip
def get_invoice_pdf(request, invoice_id: uuid.UUID):
    from core.billing.services.pdf import invoice_filename, render_invoice_pdf

    invoice = _own_invoice(auth.caller(request).customer_id, invoice_id)
    response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice_filename(invoice)}"'
    response["Cache-Control"] = "private, no-store"
    return response


@router.post("/invoices/{invoice_id}/pay", response=responses({200: PayInvoiceOut}, 402, 404, 409),
             auth=auth.billing, summary="Pay an invoice with a saved payment method")  # fmt: skip
@idempotent
def pay_invoice(request, invoice_id: uuid.UUID, payload: PayInvoiceIn, idempotency_key: str = IdempotencyKeyHeader):
    """Charges the amount due to one of your saved methods. A declined charge answers 402 and changes
    nothing; a card that needs 3-D Secure answers `requires_action` with the page to finish it on."""
    caller = auth.caller(request)
    invoice = _own_invoice(caller.customer, invoice_id)
    method = PaymentMethod.objects.filter(
        customer=caller.customer, pk=payload.payment_method_id, removed_at__isnull=True
    ).first()
    if method is None:
        raise NotFound("payment method")
    result = checkout.pay_with_saved_method(invoice, method)
    invoice.refresh_from_db()
    if result.status == ChargeStatus.SUCCEEDED:
        return {"status": "succeeded", "message": f"Invoice {invoice.number} is paid.", "invoice": invoice_out(invoice)}
    if result.status == ChargeStatus.PROCESSING:
        return {"status": "processing", "message": "The payment is being processed; the invoice is marked paid "
                "when it completes.", "invoice": invoice_out(invoice)}  # fmt: skip
    if result.status == ChargeStatus.REQUIRES_ACTION:
        page = request.build_absolute_uri(reverse("portal:invoice_pay", args=[invoice.uuid]))
        return {"status": "requires_action", "message": "The card needs 3-D Secure: finish the payment in the "
                "browser at action_url.", "invoice": invoice_out(invoice), "action_url": page}  # fmt: skip
    raise ApiError(402, "payment_failed", result.failure_message or "The payment did not go through. Try another "
                   "method.")  # fmt: skip
