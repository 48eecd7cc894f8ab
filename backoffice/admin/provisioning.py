"""Provisioning in the admin: platform connections, services, the provisioning job log.

Lifecycle changes (provision, suspend, unsuspend, terminate, retry, change package,
power) are Unfold actions calling core.provisioning.services, appended to ServiceAdmin's
`actions*` lists. Secrets of a connection are write-only here.
"""

from django import forms
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateFilter, RelatedDropdownFilter
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminPasswordWidget, UnfoldBooleanSwitchWidget

from core.provisioning.models import PlatformConnection, ProvisioningJob, Service

from ..forms import StyledForm
from .base import JOB_OUTCOME, SERVICE_STATUS, ModelAdmin, ReadOnlyModelAdmin, ReadOnlyTabularInline
from .cells import badge, header
from .labels import column
from .scale import LargeTableAdminMixin
from .usage import ServiceAddressInline

SECRET_FIELDS = ("api_key", "api_secret")


class PlatformConnectionForm(forms.ModelForm):
    """Secrets can be replaced or cleared but are never sent back to the browser."""

    api_key = forms.CharField(
        label="New API key",
        required=False,
        strip=True,
        widget=UnfoldAdminPasswordWidget(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored key.",
    )
    api_secret = forms.CharField(
        label="New API secret",
        required=False,
        strip=True,
        widget=UnfoldAdminPasswordWidget(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored secret.",
    )
    clear_api_key = forms.BooleanField(
        required=False, label="Remove the stored API key", widget=UnfoldBooleanSwitchWidget
    )
    clear_api_secret = forms.BooleanField(
        required=False, label="Remove the stored API secret", widget=UnfoldBooleanSwitchWidget
    )

    class Meta:
        model = PlatformConnection
        fields = ("name", "platform", "base_url", "api_key", "api_secret", "defaults", "timeout_seconds",
                  "verify_tls", "is_active")  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            # ModelForm copies the decrypted value into `initial`; never let it reach a template.
            self.initial[name] = ""
            stored = bool(getattr(self.instance, name, "")) if self.instance.pk else False
            self.fields[
                name
            ].help_text = (
                f"Currently {'set' if stored else 'not set'}. Leave empty to keep it; type a new value to replace it."
            )

    def _clean_secret(self, name: str) -> str:
        value = self.cleaned_data.get(name) or ""
        if value:
            return value
        if self.data.get(self.add_prefix(f"clear_{name}")):
            return ""
        return getattr(self.instance, name, "") if self.instance.pk else ""

    def clean_api_key(self):
        return self._clean_secret("api_key")

    def clean_api_secret(self):
        return self._clean_secret("api_secret")

    @property
    def changed_data(self):
        # The admin's change message lists changed fields; a secret field counts only if really replaced.
        changed = [n for n in super().changed_data if n not in SECRET_FIELDS and not n.startswith("clear_")]
        for name in SECRET_FIELDS:
            if self.data.get(self.add_prefix(name)) or self.data.get(self.add_prefix(f"clear_{name}")):
                changed.append(name)
        return changed


@admin.register(PlatformConnection)
class PlatformConnectionAdmin(ModelAdmin):
    form = PlatformConnectionForm
    list_display = ("connection_cell", "platform", "api_key_state", "check_badge", "last_checked_at",
                    column(PlatformConnection, "is_active"))  # fmt: skip
    list_filter = (("platform", ChoicesDropdownFilter), "is_active", "last_check_ok")
    list_filter_submit = True
    search_fields = ("name", "base_url")
    readonly_fields = ("api_key_state", "api_secret_state", "last_checked_at", "last_check_ok", "last_check_message")
    fieldsets = (
        (None, {"fields": ("name", "platform", "base_url", "is_active")}),
        (
            "Credentials",
            {
                "fields": (
                    "api_key_state",
                    "api_key",
                    "clear_api_key",
                    "api_secret_state",
                    "api_secret",
                    "clear_api_secret",
                )
            },
        ),  # fmt: skip
        ("Options", {"fields": ("defaults", "timeout_seconds", "verify_tls")}),
        ("Last check", {"fields": ("last_checked_at", "last_check_ok", "last_check_message")}),
    )
    actions = []
    actions_list = []
    actions_detail = []
    actions_row = []

    @display(description="Connection", header=True, ordering="name")
    def connection_cell(self, obj):
        return [obj.name, obj.base_url]

    @display(description="API key", label={"set": "success", "not set": "danger"})
    def api_key_state(self, obj):
        return "set" if obj.api_key else "not set"

    @display(description="API secret", label={"set": "success", "not set": "info"})
    def api_secret_state(self, obj):
        return "set" if obj.api_secret else "not set"

    @display(description="Last check", label={"ok": "success", "failed": "danger", "never": "info"})
    def check_badge(self, obj):
        if obj.last_check_ok is None:
            return "never"
        return "ok" if obj.last_check_ok else "failed"


class ProvisioningJobInline(ReadOnlyTabularInline):
    model = ProvisioningJob
    fk_name = "service"
    fields = ("created_at", "action", "argument", "attempt", "outcome", "error", "duration_ms", "requested_by")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    per_page = 10

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("requested_by")


def service_actions_for(service: Service) -> set[str]:
    """Names of the detail actions the service's status allows (the lifecycle services enforce it too)."""
    status, S = service.status, Service.Status
    wanted = set()
    if status in (S.PENDING, S.FAILED):
        wanted.add("detail_provision")
    if status == S.ACTIVE:
        wanted |= {"detail_suspend", "detail_power", "detail_reset_credentials"}
    if status == S.SUSPENDED:
        wanted.add("detail_unsuspend")
    if status in (S.ACTIVE, S.SUSPENDED):
        wanted.add("detail_change_package")
    if status == S.AWAITING_STOCK:
        wanted.add("detail_assign_hardware")
    if status == S.FAILED and service.compensated_at is None:
        wanted.add("detail_refund_or_credit")
    if status not in (S.TERMINATED, S.PROVISIONING):
        wanted.add("detail_terminate")
    return wanted


@admin.register(Service)
class ServiceAdmin(LargeTableAdminMixin, SimpleHistoryAdmin, ModelAdmin):
    list_display = ("service_cell", "customer_cell", "product_cell", "status_badge", column(Service, "primary_ip"), "connection",
                    "created_at")  # fmt: skip
    list_select_related = ("customer__user", "product", "connection")
    list_defer = ("credentials", "platform_data", "config", "ip_addresses", "last_error", "connection__api_key",
                  "connection__api_secret", "connection__defaults", "product__platform_settings", "product__features",
                  "product__order_options", "product__description")  # fmt: skip
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("product__service_type", ChoicesDropdownFilter),
        ("product", RelatedDropdownFilter),
        ("connection", RelatedDropdownFilter),
        "suspension_exempt",
        ("created_at", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("uuid", "label", "hostname", "primary_ip", "platform_service_id", "customer__company",
                     "customer__user__email")  # fmt: skip
    autocomplete_fields = ("customer", "subscription", "product", "connection")
    # No date_hierarchy: its year links read every row (SELECT DISTINCT year); the date range filter stays.
    inlines = (ProvisioningJobInline, ServiceAddressInline)
    # Status and platform identifiers move only through core.provisioning.services.
    readonly_fields = ("uuid", "customer", "subscription", "product", "status", "pending_action",
                       "platform_customer_id", "platform_service_id", "platform_data", "primary_ip", "ip_addresses",
                       "username", "credentials_state", "config", "suspension_reason", "last_error", "created_at",
                       "provisioned_at", "suspended_at", "terminated_at", "credentials_sent_at",
                       "updated_at")  # fmt: skip
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "uuid",
                    "customer",
                    "subscription",
                    "product",
                    "status",
                    "pending_action",
                    "label",
                    "hostname",
                )
            },
        ),  # fmt: skip
        (
            "Platform",
            {
                "fields": (
                    "connection",
                    "platform_customer_id",
                    "platform_service_id",
                    "platform_data",
                    "primary_ip",
                    "ip_addresses",
                    "username",
                    "credentials_state",
                    "config",
                    "hardware_note",
                )
            },
        ),  # fmt: skip
        ("Suspension policy", {"fields": ("suspension_exempt", "extra_grace_days", "suspension_reason")}),
        (
            "Record",
            {
                "fields": (
                    "last_error",
                    "created_at",
                    "provisioned_at",
                    "suspended_at",
                    "terminated_at",
                    "credentials_sent_at",
                    "updated_at",
                )
            },
        ),  # fmt: skip
    )
    actions = ["bulk_provision", "bulk_retry", "bulk_suspend", "bulk_unsuspend", "bulk_terminate",
               "bulk_change_package", "bulk_power"]  # fmt: skip
    actions_list = []
    # get_actions_detail shows only what the service's status allows (all eight buttons pushed the
    # title off-screen and offered "Unsuspend" on active services); rare ones sit under "More".
    actions_detail = ["detail_provision", "detail_suspend", "detail_unsuspend", "detail_power",
                      "detail_reset_credentials", "detail_assign_hardware", "detail_refund_or_credit",
                      {"title": "More", "icon": "more_horiz", "items": ["detail_change_package", "detail_terminate"]}]  # fmt: skip
    actions_row = ["row_retry"]

    def get_actions_detail(self, request, object_id):
        actions = super().get_actions_detail(request, object_id)
        service = Service.objects.filter(pk=object_id).first()
        if service is None:
            return actions
        wanted = service_actions_for(service)
        return [a for a in actions if a.action_name.removeprefix("provisioning_service_") in wanted]

    def has_add_permission(self, request):
        # Services are created from a paid order (core.provisioning.services.create_service).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @display(description="Service", ordering="hostname")
    def service_cell(self, obj):
        return header(obj.label or obj.hostname or f"Service {obj.pk}", str(obj.uuid)[:8])

    @display(description="Customer", ordering="customer__company")
    def customer_cell(self, obj):
        return header(obj.customer.display_name, obj.customer.user.email)

    @display(description="Product", ordering="product__name")
    def product_cell(self, obj):
        return header(obj.product.name, obj.product.get_service_type_display())

    @display(description="Status", ordering="status")
    def status_badge(self, obj):
        # An action sent to the platform and not confirmed yet shows as what is happening, not the old state.
        if obj.pending_action:
            label = f"{PENDING_LABELS.get(obj.pending_action, obj.pending_action)}…"
            return badge("pending_action", label, SERVICE_BADGES)
        return badge(obj.status, obj.get_status_display(), SERVICE_BADGES)

    @display(description="Credentials", label={"stored": "success", "none": "info"})
    def credentials_state(self, obj):
        # Credentials are shown to the customer only (portal, after re-authentication), never here.
        return "stored" if obj.credentials else "none"

    # --- Lifecycle actions: each asks for confirmation, then calls core.provisioning.services
    # (which audits with the acting staff user). Bulk actions report per-service errors.

    @action(description="Provision (or retry) selected services", permissions=["change"])
    def bulk_provision(self, request, queryset):
        return confirm_service_operation(self, request, "provision", queryset=queryset)

    @action(description="Retry failed provisioning", permissions=["change"])
    def bulk_retry(self, request, queryset):
        return confirm_service_operation(self, request, "retry", queryset=queryset)

    @action(description="Suspend selected services", permissions=["change"])
    def bulk_suspend(self, request, queryset):
        return confirm_service_operation(self, request, "suspend", queryset=queryset)

    @action(description="Unsuspend selected services", permissions=["change"])
    def bulk_unsuspend(self, request, queryset):
        return confirm_service_operation(self, request, "unsuspend", queryset=queryset)

    @action(description="Terminate selected services", permissions=["change"])
    def bulk_terminate(self, request, queryset):
        return confirm_service_operation(self, request, "terminate", queryset=queryset)

    @action(description="Change package of selected services", permissions=["change"])
    def bulk_change_package(self, request, queryset):
        return confirm_service_operation(self, request, "change_package", queryset=queryset)

    @action(description="Power action on selected services", permissions=["power"])
    def bulk_power(self, request, queryset):
        return confirm_service_operation(self, request, "power", queryset=queryset)

    @action(description="Provision", url_path="provision", permissions=["change"])
    def detail_provision(self, request, object_id):
        return confirm_service_operation(self, request, "provision", object_id=object_id)

    @action(description="Suspend", url_path="suspend", permissions=["change"])
    def detail_suspend(self, request, object_id):
        return confirm_service_operation(self, request, "suspend", object_id=object_id)

    @action(description="Unsuspend", url_path="unsuspend", permissions=["change"])
    def detail_unsuspend(self, request, object_id):
        return confirm_service_operation(self, request, "unsuspend", object_id=object_id)

    @action(description="Terminate", url_path="terminate", permissions=["change"])
    def detail_terminate(self, request, object_id):
        return confirm_service_operation(self, request, "terminate", object_id=object_id)

    @action(description="Change package", url_path="change-package", permissions=["change"])
    def detail_change_package(self, request, object_id):
        return confirm_service_operation(self, request, "change_package", object_id=object_id)

    @action(description="Power", url_path="power", permissions=["power"])
    def detail_power(self, request, object_id):
        return confirm_service_operation(self, request, "power", object_id=object_id)

    @action(description="Assign hardware", url_path="assign-hardware", permissions=["change"])
    def detail_assign_hardware(self, request, object_id):
        return confirm_service_operation(self, request, "assign_hardware", object_id=object_id)

    @action(description="Refund or credit (failed)", url_path="refund-or-credit", permissions=["change"])
    def detail_refund_or_credit(self, request, object_id):
        return confirm_service_operation(self, request, "refund_or_credit", object_id=object_id)

    @action(description="Retry", url_path="retry", permissions=["change"])
    def row_retry(self, request, object_id):
        return confirm_service_operation(self, request, "retry", object_id=object_id)

    @action(description="Reset credentials", url_path="reset-credentials", permissions=["reset_credentials"])
    def detail_reset_credentials(self, request, object_id):
        return confirm_service_operation(self, request, "reset_credentials", object_id=object_id)

    # Support staff run power actions and credential resets without the change permission
    # (core/accounts/roles.py); staff who may change services may do both too.
    def has_power_permission(self, request, obj=None):
        user = request.user
        return user.has_perm("provisioning.power_service") or user.has_perm("provisioning.change_service")

    def has_reset_credentials_permission(self, request, obj=None):
        user = request.user
        return user.has_perm("provisioning.reset_service_credentials") or user.has_perm("provisioning.change_service")


