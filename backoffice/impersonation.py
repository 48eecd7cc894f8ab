"""Impersonating a customer (django-hijack), only with a typed reason.

- The customer 360 page links to ImpersonateView: an Unfold page asking why; it posts to
  hijack's acquire URL, which core/urls.py routes to AcquireWithReasonView so that no request
  can start an impersonation without a reason (nor from a session whose second factor is not
  verified, nor for staff or superuser targets: core.accounts.permissions.can_impersonate).
- Start (with the reason) and end (with the duration) are audited by core/audit/signals.py,
  reading request.impersonation; the portal shows a banner with one-click "End" throughout.
- Money-moving portal views refuse while impersonating (portal.access.refuse_while_impersonating).
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import TemplateView
from hijack import views as hijack_views
from unfold.views import UnfoldModelAdminViewMixin

from core import clock
from core.accounts.permissions import can_impersonate

MIN_REASON_LENGTH = 10
SESSION_KEY = "impersonation"


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Why do you need to act as this customer?",
        min_length=MIN_REASON_LENGTH,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Saved in the audit log with your name, the start and the end.",
    )


def _verified(user) -> bool:
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


class ImpersonateView(UnfoldModelAdminViewMixin, TemplateView):
    """The reason form shown before impersonating (admin: accounts/customer/<pk>/impersonate/)."""

    title = "Impersonate customer"
    permission_required = ("accounts.impersonate_customer",)
    template_name = "admin/accounts/customer/impersonate.html"

    def get_context_data(self, **kwargs):
        from core.accounts.models import Customer

        context = super().get_context_data(**kwargs)
        customer = get_object_or_404(Customer.objects.select_related("user"), pk=self.kwargs["object_id"])
        if not can_impersonate(hijacker=self.request.user, hijacked=customer.user):
            raise PermissionDenied("This login cannot be impersonated.")
        context.update(
            customer=customer,
            form=ReasonForm(),
            acquire_url=reverse("hijack:acquire"),
            back_url=reverse("admin:accounts_customer_change", args=[customer.pk]),
        )
        return context


class AcquireWithReasonView(hijack_views.AcquireUserView):
    """hijack's acquire, refused (400) without a reason of at least MIN_REASON_LENGTH characters."""

    def dispatch(self, request, *args, **kwargs):
        if request.method == "POST":
            if not request.user.is_authenticated or not request.user.is_staff:
                raise PermissionDenied("Staff only.")
            if not _verified(request.user):
                raise PermissionDenied("Verify your second factor before impersonating a customer.")
            form = ReasonForm(request.POST)
            if not form.is_valid():
                return HttpResponseBadRequest(
                    f"Type the reason you impersonate this customer (at least {MIN_REASON_LENGTH} characters). "
                    "Nothing was changed.",
                    content_type="text/plain",
                )
            request.impersonation = {"reason": form.cleaned_data["reason"], "started_at": clock.now().isoformat()}
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        # The login inside hijack replaced the session: remember the reason for the banner and the end entry.
        request.session[SESSION_KEY] = request.impersonation
        return response

    def get_success_url(self):
        return self.get_redirect_url() or reverse("portal:home")


class ReleaseWithAuditView(hijack_views.ReleaseUserView):
    """hijack's release; hands the start's reason and time to the audit entry of the end."""

    def post(self, request, *args, **kwargs):
        request.impersonation = dict(request.session.get(SESSION_KEY) or {})
        request.impersonated_user_pk = request.user.pk
        return super().post(request, *args, **kwargs)

    def get_success_url(self):
        redirect = self.get_redirect_url()
        if redirect:
            return redirect
        hijacked = getattr(self.request, "impersonated_user_pk", None)
        customer = get_user_model().objects.filter(pk=hijacked).values_list("customer", flat=True).first()
        if customer:
            return reverse("admin:accounts_customer_change", args=[customer])
        return reverse("admin:index")
