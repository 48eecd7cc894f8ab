"""Bandwidth metering in the admin.

- Per service: a page with the period's usage against quota, daily and hourly charts, the hourly
  ledger with its provenance, and a form to re-run one window (BandwidthPeriodAdmin.get_urls).
- Overview: top consumers this period and services near quota.
- Periods: waive or adjust a pending overage charge (dialog with a reason; audited by the service).
- Collection windows: status and provenance of every hour; re-run one (or accept a low total).
- Addresses (validity intervals) and per-product bandwidth policies are edited here.
Every action calls core.usage services; nothing here writes a model directly.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.generic import TemplateView
from unfold.contrib.filters.admin import RangeDateFilter, RangeDateTimeFilter
from unfold.decorators import action, display
from unfold.views import UnfoldModelAdminViewMixin

from core import clock
from core.usage import overage, queries
from core.usage import services as usage_services
from core.usage.addresses import normalise_network
from core.usage.errors import UsageError
from core.usage.models import (
    BandwidthPeriod,
    BandwidthPolicy,
    BandwidthUsage,
    CollectionWindow,
    HourlyUsage,
    ServiceAddress,
)
from core.usage.queries import format_bytes
from core.usage.sources import FlowSourceError

from ..forms import DialogForm, StyledForm, finish_dialog
from .base import ModelAdmin, ReadOnlyModelAdmin, TabularInline, money

GB = Decimal(10**9)


def gb(value: int | None) -> str:
    """Chart.js reads numbers; a JSON string of the Decimal keeps it exact."""
    return str((Decimal(value or 0) / GB).quantize(Decimal("0.001")))


def chart(labels, datasets) -> str:
    for dataset in datasets:
        dataset.setdefault("maxBarThickness", 24)
        dataset.setdefault("borderRadius", 3)
    return json.dumps({"labels": labels, "datasets": datasets})


class ServiceColumnMixin:
    @display(description="Service", header=True)
    def service_cell(self, obj):
        service = obj.service
        return [service.label or service.hostname or f"Service {service.pk}", service.customer.display_name]

    @display(description="Bandwidth")
    def bandwidth_link(self, obj):
        url = reverse("admin:usage_bandwidthperiod_service", args=[obj.service_id])
        return format_html('<a class="text-primary-600" href="{}">Chart and ledger</a>', url)


@admin.register(BandwidthUsage)
class BandwidthUsageAdmin(ServiceColumnMixin, ReadOnlyModelAdmin):
    list_display = ("service_cell", "day", "in_cell", "out_cell", "total_cell", "bandwidth_link")
    list_select_related = ("service__customer__user",)
    list_filter = (("day", RangeDateFilter),)
    list_filter_submit = True
    search_fields = ("service__hostname", "service__primary_ip", "service__customer__company")
    date_hierarchy = "day"

    @display(description="In", ordering="bytes_in")
    def in_cell(self, obj):
        return format_bytes(obj.bytes_in)

    @display(description="Out", ordering="bytes_out")
    def out_cell(self, obj):
        return format_bytes(obj.bytes_out)

    @display(description="Total")
    def total_cell(self, obj):
        return format_bytes(obj.total_bytes)


class OverageAdjustForm(DialogForm):
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"), help_text="0 waives it")
    reason = forms.CharField(max_length=255, help_text="Kept in the audit log")


class OverageWaiveForm(DialogForm):
    reason = forms.CharField(max_length=255, help_text="Kept in the audit log")


@admin.register(BandwidthPeriod)
class BandwidthPeriodAdmin(ServiceColumnMixin, ReadOnlyModelAdmin):
    list_display = (
        "service_cell", "period_start", "period_end", "usage_cell", "state_badge", "overage_cell", "bandwidth_link",
    )  # fmt: skip
    list_select_related = ("service__customer__user", "service__customer__currency", "overage_invoice")
    list_filter = (("period_start", RangeDateFilter), "closed_at")
    list_filter_submit = True
    search_fields = ("service__hostname", "service__primary_ip", "service__customer__company")
    actions_list = ["overview_action"]
    actions_detail = ["service_page_action", "adjust_overage_action", "waive_overage_action"]

    def get_urls(self):
        service_view = self.admin_site.admin_view(ServiceBandwidthView.as_view(model_admin=self))
        overview = self.admin_site.admin_view(BandwidthOverviewView.as_view(model_admin=self))
        return [
            path("service/<int:service_id>/", service_view, name="usage_bandwidthperiod_service"),
            path("overview/", overview, name="usage_bandwidthperiod_overview"),
        ] + super().get_urls()

    @display(description="Used", header=True)
    def usage_cell(self, obj):
        quota = format_bytes(obj.quota_bytes) if obj.quota_bytes else "unmetered"
        share = f"{obj.percent_used}% of quota" if obj.quota_bytes else ""
        return [f"{format_bytes(obj.counted_bytes)} / {quota}", share]

    @display(
        description="State",
        label={"open": "info", "closed": "success", "billed": "success", "over": "warning", "waived": "info"},
    )
    def state_badge(self, obj):
        if obj.overage_billed_at:
            return "billed", "Overage billed"
        if obj.closed_at and obj.overage_amount:
            return "over", "Overage to bill"
        if obj.closed_at and obj.computed_overage_amount and not obj.overage_amount:
            return "waived", "Overage waived"
        return ("closed", "Closed") if obj.closed_at else ("open", "Open")

    @display(description="Overage")
    def overage_cell(self, obj):
        if not obj.overage_amount:
            return "—"
        return money(obj.overage_amount, obj.overage_currency or obj.service.customer.currency)

    @action(description="Top consumers / near quota", url_path="overview", icon="leaderboard")
    def overview_action(self, request):
        return redirect("admin:usage_bandwidthperiod_overview")

    @action(description="Chart and ledger", url_path="service-page", icon="monitoring")
    def service_page_action(self, request, object_id):
        period = get_object_or_404(BandwidthPeriod, pk=object_id)
        return redirect("admin:usage_bandwidthperiod_service", period.service_id)

    @action(description="Adjust overage", url_path="adjust", permissions=["adjust"], icon="edit",
            dialog={"title": "Adjust the overage charge", "form_submit_text": "Save", "form_class": OverageAdjustForm})  # fmt: skip
    def adjust_overage_action(self, request, form, object_id):
        period = get_object_or_404(BandwidthPeriod, pk=object_id)
        data = form.cleaned_data
        self._run(
            request, lambda: overage.adjust_overage(period, data["amount"], reason=data["reason"], actor=request.user)
        )
        return finish_dialog(request, reverse("admin:usage_bandwidthperiod_change", args=[object_id]))

    @action(description="Waive overage", url_path="waive", permissions=["adjust"], icon="money_off",
            dialog={"title": "Waive the overage charge?", "form_submit_text": "Waive", "form_class": OverageWaiveForm})  # fmt: skip
    def waive_overage_action(self, request, form, object_id):
        period = get_object_or_404(BandwidthPeriod, pk=object_id)
        self._run(
            request, lambda: overage.waive_overage(period, reason=form.cleaned_data["reason"], actor=request.user)
        )
        return finish_dialog(request, reverse("admin:usage_bandwidthperiod_change", args=[object_id]))

    def has_adjust_permission(self, request, object_id=None):
        return request.user.has_perm("usage.change_bandwidthperiod")

    def _run(self, request, call):
        try:
            period = call()
        except UsageError as exc:
            messages.error(request, str(exc))
            return
        messages.success(request, f"Overage is now {money(period.overage_amount, period.overage_currency)}.")


class RerunWindowForm(StyledForm):
    window = forms.DateTimeField(
        help_text="Start of the hour, UTC (e.g. 2026-11-03 10:00)",
        input_formats=["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    accept_low = forms.BooleanField(required=False, label="Accept a zero or low total (checked by hand)")


class ServiceBandwidthView(UnfoldModelAdminViewMixin, TemplateView):
    """One service's bandwidth: this period against quota, daily and hourly charts, the ledger."""

    title = "Service bandwidth"
    permission_required = ("usage.view_bandwidthperiod",)
    template_name = "usage/service_bandwidth.html"

    def dispatch(self, request, *args, **kwargs):
        from core.provisioning.models import Service

        self.service = get_object_or_404(
            Service.objects.select_related("customer__user", "product", "subscription"), pk=kwargs["service_id"]
        )
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if not request.user.has_perm("usage.change_bandwidthperiod"):
            messages.error(request, "You may view bandwidth but not re-run collection.")
            return redirect(request.path)
        form = RerunWindowForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Give the window's start like 2026-11-03 10:00 (UTC).")
            return redirect(request.path)
        start = form.cleaned_data["window"].replace(tzinfo=dt.UTC)
        try:
            window = usage_services.rerun_window(start, actor=request.user, accept_low=form.cleaned_data["accept_low"])
        except FlowSourceError as exc:
            messages.error(request, f"Not collected: {exc}")
        else:
            level = messages.SUCCESS if window.status == CollectionWindow.Status.OK else messages.WARNING
            messages.add_message(request, level, f"{window}: {window.get_status_display()}. {window.error}".strip())
        return redirect(f"{request.path}?day={start:%Y-%m-%d}")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        usage = queries.period_usage(self.service)
        today = clock.today()
        try:
            day = dt.date.fromisoformat(self.request.GET.get("day", ""))
        except ValueError:
            day = today
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        hours = queries.hourly_series(self.service, start, start + dt.timedelta(days=1))
        by_hour = {h.window_start: h for h in hours}
        labels = [f"{n:02d}:00" for n in range(24)]
        hourly_in = [
            gb(by_hour[start + dt.timedelta(hours=n)].bytes_in) if start + dt.timedelta(hours=n) in by_hour else "0"
            for n in range(24)
        ]
        hourly_out = [
            gb(by_hour[start + dt.timedelta(hours=n)].bytes_out) if start + dt.timedelta(hours=n) in by_hour else "0"
            for n in range(24)
        ]
        context.update(
            service=self.service,
            usage=usage,
            day=day,
            hourly_title=f"Hourly, {day:%Y-%m-%d} (UTC)",
            previous_day=day - dt.timedelta(days=1),
            next_day=day + dt.timedelta(days=1),
            used=format_bytes(usage.used_bytes),
            quota=format_bytes(usage.quota_bytes) if usage.quota_bytes else "Unmetered",
            projected=format_bytes(usage.projected_bytes),
            bytes_in=format_bytes(usage.bytes_in),
            bytes_out=format_bytes(usage.bytes_out),
            percent=min(usage.percent or 0, 100),
            daily_chart=chart(
                [f"{d['day']:%m-%d}" for d in usage.daily],
                [
                    {"label": "In (GB)", "data": [gb(d["bytes_in"]) for d in usage.daily]},
                    {"label": "Out (GB)", "data": [gb(d["bytes_out"]) for d in usage.daily]},
                ],
            ),  # fmt: skip
            hourly_chart=chart(
                labels, [{"label": "In (GB)", "data": hourly_in}, {"label": "Out (GB)", "data": hourly_out}]
            ),
            ledger_table={
                "headers": ["Window (UTC)", "In", "Out", "Documents", "Index pattern", "Query hash", "Collected at"],
                "rows": [
                    [
                        f"{h.window_start:%Y-%m-%d %H:00}",
                        format_bytes(h.bytes_in),
                        format_bytes(h.bytes_out),
                        f"{h.doc_count:,}",
                        h.index_pattern,
                        h.query_hash[:12],
                        f"{h.collected_at:%Y-%m-%d %H:%M}",
                    ]
                    for h in hours
                ],
            },  # fmt: skip
            addresses_table={
                "headers": ["Address / prefix", "From", "Until", "Source"],
                "rows": [
                    [
                        a.network,
                        f"{a.valid_from:%Y-%m-%d %H:%M}",
                        f"{a.valid_to:%Y-%m-%d %H:%M}" if a.valid_to else "now",
                        a.get_source_display(),
                    ]
                    for a in ServiceAddress.objects.filter(service=self.service).order_by("-valid_from")
                ],
            },  # fmt: skip
            rerun_form=RerunWindowForm(initial={"window": f"{day:%Y-%m-%d} 00:00"}),
            can_rerun=self.request.user.has_perm("usage.change_bandwidthperiod"),
        )
        return context


