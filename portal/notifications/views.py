"""The customer's email preferences: which non-essential mails they get.

Invoices, receipts, payment and service notices and security mails are essential and always sent.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from core.notifications import catalogue
from core.notifications.preferences import opted_out_categories, set_preferences
from portal.access import customer_required


class PreferencesForm(forms.Form):
    def __init__(self, *args, opted_out=(), **kwargs):
        super().__init__(*args, **kwargs)
        for key, label in catalogue.CATEGORIES.items():
            self.fields[key] = forms.BooleanField(label=label, required=False, initial=key not in opted_out)


@login_required(login_url="portal:login")
@customer_required
def preferences(request):
    customer = request.user.customer
    form = PreferencesForm(request.POST or None, opted_out=opted_out_categories(customer))
    if request.method == "POST" and form.is_valid():
        set_preferences(customer, wanted={k for k, v in form.cleaned_data.items() if v}, actor=request.user)
        messages.success(request, "Your email preferences are saved.")
        return redirect("portal:notification_preferences")
    essential = [e.title for e in catalogue.EVENTS.values() if e.essential]
    return render(request, "portal/notifications/preferences.html", {"form": form, "essential": essential})
