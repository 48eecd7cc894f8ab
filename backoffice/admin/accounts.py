"""People in the admin: users (staff and customers), the customer 360 page, API tokens,
groups and passkeys (WebAuthn credentials)."""

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django_otp_webauthn.admin import WebAuthnCredentialAdmin
from django_otp_webauthn.settings import app_settings as webauthn_settings
from import_export.admin import ImportExportModelAdmin
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import StackedInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateFilter, RelatedDropdownFilter
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import action, display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from core.accounts.models import ApiToken, Customer, CustomerNote, User
from core.audit.services import record
from core.billing.models import CreditEntry, Invoice, Payment, Subscription
from core.provisioning.models import Service

from .. import customer_actions
from ..customer_summary import customer_summary
from ..customer_timeline import customer_timeline
from ..resources import FORMATS, CustomerResource
from .base import (
    CUSTOMER_STATUS,
    INVOICE_STATUS,
    PAYMENT_STATUS,
    SERVICE_STATUS,
    SUBSCRIPTION_STATUS,
    ModelAdmin,
    ReadOnlyTabularInline,
    money,
)
from .cells import badge, header
from .notifications import OutboxInline
from .scale import LargeTableAdminMixin
from .support import TicketInline

# --- Users ------------------------------------------------------------------------------


class EmailUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class EmailUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    """Staff and customer logins. Impersonation starts from the customer page, with a reason."""

    form = EmailUserChangeForm
    add_form = EmailUserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ("user_cell", "kind_badge", "is_active", "last_login", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active", ("date_joined", RangeDateFilter))
    list_filter_submit = True
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    readonly_fields = ("last_login", "date_joined", "email_verified_at")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Name", {"fields": ("first_name", "last_name")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined", "email_verified_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ("groups", "user_permissions")

    @display(description="User", header=True, ordering="email")
    def user_cell(self, obj):
        return [obj.full_name, obj.email]

    @display(description="Kind", label={"staff": "warning", "customer": "info"}, ordering="is_staff")
    def kind_badge(self, obj):
        return ("staff", "Staff") if obj.is_staff else ("customer", "Customer")


try:
    admin.site.unregister(Group)
except admin.sites.NotRegistered:
    pass


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


@admin.register(apps.get_model(webauthn_settings.OTP_WEBAUTHN_CREDENTIAL_MODEL))
class PasskeyAdmin(WebAuthnCredentialAdmin, ModelAdmin):
    """Staff passkeys; django-otp-webauthn does not register its admin itself."""

    list_select_related = ("user",)
    search_fields = ("user__email", "name")


# --- Customer 360 ---------------------------------------------------------------------------


class CustomerServiceInline(ReadOnlyTabularInline):
    model = Service
    tab = True
    verbose_name_plural = "Services"
    fields = ("service_name", "product", "status_badge", "primary_ip", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")

    @display(description="Service")
    def service_name(self, obj):
        return obj.label or obj.hostname or f"Service {obj.pk}"

    @display(description="Status", label=SERVICE_STATUS)
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()


class CustomerSubscriptionInline(ReadOnlyTabularInline):
    model = Subscription
    tab = True
    verbose_name_plural = "Subscriptions"
    fields = ("product_name", "cycle", "amount_cell", "status_badge", "current_period_end", "cancel_at_period_end")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("price__product", "currency")

    @display(description="Product")
    def product_name(self, obj):
        return obj.price.product.name

    @display(description="Amount")
    def amount_cell(self, obj):
        return money(obj.amount, obj.currency)

    @display(description="Status", label=SUBSCRIPTION_STATUS)
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()


class CustomerInvoiceInline(ReadOnlyTabularInline):
    model = Invoice
    fk_name = "customer"
    tab = True
    verbose_name_plural = "Invoices"
    fields = ("number_cell", "purpose", "status_badge", "total_cell", "issue_date", "due_date")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("currency")

    @display(description="Number")
    def number_cell(self, obj):
        return obj.number or f"Draft {obj.pk}"

    @display(description="Status", label=INVOICE_STATUS)
    def status_badge(self, obj):
        if obj.is_overdue:
            return "overdue", "Overdue"
        return obj.status, obj.get_status_display()

    @display(description="Total")
    def total_cell(self, obj):
        return money(obj.total, obj.currency)


class CustomerPaymentInline(ReadOnlyTabularInline):
    model = Payment
    tab = True
    verbose_name_plural = "Payments"
    fields = ("received_at", "kind", "gateway", "amount_cell", "status_badge", "invoice_number")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("currency", "invoice")

    @display(description="Amount")
    def amount_cell(self, obj):
        return money(obj.signed_amount, obj.currency)

    @display(description="Status", label=PAYMENT_STATUS)
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()

    @display(description="Invoice")
    def invoice_number(self, obj):
        return str(obj.invoice) if obj.invoice_id else "—"


class CustomerCreditInline(ReadOnlyTabularInline):
    model = CreditEntry
    tab = True
    verbose_name_plural = "Credit ledger"
    fields = ("created_at", "amount_cell", "reason", "description", "invoice_number")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("currency", "invoice")

    @display(description="Amount")
    def amount_cell(self, obj):
        return money(obj.amount, obj.currency)

    @display(description="Invoice")
    def invoice_number(self, obj):
        return str(obj.invoice) if obj.invoice_id else "—"


class CustomerNoteInline(StackedInline):
    """Staff-only notes (never shown to the customer), pinned first. Notes are added, not rewritten."""

    model = CustomerNote
    tab = True
    extra = 0
    verbose_name_plural = "Staff notes"
    fields = ("body", "is_pinned", "author", "created_at")
    readonly_fields = ("author", "created_at")
    ordering = ("-is_pinned", "-created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")

    def has_change_permission(self, request, obj=None):
        # Pinning/unpinning an existing note is the only edit; the text stays as written.
        return request.user.has_perm("accounts.change_customernote")


class CustomerTicketInline(TicketInline):
    """The customer's SupportPal tickets (the mirror; refreshed by a task and on demand)."""

    fk_name = "customer"
    tab = True


class CustomerOutboxInline(OutboxInline):
    """Every message sent (or queued, failed, skipped) to the customer; resend from the outbox list."""

    tab = True
    show_change_link = True


@admin.register(Customer)
class CustomerAdmin(LargeTableAdminMixin, SimpleHistoryAdmin, ImportExportModelAdmin, ModelAdmin):
    """The customer 360: summary cards, quick actions, the timeline, then tabs for services,
    subscriptions, invoices, payments, credit and staff notes."""

    resource_classes = [CustomerResource]
    formats = FORMATS
    import_form_class = ImportForm
    export_form_class = ExportForm
    list_display = ("customer_cell", "status_badge", "country", "currency", "service_count", "created_at")
    list_select_related = ("user", "currency")
    list_defer = ("notes",)
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("currency", RelatedDropdownFilter),
        "is_tax_exempt",
        "suspension_exempt",
        ("created_at", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("company", "user__email", "user__first_name", "user__last_name", "phone", "vat_id")
    autocomplete_fields = ("user", "currency")
    readonly_fields = ("created_at", "updated_at")
    # Balances, MRR, services and renewals sit above the form (backoffice/customer_summary.py).
    change_form_outer_before_template = "admin/accounts/customer/summary.html"
    # The newest timeline events under the form; the full, paginated timeline is its own page.
    change_form_outer_after_template = "admin/accounts/customer/timeline_recent.html"
    actions_detail = ["add_credit_action", "create_invoice_action", "suspend_services_action",
                      "unsuspend_services_action", "send_password_reset_action", "impersonate_action",
                      "timeline_action"]  # fmt: skip
    inlines = (
        CustomerNoteInline,
        CustomerServiceInline,
        CustomerSubscriptionInline,
        CustomerInvoiceInline,
        CustomerPaymentInline,
        CustomerCreditInline,
        CustomerTicketInline,
        CustomerOutboxInline,
    )
    fieldsets = (
        (None, {"fields": ("user", "company", "phone", "status", "currency")}),
        (
            "Billing address",
            {
                "fields": (
                    "address_line1",
                    "address_line2",
                    "city",
                    "region",
                    "postal_code",
                    "country",
                    "vat_id",
                    "is_tax_exempt",
                    "auto_apply_credit",
                )
            },
        ),  # fmt: skip
        (
            "Shipping address",
            {
                "classes": ["collapse"],
                "fields": (
                    "shipping_same_as_billing",
                    "shipping_line1",
                    "shipping_line2",
                    "shipping_city",
                    "shipping_region",
                    "shipping_postal_code",
                    "shipping_country",
                ),
            },
        ),  # fmt: skip
        ("Suspension policy", {"fields": ("suspension_exempt", "extra_grace_days")}),
        ("Other", {"fields": ("notes", "whmcs_id", "supportpal_user_id", "created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        # A correlated count, not a JOIN ... GROUP BY over every customer: only the page's rows
        # evaluate it, and the list's COUNT drops it (backoffice/admin/scale.py keeps counts cheap).
        services = Service.objects.filter(customer=OuterRef("pk")).order_by().values("customer").annotate(n=Count("pk"))
        return super().get_queryset(request).annotate(n_services=Coalesce(Subquery(services.values("n")), 0))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            context["customer_summary"] = customer_summary(obj)
            context["customer_timeline"] = customer_timeline(obj, per_page=10)
            context["timeline_url"] = reverse("admin:accounts_customer_timeline", args=[obj.pk])
            context["pinned_notes"] = [n for n in obj.staff_notes.select_related("author")[:20] if n.is_pinned]
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def get_urls(self):
        from django.urls import path

        from ..impersonation import ImpersonateView
        from ..timeline_views import CustomerTimelineView

        custom = [
            path("<int:object_id>/impersonate/", self.admin_site.admin_view(ImpersonateView.as_view(model_admin=self)),
                 name="accounts_customer_impersonate"),
            path("<int:object_id>/timeline/", self.admin_site.admin_view(CustomerTimelineView.as_view(model_admin=self)),
                 name="accounts_customer_timeline"),
        ]  # fmt: skip
        return custom + super().get_urls()

    def save_formset(self, request, form, formset, change):
        if formset.model is CustomerNote:
            notes = formset.save(commit=False)
            for note in notes:
                is_new = note.pk is None
                if is_new:
                    note.author = request.user
                note.save()
                record("customer.note_added" if is_new else "customer.note_changed", note.customer,
                       actor=request.user, message=note.body[:200], data={"pinned": note.is_pinned})  # fmt: skip
            for note in formset.deleted_objects:
                record("customer.note_deleted", note.customer, actor=request.user, message=note.body[:200])
                note.delete()
            return
        super().save_formset(request, form, formset, change)

    # --- quick actions (each one service call; see backoffice/customer_actions.py) ---------------------

    def has_add_credit_permission(self, request, obj=None):
        return request.user.has_perm("billing.add_creditentry")

    def has_create_invoice_permission(self, request, obj=None):
        return request.user.has_perm("billing.add_invoice")

    def has_suspend_services_permission(self, request, obj=None):
        return request.user.has_perm("provisioning.change_service")

    def has_password_reset_permission(self, request, obj=None):
        user = request.user
        return user.has_perm("accounts.change_customer") or user.has_perm("provisioning.reset_service_credentials")

    def has_impersonate_permission(self, request, obj=None):
        return request.user.has_perm("accounts.impersonate_customer")

    @action(description="Add credit", url_path="add-credit", permissions=["add_credit"], icon="savings",
            dialog={"title": "Add credit to this customer", "form_submit_text": "Add credit",
                    "form_class": customer_actions.AddCreditForm})  # fmt: skip
    def add_credit_action(self, request, form, object_id):
        return customer_actions.add_credit_action(request, form, object_id)

    @action(description="Create invoice", url_path="create-invoice", permissions=["create_invoice"],
            icon="receipt_long", dialog={"title": "Create a draft invoice", "form_submit_text": "Create draft",
                                         "form_class": customer_actions.CreateInvoiceForm})  # fmt: skip
    def create_invoice_action(self, request, form, object_id):
        return customer_actions.create_invoice_action(request, form, object_id)

    @action(description="Suspend all services", url_path="suspend-services", permissions=["suspend_services"],
            icon="pause_circle", dialog={"title": "Suspend every active service?", "form_submit_text": "Suspend",
                                         "form_class": customer_actions.ServicesReasonForm})  # fmt: skip
    def suspend_services_action(self, request, form, object_id):
        return customer_actions.suspend_services_action(request, form, object_id)

    @action(description="Unsuspend all services", url_path="unsuspend-services", permissions=["suspend_services"],
            icon="play_circle", dialog={"title": "Lift every suspension?", "form_submit_text": "Unsuspend",
                                        "form_class": customer_actions.ServicesReasonForm})  # fmt: skip
    def unsuspend_services_action(self, request, form, object_id):
        return customer_actions.unsuspend_services_action(request, form, object_id)

    @action(description="Send password reset", url_path="password-reset", permissions=["password_reset"],
            icon="key", dialog={"title": "Email a password reset link?", "form_submit_text": "Send"})  # fmt: skip
    def send_password_reset_action(self, request, form, object_id):
        return customer_actions.send_password_reset_action(request, form, object_id)

    @action(description="Impersonate", url_path="impersonate-start", permissions=["impersonate"], icon="person")
    def impersonate_action(self, request, object_id):
        return customer_actions.impersonate_action(request, object_id)

    @action(description="Timeline", url_path="timeline-open", permissions=["view"], icon="timeline")
    def timeline_action(self, request, object_id):
        from django.shortcuts import redirect

        return redirect(reverse("admin:accounts_customer_timeline", args=[object_id]))

    def has_delete_permission(self, request, obj=None):
        # Customers carry money history (PROTECT foreign keys); close them with a status instead.
        return False

    @display(description="Customer", ordering="company")
    def customer_cell(self, obj):
        return header(obj.display_name, obj.user.email)

    @display(description="Status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display(), CUSTOMER_STATUS)

    @display(description="Services", ordering="n_services")
    def service_count(self, obj):
        return obj.n_services


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("name", "expires_at", "revoked_at")


@admin.register(ApiToken)
class ApiTokenAdmin(ModelAdmin):
    """Tokens are created by customers (the secret is shown once); staff can rename, expire or revoke."""

    form = ApiTokenForm
    list_display = ("token_cell", "user", "scope_list", "active_badge", "last_used_at", "expires_at")
    list_select_related = ("user",)
    list_filter = (("created_at", RangeDateFilter), ("expires_at", RangeDateFilter))
    list_filter_submit = True
    search_fields = ("name", "prefix", "user__email")
    readonly_fields = ("user", "prefix", "scopes", "created_at", "last_used_at")
    fields = ("user", "name", "prefix", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at")

    def has_add_permission(self, request):
        return False

    @display(description="Token", header=True, ordering="name")
    def token_cell(self, obj):
        return [obj.name, f"{obj.prefix}…"]

    @display(description="Scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes or [])

    @display(description="State", label={"active": "success", "inactive": "danger"})
    def active_badge(self, obj):
        return "active" if obj.is_active else "inactive"