class BandwidthOverviewView(UnfoldModelAdminViewMixin, TemplateView):
    title = "Bandwidth this period"
    permission_required = ("usage.view_bandwidthperiod",)
    template_name = "usage/overview.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)

        def link(period):
            url = reverse("admin:usage_bandwidthperiod_service", args=[period.service_id])
            return format_html('<a class="text-primary-600" href="{}">{}</a>', url, period.service)

        def row(period):
            quota = format_bytes(period.quota_bytes) if period.quota_bytes else "unmetered"
            share = f"{period.percent_used}%" if period.quota_bytes else "—"
            return [
                link(period),
                period.service.customer.display_name,
                format_bytes(period.counted_bytes),
                quota,
                share,
            ]

        headers = ["Service", "Customer", "Used", "Quota", "Share"]
        top = list(queries.top_consumers(20))
        near = list(queries.near_quota(75, 50))
        context.update(
            top_table={"headers": headers, "rows": [row(p) for p in top]},
            near_table={"headers": headers, "rows": [row(p) for p in near]},
            top_chart=chart(
                [str(p.service)[:24] for p in top[:10]],
                [{"label": "Used (GB)", "data": [gb(p.counted_bytes) for p in top[:10]]}],
            ),
            windows=CollectionWindow.objects.order_by("-start")[:1].first(),
            suspect=CollectionWindow.objects.exclude(status=CollectionWindow.Status.OK).count(),
        )
        return context


