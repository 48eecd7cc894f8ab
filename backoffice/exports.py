"""Finance exports page: pick an export, a period and CSV or XLSX; small ones download at once
(streamed), large ones (or on request) run as an ExportJob task with progress and a download link.

Staff with billing.view_invoice only (finance data). Files live under MEDIA_ROOT/exports/ and are
served only through download_export, never as public media.
"""

from __future__ import annotations

import datetime as dt
import tempfile

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect, StreamingHttpResponse
from django.urls import reverse
from django.views.generic import FormView
from unfold.views import UnfoldModelAdminViewMixin
from unfold.widgets import UnfoldAdminDateWidget, UnfoldAdminSelectWidget

from core import clock
from core.analytics import exports
from core.analytics.models import ExportJob

PERMISSION = "billing.view_invoice"


class ExportForm(forms.Form):
    kind = forms.ChoiceField(label="Export", choices=[(k, e.label) for k, e in exports.EXPORTS.items()],
                             widget=UnfoldAdminSelectWidget)  # fmt: skip
    file_format = forms.ChoiceField(label="Format", choices=[("csv", "CSV"), ("xlsx", "Excel (XLSX)")],
                                    widget=UnfoldAdminSelectWidget)  # fmt: skip
    date_from = forms.DateField(label="From", widget=UnfoldAdminDateWidget)
    date_to = forms.DateField(label="To (inclusive)", widget=UnfoldAdminDateWidget)
    background = forms.BooleanField(label="Build in the background (for large periods)", required=False)

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            raise forms.ValidationError("The end date is before the start date.")
        return data


class ExportCreateView(UnfoldModelAdminViewMixin, FormView):
    title = "Finance exports"
    permission_required = (PERMISSION,)
    template_name = "analytics/exports.html"
    form_class = ExportForm

    def get_initial(self):
        today = clock.today()
        last_month_end = today.replace(day=1) - dt.timedelta(days=1)
        return {"date_from": last_month_end.replace(day=1), "date_to": last_month_end, "file_format": "csv"}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["jobs"] = ExportJob.objects.select_related("requested_by")[:10]
        context["jobs_url"] = reverse("admin:analytics_exportjob_changelist")
        return context

    def form_valid(self, form):
        key, fmt = form.cleaned_data["kind"], form.cleaned_data["file_format"]
        date_from, date_to = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
        export = exports.get_export(key)
        if form.cleaned_data["background"] or export.count(date_from, date_to) > exports.MAX_ROWS_INLINE:
            job = exports.start_export_job(key, date_from, date_to, fmt, actor=self.request.user)
            messages.success(self.request, f"Export queued ({job}). It appears below with its progress and a "
                                           "download link when done.")  # fmt: skip
            return HttpResponseRedirect(reverse("admin:analytics_exportjob_new"))
        name = exports.filename(key, date_from, date_to, fmt)
        if fmt == "csv":
            response = StreamingHttpResponse(exports.stream_csv(key, date_from, date_to), content_type="text/csv")
        else:
            tmp = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it after sending)
            exports.write_export(key, date_from, date_to, fmt, tmp)
            tmp.seek(0)
            response = FileResponse(
                tmp, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


def download_export(request, pk: int):
    """The finished file of an export job, to staff allowed to see finance data."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    job = ExportJob.objects.filter(pk=pk, status=ExportJob.Status.DONE).first()
    if job is None or not job.file:
        raise Http404("This export is not ready.")
    name = exports.filename(job.kind, job.date_from, job.date_to, job.file_format)
    return FileResponse(job.file.open("rb"), as_attachment=True, filename=name)
