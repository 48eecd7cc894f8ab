"""Unfold callbacks: environment badge and the sidebar."""

from django.conf import settings
from django.urls import reverse_lazy


def environment_callback(request):
    if settings.IS_PRODUCTION:
        return None
    return ["Demo" if settings.DJANGO_ENV == "development" else settings.DJANGO_ENV.title(), "warning"]


def held_policy_actions_badge(request) -> str | None:
    from core.billing.models import PendingPolicyAction

    count = PendingPolicyAction.objects.filter(status="pending").count()
    return str(count) if count else None


def _link(name: str):
    return reverse_lazy(f"admin:{name}")


def _perm(codename: str):
    return lambda request: bool(request.user.has_perm(codename))


def sidebar_navigation(request=None):
    def item(title, icon, url_name, perm):
        return {"title": title, "icon": icon, "link": _link(url_name), "permission": _perm(perm)}

    return [
        {
            "title": "Overview",
            "separator": False,
            "items": [{"title": "Dashboard", "icon": "dashboard", "link": reverse_lazy("admin:index")}],
        },
        {
            "title": "Customers",
            "separator": True,
            "items": [
                item("Customers", "group", "accounts_customer_changelist", "accounts.view_customer"),
                item("Users", "person", "accounts_user_changelist", "accounts.view_user"),
                item("API tokens", "key", "accounts_apitoken_changelist", "accounts.view_apitoken"),
            ],
        },
        {
            "title": "Billing",
            "separator": True,
            "items": [
                item("Invoices", "receipt_long", "billing_invoice_changelist", "billing.view_invoice"),
                item("Billing run preview", "preview", "billing_invoice_billing_run", "billing.view_invoice"),
                {
                    **item(
                        "Held policy actions",
                        "pause_circle",
                        "billing_pendingpolicyaction_changelist",
                        "billing.view_pendingpolicyaction",
                    ),
                    # Suspensions the blast-radius guard held back wait here for a person to decide.
                    "badge": "backoffice.unfold.held_policy_actions_badge",
                },
                item("Payments", "payments", "billing_payment_changelist", "billing.view_payment"),
                item("Subscriptions", "autorenew", "billing_subscription_changelist", "billing.view_subscription"),
                item("Orders", "shopping_cart", "billing_order_changelist", "billing.view_order"),
                item(
                    "Credit ledger",
                    "account_balance_wallet",
                    "billing_creditentry_changelist",
                    "billing.view_creditentry",
                ),
                item("Coupons", "sell", "billing_coupon_changelist", "billing.view_coupon"),
                item("Tax rates", "percent", "billing_taxrate_changelist", "billing.view_taxrate"),
                item("Webhook events", "webhook", "billing_webhookevent_changelist", "billing.view_webhookevent"),
            ],
        },
        {
            "title": "Services",
            "separator": True,
            "items": [
                item("Services", "dns", "provisioning_service_changelist", "provisioning.view_service"),
                item(
                    "Provisioning jobs",
                    "build",
                    "provisioning_provisioningjob_changelist",
                    "provisioning.view_provisioningjob",
                ),
                item(
                    "Platform connections",
                    "hub",
                    "provisioning_platformconnection_changelist",
                    "provisioning.view_platformconnection",
                ),
                item("Bandwidth", "network_check", "usage_bandwidthperiod_changelist", "usage.view_bandwidthperiod"),
            ],
        },
        {
            "title": "Catalog",
            "separator": True,
            "items": [
                item("Products", "inventory_2", "catalog_product_changelist", "catalog.view_product"),
                item("Prices", "sell", "catalog_price_changelist", "catalog.view_price"),
                item("Currencies", "currency_exchange", "catalog_currency_changelist", "catalog.view_currency"),
            ],
        },
        {
            "title": "Support and system",
            "separator": True,
            "items": [
                item("Tickets", "support_agent", "support_supportticket_changelist", "support.view_supportticket"),
                item("Announcements", "campaign", "support_announcement_changelist", "support.view_announcement"),
                item(
                    "Notifications", "mail", "notifications_notification_changelist", "notifications.view_notification"
                ),
                item("Audit log", "history", "audit_auditlog_changelist", "audit.view_auditlog"),
            ],
        },
    ]
