"""Staff billing pages and the dialog forms of the billing admin actions.

- BillingRunPreviewView: what today's billing run would do (read-only), with totals per currency.
- PendingPolicyActionAdmin: suspensions/terminations held back by the blast-radius guard,
  approved or rejected in bulk.
- Dialog forms used by the invoice/subscription actions in backoffice/admin/billing/.
Every action calls a core.billing service; nothing here writes a model directly.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.urls import reverse
from django.views.generic import TemplateView
from unfold.admin import ModelAdmin
from unfold.decorators import action, display
from unfold.views import UnfoldModelAdminViewMixin

from core import clock
from core.billing.errors import BillingError
from core.billing.models import Invoice, PendingPolicyAction, Subscription
from core.billing.services import billing_run, credit, invoices, payments, subscriptions
from core.billing.services.pdf import format_money, invoice_filename, render_invoice_pdf

from .forms import DialogForm, finish_dialog


class BillingRunPreviewView(UnfoldModelAdminViewMixin, TemplateView):
    """Today's billing run, previewed: nothing is written, no gateway or platform is called."""

    title = "Billing run preview"
    permission_required = ("billing.view_invoice",)
    template_name = "billing/run_preview.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        day = self.request.GET.get("date")
        moment = clock.now()
        if day:
            try:
                moment = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(6), tzinfo=dt.UTC)
            except ValueError:
                messages.error(self.request, "The date must look like 2026-01-31.")
        with clock.frozen_at(moment):
            summary = billing_run.preview_billing_run(limit=200)
        context.update(
            summary=summary,
            date=moment.date(),
            renewal_totals=billing_run.format_totals(summary.renewal_totals),
            charge_totals=billing_run.format_totals(summary.charged_totals),
            renewals_table={
                "headers": ["Subscription", "Customer", "Product", "Period from", "Total"],
                "rows": [
                    [
                        r["subscription"],
                        r["customer"],
                        r["product"],
                        f"{r['period_start']:%Y-%m-%d}",
                        format_money(r["total"], r["currency"]),
                    ]
                    for r in summary.renewals
                ],
            },  # fmt: skip
            charges_table={
                "headers": ["Invoice", "Customer", "Attempt", "Amount"],
                "rows": [
                    [c["invoice"], c["customer"], c["attempt"], format_money(c["amount"], c["currency"])]
                    for c in summary.charges
                ],
            },  # fmt: skip
            policy_table={
                "headers": ["Action", "Service", "Customer", "Invoice", "Due"],
                "rows": [
                    [p["action"], p["service_label"], p["customer"], p["invoice_number"], str(p["due_date"])]
                    for p in summary.policy
                ],
            },  # fmt: skip
            held=summary.held_for_approval > 0,
        )
        return context


# --- Dialog forms ---------------------------------------------------------------------------------


class ManualPaymentForm(DialogForm):
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    received_on = forms.DateField(initial=clock.today, help_text="Date the transfer arrived")
    reference = forms.CharField(max_length=128, help_text="Bank reference: recording it twice records one payment")


class ReasonForm(DialogForm):
    reason = forms.CharField(max_length=255)


class ApplyCreditForm(DialogForm):
    amount = forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01"), required=False,
        help_text="Empty: as much as the balance and the amount due allow",
    )  # fmt: skip


class InvoiceRefundForm(DialogForm):
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    reason = forms.CharField(max_length=255, required=False)


class CreditNoteForm(DialogForm):
    amount = forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01"), required=False,
        help_text="Gross amount; empty reverses the whole invoice",
    )  # fmt: skip
    reason = forms.CharField(max_length=255)
    credit_customer = forms.BooleanField(required=False, help_text="Also add the amount to the customer's credit")


class CancelSubscriptionForm(DialogForm):
    reason = forms.ChoiceField(choices=[("", "—"), *subscriptions.CANCEL_REASONS], required=False)
    comment = forms.CharField(widget=forms.Textarea, required=False)
    immediately = forms.BooleanField(required=False, help_text="End now and terminate the services")
    prorated_credit = forms.BooleanField(required=False, help_text="With 'immediately': credit the unused time")


# --- Action bodies (called by the ModelAdmin actions; each is one service call) --------------------------


def _done(request, call, success: str):
    try:
        result = call()
    except BillingError as exc:
        messages.error(request, str(exc))
        return None
    messages.success(request, success.format(result=result))
    return result


def issue_invoice_action(request, object_id):
    invoice = Invoice.objects.get(pk=object_id)
    _done(request, lambda: invoices.issue_invoice(invoice, actor=request.user), "Issued invoice {result.number}.")
    return finish_dialog(request, reverse("admin:billing_invoice_change", args=[object_id]))


def void_invoice_action(request, form, object_id):
    invoice = Invoice.objects.get(pk=object_id)
    _done(request, lambda: invoices.void_invoice(invoice, reason=form.cleaned_data["reason"], actor=request.user),
          "Voided invoice {result.number}.")  # fmt: skip
    return finish_dialog(request, reverse("admin:billing_invoice_change", args=[object_id]))


