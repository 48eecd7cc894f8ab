"""Dunning what-if: staff try a suspension policy against the last 12 months and the next 30 days.

Read-only: the page replays core.billing.services.whatif over real invoices and payments and
shows the proposed policy beside the current one (and, for the past, what the audit log says the
real runs did). Nothing is changed; the live policy is edited under Billing › Suspension policies.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.views.generic import TemplateView
from unfold.views import UnfoldModelAdminViewMixin
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminTextInputWidget,
)

from core.billing.services import whatif
from core.catalog.models import ServiceType
from core.money import format_amount

MAX_LISTED_CUSTOMERS = 50


class WhatIfForm(forms.Form):
    suspend_after_days = forms.IntegerField(label="Suspend after (days past due)", min_value=0, max_value=365,
                                            initial=5, widget=UnfoldAdminIntegerFieldWidget)  # fmt: skip
    terminate_after_days = forms.IntegerField(label="Terminate after (days past due)", min_value=1, max_value=730,
                                              initial=30, widget=UnfoldAdminIntegerFieldWidget)  # fmt: skip
    reminder_days = forms.CharField(label="Reminders (days from the due date, e.g. -3, 1, 3)", required=False,
                                    initial="-3, 1, 3", widget=UnfoldAdminTextInputWidget)  # fmt: skip
    service_types = forms.MultipleChoiceField(label="Applies to", choices=ServiceType.choices, required=False,
                                              widget=UnfoldAdminCheckboxSelectMultipleWidget,
                                              help_text="None ticked: every service type")  # fmt: skip
    exempt_customers = forms.CharField(label="Also exempt customers (IDs, comma-separated)", required=False,
                                       widget=UnfoldAdminTextInputWidget)  # fmt: skip
    honour_exemptions = forms.BooleanField(label="Honour customer and service exemptions (as they were on each day)",
                                           required=False, initial=True)  # fmt: skip

    def clean_reminder_days(self):
        return tuple(_ints(self.cleaned_data["reminder_days"], "Reminder days"))

    def clean_exempt_customers(self):
        return frozenset(_ints(self.cleaned_data["exempt_customers"], "Customer IDs"))

    def clean(self):
        data = super().clean()
        s, t = data.get("suspend_after_days"), data.get("terminate_after_days")
        if s is not None and t is not None and t <= s:
            raise forms.ValidationError("Terminate after must be more days than suspend after.")
        return data

    def terms(self) -> whatif.PolicyTerms:
        d = self.cleaned_data
        return whatif.PolicyTerms.uniform(
            d["suspend_after_days"], d["terminate_after_days"], service_types=d["service_types"] or None,
            reminder_days=d["reminder_days"], exempt_customer_ids=d["exempt_customers"],
            honour_exemptions=d["honour_exemptions"],
        )  # fmt: skip


def _ints(raw: str, what: str) -> list[int]:
    try:
        return [int(part) for part in (raw or "").replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise forms.ValidationError(f"{what}: whole numbers separated by commas, e.g. -3, 1, 3.") from None


def _summary(result: whatif.ReplayResult, code: str) -> dict:
    return {
        "suspensions": result.suspensions,
        "suspended_services": len(result.services("suspend")),
        "terminations": result.terminations,
        "customers": len(result.customers),
        "reminders": result.reminders,
        "held": len(result.held),
        "held_days": len(result.held_days),
        "mrr_at_risk": format_amount(result.mrr_at_risk_converted, code),
        "mrr_parts": " · ".join(format_amount(v, c) for c, v in result.mrr_at_risk.items()) or "—",
        "customer_rows": result.customers[:MAX_LISTED_CUSTOMERS],
        "more_customers": max(0, len(result.customers) - MAX_LISTED_CUSTOMERS),
    }


class DunningWhatIfView(UnfoldModelAdminViewMixin, TemplateView):
    title = "Dunning what-if"
    permission_required = ("billing.view_suspensionpolicy",)
    template_name = "analytics/whatif.html"

    def get_context_data(self, **kwargs):
        from django.conf import settings

        context = super().get_context_data(**kwargs)
        submitted = bool(self.request.GET)
        form = WhatIfForm(self.request.GET if submitted else None)
        context["form"] = form
        if submitted and form.is_valid():
            code = settings.DEFAULT_CURRENCY
            result = whatif.compare_policies(form.terms())
            context["result"] = result
            context["periods"] = [
                {"title": f"Last 12 months ({result['past']['from']} to {result['past']['to']})",
                 "current": _summary(result["past"]["current"], code),
                 "proposed": _summary(result["past"]["proposed"], code),
                 "recorded": len(result["past"]["recorded"]), "recorded_held": len(result["past"]["recorded_held"])},
                {"title": f"Next 30 days ({result['future']['from']} to {result['future']['to']}), if nothing more is paid",
                 "current": _summary(result["future"]["current"], code),
                 "proposed": _summary(result["future"]["proposed"], code), "recorded": None, "recorded_held": None},
            ]  # fmt: skip
            context["rates_note"] = _rates_note()
            context["blast_radius"] = _blast_radius_note()
        context["method_note"] = whatif.__doc__
        return context


def _blast_radius_note() -> str:
    from django.conf import settings

    billing = settings.BILLING
    limits = []
    if billing.get("BLAST_RADIUS_MAX_COUNT") is not None:
        limits.append(f"more than {billing['BLAST_RADIUS_MAX_COUNT']} actions")
    if billing.get("BLAST_RADIUS_MAX_SHARE") is not None:
        share = Decimal(str(billing["BLAST_RADIUS_MAX_SHARE"])) * 100
        limits.append(f"more than {share.normalize():f}% of the active services (from "
                      f"{billing.get('BLAST_RADIUS_MIN_COUNT') or 0} actions on)")  # fmt: skip
    if not limits:
        return "No blast-radius limit is set: no replayed day is held."
    return (f"Blast-radius guard: a replayed day with {' or '.join(limits)} is held for approval, as the real "
            "run holds it; held actions are counted apart and not done.")  # fmt: skip


def _rates_note() -> str:
    from core.analytics.rates import describe_rates, exchange_rates

    return describe_rates(exchange_rates())
