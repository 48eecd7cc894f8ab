"""The customer's money over time: every payment and refund, and the credit balance with its ledger.
Read-only pages; refunds also show on their invoice (invoice_detail lists the invoice's payments)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from core.billing.models import CreditEntry, Payment
from core.billing.services.credit import credit_balance
from portal.access import customer_required

PER_PAGE = 50


def _portal(view):
    return login_required(login_url="portal:login")(customer_required(view))


@_portal
def payment_history(request):
    """Payments, refunds and chargebacks, newest first (failed attempts included: they explain a retry)."""
    payments = (
        Payment.objects.filter(customer=request.user.customer)
        .select_related("invoice", "payment_method")
        .order_by("-received_at", "-pk")
    )
    page = Paginator(payments, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "portal/billing/history.html", {"page": page})


@_portal
def credit_ledger(request):
    """The credit balance and every movement that made it (overpayments, downgrades, applied to invoices)."""
    customer = request.user.customer
    entries = CreditEntry.objects.filter(customer=customer).select_related("invoice").order_by("-created_at", "-pk")
    page = Paginator(entries, PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "balance": credit_balance(customer), "currency": customer.currency_id}
    return render(request, "portal/billing/history_credit.html", context)
