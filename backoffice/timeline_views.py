"""The customer's full timeline, paginated (admin: accounts/customer/<pk>/timeline/)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import TemplateView
from unfold.views import UnfoldModelAdminViewMixin

from core.accounts.models import Customer

from .customer_timeline import customer_timeline


class CustomerTimelineView(UnfoldModelAdminViewMixin, TemplateView):
    title = "Customer timeline"
    permission_required = ("accounts.view_customer",)
    template_name = "admin/accounts/customer/timeline.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        customer = get_object_or_404(Customer.objects.select_related("user"), pk=self.kwargs["object_id"])
        try:
            page = int(self.request.GET.get("page", 1))
        except ValueError:
            page = 1
        context.update(
            customer=customer,
            timeline=customer_timeline(customer, page=page),
            back_url=reverse("admin:accounts_customer_change", args=[customer.pk]),
            title=f"Timeline · {customer}",
        )
        return context
