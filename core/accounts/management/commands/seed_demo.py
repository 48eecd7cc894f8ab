"""Load the local demo: catalog, staff login with 2FA, and customers with data in every state.

Idempotent: configuration rows are created or brought back to the fixture values (saved
only when something differs), and a customer's history is created only the first time
the customer appears, so a second run leaves the database exactly as it was.

The customer histories go through the same services as the product (place_order,
record_payment, refund_payment, suspend_service, …), with the clock moved back so dates
look lived-in. Platform work runs inline against the sandbox driver.

Every history is played before `anchor` (a few hours before the real now): a demo order
is paid 30 minutes after it is placed and refused or suspended within hours, so "today's"
orders placed at the real now left paid, created and audited times in the future.
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.utils.text import slugify

from core import clock, money
from core.provisioning.drivers import get_driver

FIXTURES = Path(settings.BASE_DIR) / "fixtures"
CYCLES = ("monthly", "quarterly", "annual")
# The latest step of a demo history is 2 hours after its order (refused); 3 hours keeps them all past.
HISTORY_ENDS_BEFORE_NOW = dt.timedelta(hours=3)


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def upsert(model: type[models.Model], lookup: dict, values: dict, initial: dict | None = None) -> models.Model:
    """Create the row, or set the fixture values on it; save only the fields that differ.

    `initial` values are set only when the row is created: they are state the system moves
    afterwards (stock left), which a re-seed must not reset.
    """
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        return model.objects.create(**lookup, **values, **(initial or {}))
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, values[name])
    if changed:
        obj.save()
    return obj


@contextmanager
def _tasks_inline(inline: bool = True):
    """Run django-q2 tasks in this process (or queue them for the worker when inline=False)."""
    from django_q.conf import Conf

    previous, Conf.SYNC = Conf.SYNC, inline
    try:
        yield
    finally:
        Conf.SYNC = previous


@contextmanager
def _quiet_notifications():
    """Demo emails are sent to memory (their Notification rows are real) rather than printed,
    without rendering PDF attachments (the admin and portal render invoice PDFs on demand;
    rendering two dozen here would make the demo slow to start), and staff Discord is not pinged."""
    from core.notifications import services as notifications

    saved = settings.EMAIL_BACKEND, settings.DISCORD_WEBHOOK_URL, notifications.deliver_email
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DISCORD_WEBHOOK_URL = ""

    def deliver_without_attachments(notification_id: int, payload: dict) -> str:
        return saved[2](notification_id, {**payload, "attachment_builder": None})

    notifications.deliver_email = deliver_without_attachments
    try:
        yield
    finally:
        settings.EMAIL_BACKEND, settings.DISCORD_WEBHOOK_URL, notifications.deliver_email = saved


@contextmanager
def _build_seconds(connection, seconds: int):
    """Make the sandbox panel slow for one order, so its service stays in `provisioning`."""
    original = dict(connection.defaults)
    connection.defaults = {**original, "build_seconds": seconds}
    connection.save(update_fields=["defaults"])
    try:
        yield
    finally:
        connection.defaults = original
        connection.save(update_fields=["defaults"])


class Command(BaseCommand):
    help = "Load demo catalog, a staff user with 2FA and demo customers in every state (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="Do not print the demo logins.")

    def handle(self, *args, quiet: bool = False, **options):
        if settings.IS_PRODUCTION:
            raise CommandError("seed_demo creates known passwords; it refuses to run with DJANGO_ENV=production.")
        catalog = _load("demo_catalog.json")
        people = _load("demo_customers.json")
        self.anchor = clock.now().replace(second=0, microsecond=0) - HISTORY_ENDS_BEFORE_NOW
        with _tasks_inline(), _quiet_notifications():
            with transaction.atomic():
                self.seed_catalog(catalog)
                staff = self.seed_staff(people["staff"])
                self.seed_announcements(people["announcements"])
            created = 0
            for spec in people["customers"]:
                created += self.seed_customer(spec, people["customer_password"], staff)
        if not quiet:
            self.print_logins(people)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} new customer histories)."))

    # --- configuration ---------------------------------------------------------------------

    def seed_catalog(self, catalog: dict) -> None:
        from core.billing.models import Coupon, CouponAmount, SuspensionPolicy, TaxRate
        from core.catalog.models import Currency, Price, Product
        from core.provisioning.models import PlatformConnection

        for row in catalog["currencies"]:
            values = {k: v for k, v in row.items() if k != "code"}
            upsert(Currency, {"code": row["code"]}, {**values, "exchange_rate": Decimal(row["exchange_rate"])})
        for row in catalog["tax_rates"]:
            upsert(
                TaxRate,
                {"country": row["country"], "region": row["region"]},
                {"name": row["name"], "rate": Decimal(row["rate"]), "is_eu_vat": row["is_eu_vat"], "is_active": True},
            )
        for row in catalog["suspension_policies"]:
            upsert(
                SuspensionPolicy,
                {"service_type": row["service_type"]},
                {"suspend_after_days": row["suspend_after_days"], "terminate_after_days": row["terminate_after_days"],
                 "is_enabled": True},
            )  # fmt: skip
        connections = {}
        for row in catalog["connections"]:
            connections[row["name"]] = upsert(
                PlatformConnection,
                {"name": row["name"]},
                {
                    "platform": "sandbox",
                    "base_url": row["base_url"],
                    "api_key": f"sandbox-{row['mimics']}-key",
                    "defaults": {"build_seconds": 0, "mimics": row["mimics"]},
                    "is_active": True,
                },
            )
        multipliers = {cycle: Decimal(m) for cycle, m in catalog["cycle_multipliers"].items()}
        for position, row in enumerate(catalog["products"], start=1):
            product = upsert(
                Product,
                {"slug": row["slug"]},
                {
                    "name": row["name"],
                    "service_type": row["service_type"],
                    "platform": "sandbox",
                    "platform_connection": connections[row["connection"]],
                    "cpu_cores": row.get("cpu_cores"),
                    "ram_mb": row.get("ram_mb"),
                    "disk_gb": row.get("disk_gb"),
                    "bandwidth_quota_gb": row.get("bandwidth_quota_gb"),
                    "features": row.get("features", {}),
                    "order_options": row.get("order_options", {}),
                    "requires_manual_approval": row.get("requires_manual_approval", False),
                    "status": Product.Status.ACTIVE,
                    "sort_order": position * 10,
                    "description": f"{row['name']} on our {row['service_type'].replace('_', ' ')} platform.",
                },
                initial={"stock_quantity": row.get("stock_quantity")},
            )
            for currency, monthly in row["monthly"].items():
                for cycle in CYCLES:
                    upsert(
                        Price,
                        {"product": product, "currency_id": currency, "cycle": cycle},
                        {
                            "amount": money.quantize(Decimal(monthly) * multipliers[cycle], currency),
                            "setup_fee": Decimal(row.get("setup_fee", {}).get(currency, "0.00")),
                            "overage_per_gb": Decimal(row.get("overage_per_gb", "0")),
                            "is_active": True,
                        },
                    )
        for row in catalog["coupons"]:
            coupon = upsert(
                Coupon,
                {"code": row["code"]},
                {
                    "description": row["description"],
                    "kind": row["kind"],
                    "percent": Decimal(row["percent"]) if row.get("percent") else None,
                    "duration": row["duration"],
                    "duration_cycles": row.get("duration_cycles"),
                    "max_redemptions": row.get("max_redemptions"),
                    "max_per_customer": row.get("max_per_customer", 1),
                    "applies_to_all_products": not row.get("products"),
                    "is_active": True,
                },
            )
            if row.get("products"):
                wanted = set(Product.objects.filter(slug__in=row["products"]).values_list("pk", flat=True))
                if set(coupon.products.values_list("pk", flat=True)) != wanted:
                    coupon.products.set(wanted)
            for currency, amount in row.get("amounts", {}).items():
                upsert(CouponAmount, {"coupon": coupon, "currency_id": currency}, {"amount": Decimal(amount)})

    def seed_staff(self, spec: dict):
        from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from core.accounts.models import User

        user = User.objects.filter(email=spec["email"]).first()
        if user is None:
            user = User.objects.create_superuser(
                spec["email"], spec["password"], first_name=spec["first_name"], last_name=spec["last_name"]
            )
        elif not user.check_password(spec["password"]) or not (user.is_staff and user.is_superuser and user.is_active):
            user.set_password(spec["password"])
            user.is_staff = user.is_superuser = user.is_active = True
            user.save()
        # two-factor offers the token step only for a device named "default".
        upsert(TOTPDevice, {"user": user, "name": "default"}, {"key": spec["totp_key"], "confirmed": True})
        backup = upsert(StaticDevice, {"user": user, "name": "backup"}, {"confirmed": True})
        # Used backup codes are deleted by django-otp; put the fixed demo set back.
        if set(backup.token_set.values_list("token", flat=True)) != set(spec["backup_codes"]):
            backup.token_set.all().delete()
            StaticToken.objects.bulk_create([StaticToken(device=backup, token=code) for code in spec["backup_codes"]])
        return user

    def seed_announcements(self, rows: list[dict]) -> None:
        from core.support.models import Announcement

        for row in rows:
            if not Announcement.objects.filter(title=row["title"]).exists():
                published = self._ago(row["days_ago"])
                Announcement.objects.create(
                    title=row["title"], body=row["body"], is_published=True, published_at=published
                )

    # --- customer histories ----------------------------------------------------------------

    def seed_customer(self, spec: dict, password: str, staff) -> int:
        from core.accounts.models import User
        from core.accounts.services import sign_up_customer

        if User.objects.filter(email__iexact=spec["email"]).exists():
            return 0
        history_keys = {"email", "first_name", "last_name", "currency", "orders", "draft_invoice", "credit"}
        profile = {k: v for k, v in spec.items() if k not in history_keys}
        oldest = max([o["days_ago"] for o in spec["orders"]] + [0]) + 3
        with clock.frozen_at(self._ago(oldest)):
            customer = sign_up_customer(
                email=spec["email"], password=password, first_name=spec["first_name"], last_name=spec["last_name"],
                currency=spec["currency"], actor=staff, **profile,
            )  # fmt: skip
        for number, order in enumerate(spec["orders"], start=1):
            self.play_order(customer, order, f"{slugify(spec['email'])}-{number}", staff)
        if spec.get("credit"):
            from core.billing.models import CreditEntry
            from core.billing.services.credit import add_credit

            with clock.frozen_at(self.anchor):
                add_credit(
                    customer, Decimal(spec["credit"]["amount"]), reason=CreditEntry.Reason.MANUAL, actor=staff,
                    description=spec["credit"]["description"],
                )  # fmt: skip
        if spec.get("draft_invoice"):
            from core.billing.services.invoices import create_draft_invoice

            draft = spec["draft_invoice"]
            with clock.frozen_at(self.anchor):
                create_draft_invoice(
                    customer,
                    lines=[{"description": draft["description"], "quantity": Decimal("1"),
                            "unit_amount": Decimal(draft["amount"])}],
                    notes="Demo: a draft staff have not issued yet.",
                )  # fmt: skip
        return 1

    def play_order(self, customer, spec: dict, key: str, staff) -> None:
        from core.billing.models import Invoice
        from core.billing.services.orders import place_order, refuse_order
        from core.billing.services.payments import (
            record_failed_payment,
            record_manual_payment,
            record_payment,
            refund_payment,
        )
        from core.billing.services.subscriptions import cancel_subscription, cancel_subscription_now
        from core.catalog.models import Price
        from core.provisioning.models import Service
        from core.provisioning.services import suspend_service

        outcome = spec["outcome"]
        price = Price.objects.select_related("product__platform_connection").get(
            product__slug=spec["product"], currency_id=customer.currency_id, cycle=spec["cycle"]
        )
        when = self._ago(spec["days_ago"])
        item = {"price": price, "quantity": 1, "hostname": spec.get("hostname", ""), "config": {"os": "debian-12"}}
        with clock.frozen_at(when):
            order = place_order(customer, [item], coupon_code=spec.get("coupon"), ip_address="198.51.100.10")
        invoice = Invoice.objects.get(pk=order.invoice_id)
        if spec.get("declined"):
            with clock.frozen_at(when + dt.timedelta(minutes=5)):
                record_failed_payment(
                    invoice, gateway="sandbox", gateway_transaction_id=f"sbx_demo_{key}_declined",
                    failure_code="card_declined", failure_message="Your card was declined (insufficient funds).",
                )  # fmt: skip
        if outcome in ("unpaid", "overdue"):
            return
        if outcome == "refused":
            with clock.frozen_at(when + dt.timedelta(hours=2)):
                refuse_order(order, reason="Demo: failed the fraud check (proxy IP, mismatched country).", actor=staff)
            return

        paid_at = when + dt.timedelta(minutes=30)
        connection = price.product.platform_connection
        slow = _build_seconds(connection, 60 * 60 * 24 * 365) if outcome == "provisioning" else _noop()
        if outcome == "failed":
            # The sandbox driver's fault injection, reached through the driver registry
            # (core never imports integrations).
            get_driver(connection).inject_fault("create", "before", times=1, retryable=False)
        with clock.frozen_at(paid_at), slow, _tasks_inline(outcome != "pending"):
            if spec.get("pay_by") == "manual":
                payment = record_manual_payment(
                    invoice, amount=invoice.total, received_on=paid_at.date(), reference=f"DEMO-{key.upper()}",
                    actor=staff,
                )  # fmt: skip
            else:
                payment = record_payment(
                    invoice, amount=invoice.total, gateway="sandbox", gateway_transaction_id=f"sbx_demo_{key}",
                    reference="Sandbox card •••• 4242",
                )  # fmt: skip
        if outcome == "failed":
            self._clear_faults(connection)
        service = Service.objects.filter(subscription__order_items__order=order).first()
        later = paid_at + dt.timedelta(days=max(spec["days_ago"] - 3, 1) if spec["days_ago"] > 3 else 0, hours=1)
        subscription = service.subscription if service is not None else None
        if outcome == "refunded":
            with clock.frozen_at(later):
                refund_payment(payment, amount=invoice.total, reason="Demo: customer changed their mind", actor=staff)
                cancel_subscription_now(subscription, actor=staff, comment="Refunded within the 14-day guarantee")
        elif outcome == "suspended" and service is not None:
            with clock.frozen_at(later):
                suspend_service(service, reason="Demo: abuse report (outgoing port scans)", actor=staff)
        elif outcome == "terminated" and subscription is not None:
            # Cancelling at once terminates the subscription's services (and credits unused time).
            with clock.frozen_at(later):
                cancel_subscription_now(
                    subscription, actor=staff, comment="Demo: moved the workload in-house", prorated_credit=True
                )
        if spec.get("cancel_at_period_end") and subscription is not None:
            with clock.frozen_at(later):
                cancel_subscription(subscription, comment="Demo: switching to a bigger plan next month")
        if subscription is not None:
            self.play_renewals(subscription, key)
        if spec.get("overdue_invoice") and subscription is not None:
            self.play_overdue_invoice(subscription, spec["overdue_invoice"])

    def play_renewals(self, subscription, key: str) -> None:
        """The renewals the daily billing run would have made since the order, each paid by the saved card
        when its period began, so that on the demo's first day nothing is left to catch up: every running
        subscription's current period contains now, and a renewal due within the renewal window is
        issued (open, due when its period starts)."""
        from core.billing.models import Invoice, Subscription
        from core.billing.services.billing_run import RUNNING, renew_subscriptions
        from core.billing.services.payments import record_payment
        from core.billing.services.subscriptions import roll_subscription_period

        ahead = dt.timedelta(days=settings.BILLING["RENEWAL_DAYS_BEFORE"])
        now = clock.now()
        for _ in range(60):  # bounded: five years of monthly periods
            sub = Subscription.objects.get(pk=subscription.pk)
            if sub.status not in RUNNING or sub.cancel_at_period_end or sub.current_period_end - ahead > now:
                return
            start = sub.current_period_end
            with clock.frozen_at(min(start - ahead, self.anchor)):
                renew_subscriptions([sub.pk])
            if start > now:
                return  # issued, due when its period starts
            invoice = Invoice.objects.get(subscription=sub, renewal_period_start=start)
            with clock.frozen_at(min(start + dt.timedelta(hours=1), self.anchor)):
                record_payment(
                    invoice, amount=invoice.amount_due, gateway="sandbox",
                    gateway_transaction_id=f"sbx_demo_{key}_renewal_{start:%Y%m%d}", reference="Sandbox card •••• 4242",
                )  # fmt: skip
            with clock.frozen_at(max(start, min(start + dt.timedelta(hours=1), self.anchor))):
                roll_subscription_period(sub)

    def play_overdue_invoice(self, subscription, spec: dict) -> None:
        """An unpaid add-on invoice on the subscription, overdue by `days_overdue` at the anchor; with
        `hold_policy_action` the suspension policy then runs with a zero blast-radius limit, so the
        suspension it plans is held for staff approval (Billing › held policy actions) instead of run."""
        from core.billing.services.invoices import create_draft_invoice, issue_invoice
        from core.billing.services.suspension import apply_suspension_policy

        due = self.anchor - dt.timedelta(days=spec["days_overdue"])
        with clock.frozen_at(due - dt.timedelta(days=7)):
            draft = create_draft_invoice(
                subscription.customer, subscription=subscription,
                lines=[{"description": spec["description"], "quantity": Decimal("1"),
                        "unit_amount": Decimal(spec["amount"]), "subscription": subscription}],
            )  # fmt: skip
            invoice = issue_invoice(draft, due_date=due.date())
        # What the billing run does the day after the due date: the subscription is past due.
        from core.billing.services.subscriptions import mark_subscription_past_due

        with clock.frozen_at(due + dt.timedelta(days=1)):
            mark_subscription_past_due(subscription, invoice=invoice)
        if not spec.get("hold_policy_action"):
            return
        saved = settings.BILLING
        settings.BILLING = {**saved, "BLAST_RADIUS_MAX_COUNT": 0}
        try:
            with clock.frozen_at(self.anchor):
                apply_suspension_policy()
        finally:
            settings.BILLING = saved

    @staticmethod
    def _clear_faults(connection) -> None:
        connection.refresh_from_db()
        defaults = dict(connection.defaults)
        if defaults.pop("faults", None) is not None:
            connection.defaults = defaults
            connection.save(update_fields=["defaults"])

    def _ago(self, days: int) -> dt.datetime:
        # Whole minutes (from the anchor) keep dates readable in the admin.
        return self.anchor - dt.timedelta(days=days)

    # --- output ------------------------------------------------------------------------------

    def print_logins(self, people: dict) -> None:
        from django_otp.oath import totp
        from django_otp.plugins.otp_totp.models import TOTPDevice

        staff = people["staff"]
        device = TOTPDevice.objects.get(user__email=staff["email"], name="default")
        code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
        base = settings.SITE_URL.rstrip("/")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"Staff admin:  {base}/{settings.ADMIN_PATH}",
                    f"  email {staff['email']}  password {staff['password']}",
                    f"  2FA: current TOTP code {code} (changes every 30 s; `manage.py demo_totp` prints a fresh one)",
                    f"       or a backup code: {', '.join(staff['backup_codes'])}",
                    f"       authenticator app: {device.config_url}",
                    f"Customer portal: {base}/",
                    f"  email customer@ezscale.localhost  password {people['customer_password']}",
                    f"  (every demo customer uses that password, e.g. {people['customers'][4]['email']})",
                    "",
                ]
            )
        )


@contextmanager
def _noop():
    yield