@admin.register(CollectionWindow)
class CollectionWindowAdmin(ReadOnlyModelAdmin):
    list_display = (
        "window_cell",
        "status_badge",
        "total_cell",
        "services",
        "search_requests",
        "doc_count",
        "provenance_cell",
        "collected_at",
    )
    list_filter = ("status", ("start", RangeDateTimeFilter))
    list_filter_submit = True
    actions_row = ["rerun_row_action"]
    actions_detail = ["rerun_detail_action", "accept_low_action"]

    @display(description="Window (UTC)", ordering="start")
    def window_cell(self, obj):
        return f"{obj.start:%Y-%m-%d %H:00}"

    @display(description="Status", label={"ok": "success", "suspect": "warning", "failed": "danger"})
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()

    @display(description="Total", ordering="total_bytes")
    def total_cell(self, obj):
        return format_bytes(obj.total_bytes)

    @display(description="Provenance", header=True)
    def provenance_cell(self, obj):
        return [obj.index_pattern or "—", f"{obj.schema} · {obj.query_hash[:12]}" if obj.query_hash else obj.error[:80]]

    def _rerun(self, request, object_id, accept_low=False):
        window = get_object_or_404(CollectionWindow, pk=object_id)
        try:
            window = usage_services.rerun_window(window.start, actor=request.user, accept_low=accept_low)
        except FlowSourceError as exc:
            messages.error(request, f"Not collected: {exc}")
        else:
            messages.success(request, f"{window}: {window.get_status_display()}.")
        return redirect(reverse("admin:usage_collectionwindow_change", args=[object_id]))

    @action(description="Re-run", url_path="rerun-row", permissions=["rerun"], icon="refresh")
    def rerun_row_action(self, request, object_id):
        return self._rerun(request, object_id)

    @action(description="Re-run", url_path="rerun", permissions=["rerun"], icon="refresh")
    def rerun_detail_action(self, request, object_id):
        return self._rerun(request, object_id)

    @action(description="Accept low total", url_path="accept-low", permissions=["rerun"], icon="task_alt",
            dialog={"title": "Re-run and accept a zero or low total?",
                    "description": "Only after checking ElastiFlow: the hour will be billed as read.",
                    "form_submit_text": "Re-run and accept"})  # fmt: skip
    def accept_low_action(self, request, form, object_id):
        response = self._rerun(request, object_id, accept_low=True)
        return finish_dialog(request, response.url)

    def has_rerun_permission(self, request, object_id=None):
        return request.user.has_perm("usage.change_bandwidthperiod")


