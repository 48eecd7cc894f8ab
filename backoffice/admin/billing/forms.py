"""Dialog forms of the billing admins' own actions (the invoice/subscription ones live in backoffice/billing_views.py)."""

from decimal import Decimal

from django import forms

from ...forms import DialogForm


class RefundForm(DialogForm):
    """Staff refund of a payment, full or partial (payments engineer)."""

    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    reason = forms.CharField(max_length=255, required=False)