def record_payment_action(request, form, object_id):
    invoice = Invoice.objects.get(pk=object_id)
    data = form.cleaned_data
    _done(
        request,
        lambda: payments.record_manual_payment(invoice, amount=data["amount"], received_on=data["received_on"],
                                               reference=data["reference"], actor=request.user),
        "Recorded {result.currency_id} {result.amount} (reference {result.reference}).",
    )  # fmt: skip
    return finish_dialog(request, reverse("admin:billing_invoice_change", args=[object_id]))


def refund_invoice_action(request, form, object_id):
    """Refund from the invoice's most recent succeeded payment (partial allowed)."""
    invoice = Invoice.objects.get(pk=object_id)
    payment = invoice.payments.filter(kind="payment", status="succeeded").order_by("-received_at").first()
    if payment is None:
        messages.error(request, f"Invoice {invoice} has no payment to refund.")
    else:
        data = form.cleaned_data
        _done(request, lambda: payments.refund_payment(payment, amount=data["amount"], reason=data["reason"],
                                                       actor=request.user),
              "Refunded {result.currency_id} {result.amount}.")  # fmt: skip
    return finish_dialog(request, reverse("admin:billing_invoice_change", args=[object_id]))


def apply_credit_action(request, form, object_id):
    invoice = Invoice.objects.get(pk=object_id)
    _done(request, lambda: credit.apply_credit(invoice, amount=form.cleaned_data.get("amount"), actor=request.user),
          "Applied {result} of credit.")  # fmt: skip
    return finish_dialog(request, reverse("admin:billing_invoice_change", args=[object_id]))


def credit_note_action(request, form, object_id):
    invoice = Invoice.objects.get(pk=object_id)
    data = form.cleaned_data
    note = _done(
        request,
        lambda: invoices.create_credit_note(invoice, amount=data.get("amount"), reason=data["reason"],
                                            credit_customer=data.get("credit_customer", False), actor=request.user),
        "Issued credit note {result.number}.",
    )  # fmt: skip
    return finish_dialog(request, reverse("admin:billing_invoice_change", args=[note.pk if note else object_id]))


def resend_invoice_action(request, object_id):
    invoice = Invoice.objects.get(pk=object_id)
    _done(request, lambda: invoices.queue_invoice_email(invoice, resend=True, actor=request.user),
          f"Invoice {invoice} queued for {invoice.customer.email}.")  # fmt: skip
    return finish_dialog(request, reverse("admin:billing_invoice_change", args=[object_id]))


def download_pdf_action(request, object_id):
    invoice = Invoice.objects.select_related("customer").get(pk=object_id)
    response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice_filename(invoice)}"'
    return response


def charge_now_action(request, object_id):
    from core.billing.gateways import GatewayError
    from core.billing.services.dunning import charge_invoice

    invoice = Invoice.objects.get(pk=object_id)
    try:
        result = charge_invoice(invoice)
    except (BillingError, GatewayError) as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, f"Charge of invoice {invoice}: {result.status}. {result.failure_message}".strip())
    return finish_dialog(request, reverse("admin:billing_invoice_change", args=[object_id]))


def cancel_subscription_action(request, form, object_id):
    sub = Subscription.objects.get(pk=object_id)
    data = form.cleaned_data
    if data.get("immediately"):
        call = lambda: subscriptions.cancel_subscription_now(  # noqa: E731
            sub, actor=request.user, reason=data.get("reason", ""), comment=data.get("comment", ""),
            prorated_credit=data.get("prorated_credit", False),
        )  # fmt: skip
    else:
        call = lambda: subscriptions.cancel_subscription(  # noqa: E731
            sub, reason=data.get("reason", ""), comment=data.get("comment", ""), actor=request.user
        )
    _done(request, call, "Subscription cancelled.")
    return finish_dialog(request, reverse("admin:billing_subscription_change", args=[object_id]))


# --- Held policy actions ------------------------------------------------------------------------------


@admin.register(PendingPolicyAction)
class PendingPolicyActionAdmin(ModelAdmin):
    list_display = ("service", "action_badge", "status_badge", "reason", "run_date", "decided_by")
    list_filter = ("status", "action", "run_date")
    list_select_related = ("service__product", "decided_by")
    search_fields = ("service__hostname", "service__label", "reason")
    readonly_fields = ("service", "invoice", "action", "status", "reason", "run_date", "created_at", "decided_at",
                       "decided_by", "error")  # fmt: skip
    actions = ["approve_selected", "reject_selected"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @display(description="Action", label={"suspend": "warning", "terminate": "danger"})
    def action_badge(self, obj):
        return obj.action

    @display(description="Status", label={"pending": "info", "approved": "success", "rejected": "warning",
                                          "failed": "danger"})  # fmt: skip
    def status_badge(self, obj):
        return obj.status

    @action(description="Approve and run the selected actions", permissions=["change"])
    def approve_selected(self, request, queryset):
        from core.billing.services.suspension import approve_policy_actions

        done, failed = approve_policy_actions(queryset, actor=request.user)
        messages.success(request, f"{done} actions run, {failed} failed.")

    @action(description="Reject the selected actions", permissions=["change"])
    def reject_selected(self, request, queryset):
        from core.billing.services.suspension import reject_policy_actions

        messages.success(request, f"{reject_policy_actions(queryset, actor=request.user)} actions rejected.")
