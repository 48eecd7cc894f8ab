"""Platform connections, services and the log of every platform call."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from core import clock
from core.catalog.models import Platform
from core.encryption import EncryptedJSONField, EncryptedTextField


class PlatformConnection(models.Model):
    """One panel we provision on (several per platform allowed, e.g. two Pterodactyl panels)."""

    name = models.CharField(max_length=64, unique=True)
    platform = models.CharField(max_length=16, choices=Platform.choices, db_index=True)
    base_url = models.URLField(max_length=255)
    api_key = EncryptedTextField(blank=True, help_text="Application/API key (encrypted at rest)")
    api_secret = EncryptedTextField(
        blank=True, help_text="Second credential where the platform needs one (e.g. Pterodactyl client key)"
    )
    defaults = models.JSONField(default=dict, blank=True, help_text="Platform defaults, e.g. node or location ids")
    timeout_seconds = models.PositiveSmallIntegerField(default=30)
    verify_tls = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_message = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["platform", "name"]

    def __str__(self):
        return f"{self.name} ({self.get_platform_display()})"


class Service(models.Model):
    """A thing a customer pays for that runs somewhere: a VPS, a game server, a box, a website."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROVISIONING = "provisioning", "Provisioning"
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        TERMINATED = "terminated", "Terminated"
        FAILED = "failed", "Failed"
        AWAITING_STOCK = "awaiting_stock", "Awaiting stock"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="services")
    subscription = models.ForeignKey(
        "billing.Subscription", null=True, blank=True, on_delete=models.PROTECT, related_name="services"
    )
    # The order line this service fulfils: with the subscription it makes create_service idempotent.
    order_item = models.ForeignKey(
        "billing.OrderItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="services"
    )
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="services")
    connection = models.ForeignKey(
        PlatformConnection, null=True, blank=True, on_delete=models.PROTECT, related_name="services"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    pending_action = models.CharField(
        max_length=32, blank=True, help_text="An action sent to the platform and not yet confirmed"
    )
    label = models.CharField(max_length=100, blank=True)
    hostname = models.CharField(max_length=253, blank=True)
    # Platform identifiers: the customer's account there and the resource itself.
    platform_customer_id = models.CharField(max_length=64, blank=True)
    platform_service_id = models.CharField(max_length=64, blank=True, db_index=True)
    platform_data = models.JSONField(default=dict, blank=True, help_text="Other platform ids (org, subscription…)")
    primary_ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    ip_addresses = models.JSONField(default=list, blank=True)
    username = models.CharField(max_length=100, blank=True)
    credentials = EncryptedJSONField(null=True, blank=True, help_text="Passwords and keys (encrypted at rest)")
    config = models.JSONField(default=dict, blank=True, help_text="What the customer chose at order (OS, SSH key…)")
    # Suspension policy overrides (per service).
    suspension_exempt = models.BooleanField(default=False)
    extra_grace_days = models.PositiveIntegerField(default=0)
    suspension_reason = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    hardware_note = models.CharField(max_length=255, blank=True, help_text="Assigned hardware (dedicated)")
    compensated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the customer was refunded or credited for a failed provisioning"
    )
    compensation = models.CharField(max_length=8, blank=True, help_text="refund or credit")
    holds_stock = models.BooleanField(
        default=False, help_text="This service took one unit of its product's stock (given back on termination)"
    )
    whmcs_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    provisioned_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    credentials_sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["credentials", "updated_at"])

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["customer", "status"]),
            # Admin search by hostname or label (prefix match) without reading every service.
            models.Index(fields=["hostname"], name="service_hostname_idx"),
            models.Index(fields=["label"], name="service_label_idx"),
        ]
        # Role permissions beyond change: support staff may run power actions and reset credentials
        # without being allowed to suspend, terminate or change packages (core/accounts/roles.py).
        permissions = [
            ("power_service", "Can start, stop and restart services"),
            ("reset_service_credentials", "Can reset service credentials"),
        ]
        constraints = [
            # NULLs are distinct in unique indexes (SQLite, MariaDB), so services made without an
            # order (imports, staff) are not constrained.
            models.UniqueConstraint(fields=["subscription", "order_item"], name="service_one_per_order_item"),
        ]

    def __str__(self):
        return self.label or self.hostname or f"{self.product} #{self.pk}"

    @property
    def service_type(self) -> str:
        return self.product.service_type


class ProvisioningJob(models.Model):
    """One call (or queued call) to a platform on behalf of a service: what was asked, what came back."""

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        POLL = "poll", "Poll build"
        SUSPEND = "suspend", "Suspend"
        UNSUSPEND = "unsuspend", "Unsuspend"
        TERMINATE = "terminate", "Terminate"
        CHANGE_PACKAGE = "change_package", "Change package"
        POWER = "power", "Power"
        RESET_CREDENTIALS = "reset_credentials", "Reset credentials"
        STATUS = "status", "Status"
        USAGE = "usage", "Usage"
        PANEL_URL = "panel_url", "Panel link"
        CHECK = "check", "Connection check"
        REINSTALL = "reinstall", "Reinstall"
        POLL_REINSTALL = "poll_reinstall", "Poll reinstall"

    class Outcome(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        RETRYING = "retrying", "Will retry"
        FAILED = "failed", "Failed"

    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    connection = models.ForeignKey(
        PlatformConnection, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    action = models.CharField(max_length=24, choices=Action.choices)
    argument = models.CharField(max_length=64, blank=True, help_text="e.g. the power signal or new product id")
    attempt = models.PositiveSmallIntegerField(default=1)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.QUEUED, db_index=True)
    request = models.JSONField(default=dict, blank=True, help_text="Redacted")
    response = models.JSONField(default=dict, blank=True, help_text="Redacted")
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=100, blank=True, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    run_after = models.DateTimeField(null=True, blank=True, help_text="Not before (backoff and build polling)")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(attempt__gte=1), name="provisioningjob_attempt_positive")]

    def __str__(self):
        return f"{self.get_action_display()} #{self.pk} ({self.outcome})"


class SandboxResource(models.Model):
    """What the sandbox platform (integrations/platforms/sandbox) keeps about one server.

    It stands in for a real panel's own database, so every web process and worker sees the
    same "platform". Nothing outside the sandbox driver reads or writes it.
    """

    connection = models.ForeignKey(PlatformConnection, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=64)
    customer_external_id = models.CharField(max_length=64, blank=True)
    hostname = models.CharField(max_length=253, blank=True)
    features = models.JSONField(default=dict, blank=True)
    product_settings = models.JSONField(default=dict, blank=True)
    ipv4 = models.GenericIPAddressField(null=True, blank=True)
    ipv6 = models.GenericIPAddressField(null=True, blank=True)
    build_state = models.CharField(max_length=16, default="building")
    ready_at = models.DateTimeField()
    power_state = models.CharField(max_length=16, default="stopped")
    is_suspended = models.BooleanField(default=False)
    password_set_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_id"], name="sandboxresource_unique_external_id")
        ]

    def __str__(self):
        return f"sandbox:{self.external_id}"
