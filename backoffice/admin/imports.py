"""WHMCS import runs in the admin: a page to start one (source, steps, since, dry run) as a django-q2
task, a progress page while it runs, and its reconciliation report (HTML and CSV) when done.

Starting needs the imports.run_import permission (staff only, as every admin page); starts are
audited by integrations.whmcs.tasks.start_import.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.generic import FormView, TemplateView
from import_export.admin import ImportExportModelAdmin
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import display
from unfold.views import UnfoldModelAdminViewMixin
from unfold.widgets import UnfoldAdminDateWidget, UnfoldAdminTextInputWidget

from core.imports.models import ImportRun, WhmcsClientUpload, WhmcsProductUpload, WhmcsServiceUpload
from integrations.whmcs.importer import STEPS
from integrations.whmcs.source import SourceError
from integrations.whmcs.tasks import progress_key, start_import

from ..resources_whmcs import FORMATS, WhmcsClientResource, WhmcsProductResource, WhmcsServiceResource
from .base import ModelAdmin, ReadOnlyModelAdmin

RUN_STATUS = {"queued": "info", "running": "info", "succeeded": "success", "differences": "warning", "failed": "danger"}
PERMISSION = "imports.run_import"


class StartImportForm(forms.Form):
    source = forms.CharField(
        label="WHMCS database",
        help_text="mysql://user:password@host:3306/whmcs — a read-only user is enough; the importer never writes there.",
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}),
    )
    only = forms.MultipleChoiceField(
        label="Only these steps", choices=[(s, s) for s in STEPS], required=False,
        widget=forms.CheckboxSelectMultiple, help_text="None ticked: everything.",
    )  # fmt: skip
    since = forms.DateField(label="Only rows changed since", required=False, widget=UnfoldAdminDateWidget)
    dry_run = forms.BooleanField(label="Dry run (read, map and reconcile; write nothing)", required=False, initial=True)
    encryption_key = forms.CharField(
        label="WHMCS encryption key", required=False, strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
        help_text="cc_encryption_hash from WHMCS's configuration.php: service passwords are imported (stored "
        "encrypted with our keys) only with it. Kept encrypted until the run starts, never logged.",
    )  # fmt: skip


class StartImportView(UnfoldModelAdminViewMixin, FormView):
    title = "Start a WHMCS import"
    permission_required = (PERMISSION,)
    template_name = "imports/start.html"
    form_class = StartImportForm

    def dispatch(self, request, *args, **kwargs):
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied("Starting a WHMCS import needs the 'Can start a WHMCS import' permission.")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            run = start_import(
                data["source"], dry_run=data["dry_run"], only=list(data["only"]),
                since=data["since"].isoformat() if data["since"] else None, actor=self.request.user,
                encryption_key=data["encryption_key"],
            )  # fmt: skip
        except SourceError as exc:
            form.add_error("source", str(exc))
            return self.form_invalid(form)
        messages.success(self.request, f"{run} queued.")
        return HttpResponseRedirect(reverse("admin:imports_importrun_progress", args=[run.pk]))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["runs"] = ImportRun.objects.select_related("started_by")[:10]
        return context


class RunProgressView(UnfoldModelAdminViewMixin, TemplateView):
    title = "WHMCS import"
    permission_required = ("imports.view_importrun",)
    template_name = "imports/run.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run = get_object_or_404(ImportRun, pk=self.kwargs["pk"])
        progress = (cache.get(progress_key(run.pk)) if not run.is_finished else None) or run.progress or {}
        rows = [
            {"table": t, **p, "percent": int(100 * p["done"] / p["total"]) if p.get("total") else 100}
            for t, p in progress.items()
        ]
        context.update(run=run, rows=rows, report=run.report or {}, title=str(run))
        return context


def report_download(request, pk: int, fmt: str):
    if not request.user.has_perm("imports.view_importrun"):
        raise Http404
    run = get_object_or_404(ImportRun, pk=pk)
    if fmt == "csv" and run.report_csv:
        response = HttpResponse(run.report_csv, content_type="text/csv")
    elif fmt == "html" and run.report_html:
        response = HttpResponse(run.report_html, content_type="text/html")
    else:
        raise Http404
    response["Content-Disposition"] = f'attachment; filename="whmcs-import-{run.pk}.{fmt}"'
    return response


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyModelAdmin):
    list_display = ("run_cell", "status_badge", "dry_run", "started_by", "created_at", "finished_at", "open_cell")
    list_select_related = ("started_by",)
    list_filter = ("status", "dry_run")
    exclude = ("source_url",)

    @display(description="Run", header=True)
    def run_cell(self, obj):
        return [f"Import {obj.pk}", obj.source_label]

    @display(description="Status", label=RUN_STATUS)
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()

    @display(description="Progress and report")
    def open_cell(self, obj):
        return format_html('<a href="{}">Open</a>', reverse("admin:imports_importrun_progress", args=[obj.pk]))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("start/", wrap(StartImportView.as_view(model_admin=self)), name="imports_importrun_start"),
            path("<int:pk>/progress/", wrap(RunProgressView.as_view(model_admin=self)), name="imports_importrun_progress"),
            path("<int:pk>/report.<str:fmt>", wrap(report_download), name="imports_importrun_report"),
        ] + super().get_urls()  # fmt: skip


# --- Uploads of WHMCS's own data-export reports (preview, then confirm; matched by WHMCS id) ---------


class _WhmcsUploadAdmin(ImportExportModelAdmin, ModelAdmin):
    formats = FORMATS
    import_form_class = ImportForm
    export_form_class = ExportForm
    list_display = ("whmcs_id", "__str__")
    search_fields = ("whmcs_id",)
    ordering = ("-whmcs_id",)

    def has_add_permission(self, request):
        return False  # rows come from the upload (or import_whmcs), not from a form

    def has_import_permission(self, request):
        return request.user.has_perm(PERMISSION)


@admin.register(WhmcsClientUpload)
class WhmcsClientUploadAdmin(_WhmcsUploadAdmin):
    resource_classes = [WhmcsClientResource]
    list_select_related = ("user",)


@admin.register(WhmcsProductUpload)
class WhmcsProductUploadAdmin(_WhmcsUploadAdmin):
    resource_classes = [WhmcsProductResource]


@admin.register(WhmcsServiceUpload)
class WhmcsServiceUploadAdmin(_WhmcsUploadAdmin):
    resource_classes = [WhmcsServiceResource]
    list_select_related = ("product",)