@admin.register(ProvisioningJob)
class ProvisioningJobAdmin(ReadOnlyModelAdmin):
    list_display = ("job_cell", "service_cell", "outcome_badge", "attempt", column(ProvisioningJob, "duration_ms"),
                    "created_at")  # fmt: skip
    list_select_related = ("service__product", "connection", "requested_by")
    list_filter = (
        ("action", ChoicesDropdownFilter),
        ("outcome", ChoicesDropdownFilter),
        ("connection", RelatedDropdownFilter),
        ("created_at", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("idempotency_key", "error", "service__hostname", "service__uuid", "service__label")
    date_hierarchy = "created_at"

    @display(description="Job", header=True, ordering="created_at")
    def job_cell(self, obj):
        return [obj.get_action_display() + (f" ({obj.argument})" if obj.argument else ""), f"#{obj.pk}"]

    @display(description="Service", header=True)
    def service_cell(self, obj):
        if obj.service_id is None:
            return [obj.connection.name if obj.connection_id else "—", "connection"]
        return [str(obj.service), obj.service.product.name]

    @display(description="Outcome", label=JOB_OUTCOME, ordering="outcome")
    def outcome_badge(self, obj):
        return obj.outcome, obj.get_outcome_display()


# --- Confirmation pages for the service lifecycle actions ---------------------------------------


class _ReasonForm(StyledForm):
    reason = forms.CharField(max_length=255, help_text="Shown to the customer and kept in the audit log.")


class _PackageForm(StyledForm):
    product = forms.ModelChoiceField(queryset=None, help_text="Same platform only; billing is not changed here.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from core.catalog.models import Product

        self.fields["product"].queryset = Product.objects.exclude(status="archived").order_by("platform", "name")


class _PowerForm(StyledForm):
    signal = forms.ChoiceField(choices=[("boot", "Boot"), ("shutdown", "Shutdown"), ("restart", "Restart"),
                                        ("hard_stop", "Hard stop")])  # fmt: skip


class _HardwareForm(StyledForm):
    note = forms.CharField(max_length=255, help_text="Which box (rack, unit, asset tag).")


class _CompensationForm(StyledForm):
    mode = forms.ChoiceField(choices=[("credit", "Add to account credit"), ("refund", "Refund the payment")])


def _operations():
    from core.provisioning import services as svc
    from core.provisioning.drivers import PowerAction

    return {
        "provision": ("Provision", None, lambda s, d, u: svc.queue_provisioning(s, actor=u)),
        "retry": ("Retry provisioning", None, lambda s, d, u: svc.retry_provisioning(s, actor=u)),
        "suspend": ("Suspend", _ReasonForm, lambda s, d, u: svc.suspend_service(s, reason=d["reason"], actor=u)),
        "unsuspend": ("Unsuspend", None, lambda s, d, u: svc.unsuspend_service(s, actor=u)),
        "terminate": ("Terminate", _ReasonForm,
                      lambda s, d, u: svc.terminate_service(s, reason=d["reason"], actor=u)),
        "change_package": ("Change package", _PackageForm,
                           lambda s, d, u: svc.change_service_package(s, d["product"], actor=u)),
        "power": ("Power", _PowerForm, lambda s, d, u: svc.power_service(s, PowerAction(d["signal"]), actor=u)),
        "assign_hardware": ("Assign hardware", _HardwareForm,
                            lambda s, d, u: svc.assign_hardware(s, note=d["note"], actor=u)),
        "reset_credentials": ("Reset credentials", None,
                              lambda s, d, u: svc.reset_service_credentials(s, actor=u)),
        "refund_or_credit": ("Refund or credit", _CompensationForm,
                             lambda s, d, u: svc.refund_or_credit_failed_service(s, mode=d["mode"], actor=u)),
    }  # fmt: skip


# How the list shows a service whose action is queued at the platform (Service.pending_action).
PENDING_LABELS = {
    "create": "Provisioning", "poll": "Provisioning", "suspend": "Suspending", "unsuspend": "Unsuspending",
    "terminate": "Terminating", "change_package": "Changing package", "power": "Power action sent",
    "reset_credentials": "Resetting credentials",
}  # fmt: skip
SERVICE_BADGES = {**SERVICE_STATUS, "pending_action": "info"}
# What the service shows once the platform confirms the operation.
CONFIRMED_AS = {
    "provision": "Active", "retry": "Active", "suspend": "Suspended", "unsuspend": "Active",
    "terminate": "Terminated", "change_package": "the new package", "power": "the new power state",
    "reset_credentials": "new credentials",
}  # fmt: skip


def outcome_message(operation: str, title: str, done: int, queued: int) -> str:
    """What was done and what was queued, e.g. "1 suspend queued; the service shows Suspended when the
    platform confirms"."""
    verb = title.lower()
    parts = []
    if done:
        parts.append(f"{done} {verb} done")
    if queued:
        which = "the service shows" if queued == 1 else "the services show"
        parts.append(
            f"{queued} {verb} queued; {which} {CONFIRMED_AS.get(operation, 'the result')} when the platform confirms"
        )
    return "; ".join(parts) + "."


def confirm_service_operation(model_admin, request, operation: str, *, queryset=None, object_id=None):
    """Show what will happen and ask for confirmation (and a reason, package, …); on confirm,
    call the service function for each service and report what worked and what did not."""
    from django.contrib import messages
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.shortcuts import redirect
    from django.template.response import TemplateResponse
    from django.urls import reverse

    from core.provisioning.errors import ProvisioningError

    title, form_class, run = _operations()[operation]
    if queryset is None:
        queryset = model_admin.get_queryset(request).filter(pk=object_id)
        back = reverse("admin:provisioning_service_change", args=[object_id])
    else:
        back = reverse("admin:provisioning_service_changelist")
    services = list(queryset.select_related("customer__user", "product"))
    confirmed = request.method == "POST" and request.POST.get("confirm") == "yes"
    form = form_class(request.POST if confirmed else None) if form_class else None
    if confirmed and (form is None or form.is_valid()):
        data = form.cleaned_data if form else {}
        ran, failed = [], []
        for service in services:
            try:
                run(service, data, request.user)
                ran.append(service.pk)
            except ProvisioningError as exc:
                failed.append(f"{service}: {exc}")
        if ran:
            queued = Service.objects.filter(pk__in=ran).exclude(pending_action="").count()
            messages.success(request, outcome_message(operation, title, len(ran) - queued, queued))
        for problem in failed:
            messages.error(request, problem)
        return redirect(back) if object_id is not None else None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"{title}: confirm",
        "opts": model_admin.model._meta,
        "operation_title": title,
        "services": services,
        "form": form,
        "bulk_action": request.POST.get("action", "") if object_id is None else "",
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME) if object_id is None else [],
        "back_url": back,
    }
    return TemplateResponse(request, "admin/provisioning/service_action_confirm.html", context)