@admin.register(HourlyUsage)
class HourlyUsageAdmin(ServiceColumnMixin, ReadOnlyModelAdmin):
    list_display = (
        "service_cell",
        "window_cell",
        "in_cell",
        "out_cell",
        "doc_count",
        "provenance_cell",
        "collected_at",
    )
    list_select_related = ("service__customer__user",)
    list_filter = (("window_start", RangeDateTimeFilter),)
    list_filter_submit = True
    search_fields = ("service__hostname", "service__primary_ip", "=service__id")

    @display(description="Window (UTC)", ordering="window_start")
    def window_cell(self, obj):
        return f"{obj.window_start:%Y-%m-%d %H:00}"

    @display(description="In", ordering="bytes_in")
    def in_cell(self, obj):
        return format_bytes(obj.bytes_in)

    @display(description="Out", ordering="bytes_out")
    def out_cell(self, obj):
        return format_bytes(obj.bytes_out)

    @display(description="Provenance", header=True)
    def provenance_cell(self, obj):
        return [obj.index_pattern, obj.query_hash[:12]]


class ServiceAddressForm(forms.ModelForm):
    class Meta:
        model = ServiceAddress
        fields = ["service", "network", "valid_from", "valid_to"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            # Rows staff add stay theirs: platform syncs close only platform rows.
            self.instance.source = ServiceAddress.Source.STAFF

    def clean_network(self):
        try:
            return normalise_network(self.cleaned_data["network"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(ServiceAddress)
class ServiceAddressAdmin(ModelAdmin):
    """Staff corrections to which service held an address when (rows they add are marked staff)."""

    form = ServiceAddressForm
    list_display = ("network", "service", "valid_from", "valid_to", "source")
    list_select_related = ("service",)
    list_filter = ("source",)
    search_fields = ("network", "service__hostname")
    autocomplete_fields = ("service",)

    def save_model(self, request, obj, form, change):
        from core.audit.services import record

        if not change:
            obj.source = ServiceAddress.Source.STAFF
        super().save_model(request, obj, form, change)
        record("usage.address_edited", obj.service, actor=request.user,
               data={"network": obj.network, "from": str(obj.valid_from), "to": str(obj.valid_to)})  # fmt: skip


class ServiceAddressInline(TabularInline):
    """For the Service admin (backoffice/admin/provisioning.py): `inlines = [..., ServiceAddressInline]`."""

    model = ServiceAddress
    form = ServiceAddressForm
    fields = ("network", "valid_from", "valid_to", "source")
    readonly_fields = ("source",)
    extra = 0


@admin.register(BandwidthPolicy)
class BandwidthPolicyAdmin(ModelAdmin):
    list_display = ("product", "counting", "rounding", "at_quota", "quota_cell")
    list_select_related = ("product",)
    autocomplete_fields = ("product",)

    @display(description="Quota")
    def quota_cell(self, obj):
        quota = obj.product.bandwidth_quota_gb
        if not quota:
            return "Unmetered"
        return f"{quota / 1000:g} TB" if quota >= 1000 else f"{quota} GB"
