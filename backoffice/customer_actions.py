"""The customer 360 page's quick actions: add credit, create an invoice, suspend or unsuspend every
service with a reason, send a password reset, impersonate. Each is one service call; the dialogs
are Unfold action dialogs (backoffice/admin/accounts.py declares them)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

from core.accounts.models import Customer
from core.audit.services import record
from core.billing.errors import BillingError
from core.billing.services import credit
from core.billing.services.invoices import create_draft_invoice
from core.provisioning.errors import ProvisioningError
from core.provisioning.services.customer_actions import suspend_customer_services, unsuspend_customer_services
from portal.notifications.forms import OutboxPasswordResetForm

from .forms import DialogForm, finish_dialog


class AddCreditForm(DialogForm):
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"),
                                help_text="In the customer's billing currency")  # fmt: skip
    description = forms.CharField(max_length=255, help_text="Shown to the customer on their credit ledger")


class CreateInvoiceForm(DialogForm):
    description = forms.CharField(max_length=255)
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"),
                                help_text="Net, in the customer's billing currency; tax is added at issue")  # fmt: skip


class ServicesReasonForm(DialogForm):
    reason = forms.CharField(
        max_length=255, help_text="Recorded in the audit log; a suspension shows it to the customer"
    )


def _back(object_id) -> str:
    return reverse("admin:accounts_customer_change", args=[object_id])


def add_credit_action(request, form, object_id):
    customer = Customer.objects.get(pk=object_id)
    data = form.cleaned_data
    try:
        entry = credit.add_credit(customer, data["amount"], reason="staff", description=data["description"],
                                  actor=request.user)  # fmt: skip
        messages.success(request, f"Added {entry.amount} {entry.currency_id} of credit.")
    except BillingError as exc:
        messages.error(request, str(exc))
    return finish_dialog(request, _back(object_id))


def create_invoice_action(request, form, object_id):
    customer = Customer.objects.get(pk=object_id)
    data = form.cleaned_data
    invoice = create_draft_invoice(
        customer, lines=[{"description": data["description"], "quantity": 1, "unit_amount": data["amount"]}]
    )
    record("invoice.create_draft", invoice, actor=request.user, message=f"Draft for {customer} from the 360 page")
    messages.success(request, "Draft invoice created: check the lines, then issue it.")
    return finish_dialog(request, reverse("admin:billing_invoice_change", args=[invoice.pk]))


def _services(request, object_id, fn, verb: str):
    customer = Customer.objects.get(pk=object_id)
    try:
        outcome = fn(customer, reason=request.POST.get("reason", ""), actor=request.user)
    except ProvisioningError as exc:
        messages.error(request, str(exc))
        return finish_dialog(request, _back(object_id))
    if outcome.queued:
        messages.success(
            request,
            f"{len(outcome.queued)} {verb} queued; each service shows the new state when its platform confirms.",
        )
    else:
        messages.info(request, f"No service to {verb}.")
    for service, why in outcome.skipped:
        messages.warning(request, f"Service {service.pk} skipped: {why}")
    return finish_dialog(request, _back(object_id))


def suspend_services_action(request, form, object_id):
    return _services(request, object_id, suspend_customer_services, "suspend")


def unsuspend_services_action(request, form, object_id):
    return _services(request, object_id, unsuspend_customer_services, "unsuspend")


def send_password_reset_action(request, form, object_id):
    customer = Customer.objects.select_related("user").get(pk=object_id)
    reset = OutboxPasswordResetForm({"email": customer.user.email})  # the catalogue email, via the outbox
    if reset.is_valid():
        reset.save(
            request=request,
            use_https=request.is_secure(),
            subject_template_name="portal/account/password_reset_subject.txt",
            email_template_name="portal/account/password_reset_email.txt",
        )
    record("auth.password_reset_sent", customer, actor=request.user, message=f"Reset link sent to {customer.email}")
    messages.success(request, f"Password reset link sent to {customer.email}.")
    return finish_dialog(request, _back(object_id))


def impersonate_action(request, object_id):
    return redirect(reverse("admin:accounts_customer_impersonate", args=[object_id]))
