"""Provisioning in the admin: platform connections, services, the provisioning job log.

Lifecycle changes (provision, suspend, unsuspend, terminate, retry, change package,
power) are Unfold actions calling core.provisioning.services, appended to ServiceAdmin's
`actions*` lists. Secrets of a connection are write-only here.
"""

from django import forms
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateFilter, RelatedDropdownFilter
from unfold.decorators import display
from unfold.widgets import UnfoldAdminPasswordWidget

from core.provisioning.models import PlatformConnection, ProvisioningJob, Service

from .base import JOB_OUTCOME, SERVICE_STATUS, ReadOnlyModelAdmin, ReadOnlyTabularInline

SECRET_FIELDS = ("api_key", "api_secret")


class PlatformConnectionForm(forms.ModelForm):
    """Secrets can be replaced or cleared but are never sent back to the browser."""

    api_key = forms.CharField(
        required=False,
        strip=True,
        widget=UnfoldAdminPasswordWidget(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored key.",
    )
    api_secret = forms.CharField(
        required=False,
        strip=True,
        widget=UnfoldAdminPasswordWidget(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored secret.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored API key")
    clear_api_secret = forms.BooleanField(required=False, label="Remove the stored API secret")

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
    list_display = ("connection_cell", "platform", "api_key_state", "check_badge", "last_checked_at", "is_active")
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


@admin.register(Service)
class ServiceAdmin(SimpleHistoryAdmin, ModelAdmin):
    list_display = ("service_cell", "customer_cell", "product_cell", "status_badge", "primary_ip", "connection",
                    "created_at")  # fmt: skip
    list_select_related = ("customer__user", "product", "connection", "subscription")
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
    date_hierarchy = "created_at"
    inlines = (ProvisioningJobInline,)
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
    actions = []
    actions_list = []
    actions_detail = []
    actions_row = []

    def has_add_permission(self, request):
        # Services are created from a paid order (core.provisioning.services.create_service).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @display(description="Service", header=True, ordering="hostname")
    def service_cell(self, obj):
        return [obj.label or obj.hostname or f"Service {obj.pk}", str(obj.uuid)[:8]]

    @display(description="Customer", header=True, ordering="customer__company")
    def customer_cell(self, obj):
        return [obj.customer.display_name, obj.customer.user.email]

    @display(description="Product", header=True, ordering="product__name")
    def product_cell(self, obj):
        return [obj.product.name, obj.product.get_service_type_display()]

    @display(description="Status", label=SERVICE_STATUS, ordering="status")
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()

    @display(description="Credentials", label={"stored": "success", "none": "info"})
    def credentials_state(self, obj):
        # Credentials are shown to the customer only (portal, after re-authentication), never here.
        return "stored" if obj.credentials else "none"


@admin.register(ProvisioningJob)
class ProvisioningJobAdmin(ReadOnlyModelAdmin):
    list_display = ("job_cell", "service_cell", "outcome_badge", "attempt", "duration_ms", "created_at")
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
