"""Forms for the customer's account pages. They only shape input; the rules live in core.accounts.services."""

from __future__ import annotations

from django import forms

from core.catalog.models import Currency

TOKEN_SCOPES = (
    ("read", "Read: see your account, invoices and services"),
    ("services", "Services: power actions, plan changes, cancellation"),
    ("billing", "Billing: orders, payments, payment methods"),
    ("write", "Write: change your profile and API tokens"),
)
TOKEN_EXPIRY = (("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never"))


class SignUpForm(forms.Form):
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), help_text="At least 10 characters."
    )
    company = forms.CharField(max_length=200, required=False)
    country = forms.CharField(
        max_length=2, min_length=2, help_text="Two letters, e.g. US, DE, GB.", widget=forms.TextInput(attrs={"size": 3})
    )
    currency = forms.ModelChoiceField(
        queryset=Currency.objects.none(),
        to_field_name="code",
        empty_label=None,
        help_text="Invoices are in this currency. It cannot change once you have an invoice.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].queryset = Currency.objects.filter(is_active=True).order_by("code")


class ProfileForm(forms.Form):
    company = forms.CharField(max_length=200, required=False)
    phone = forms.CharField(max_length=40, required=False)
    address_line1 = forms.CharField(label="Address line 1", max_length=200, required=False)
    address_line2 = forms.CharField(label="Address line 2", max_length=200, required=False)
    city = forms.CharField(max_length=100, required=False)
    region = forms.CharField(label="State / region", max_length=100, required=False)
    postal_code = forms.CharField(max_length=20, required=False)
    country = forms.CharField(max_length=2, required=False, help_text="Two letters, e.g. US, DE, GB.")
    vat_id = forms.CharField(
        label="VAT ID", max_length=32, required=False, help_text="EU/UK businesses: with its country prefix."
    )
    currency = forms.ModelChoiceField(queryset=Currency.objects.none(), to_field_name="code", empty_label=None)

    def __init__(self, *args, currency_locked_reason: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].queryset = Currency.objects.filter(is_active=True).order_by("code")
        if currency_locked_reason:
            self.fields["currency"].disabled = True
            self.fields["currency"].help_text = currency_locked_reason


class ContactForm(forms.Form):
    name = forms.CharField(max_length=150)
    email = forms.EmailField()
    receives_invoices = forms.BooleanField(required=False, initial=True, label="Send this contact every invoice")


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where you use it, e.g. 'Terraform on ci-01'.")
    scopes = forms.MultipleChoiceField(choices=TOKEN_SCOPES, widget=forms.CheckboxSelectMultiple, initial=["read"])
    expires_in_days = forms.ChoiceField(label="Expires", choices=TOKEN_EXPIRY, initial="90", required=False)


class OtpTokenForm(forms.Form):
    otp_token = forms.CharField(
        label="6-digit code",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
