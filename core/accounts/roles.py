"""Staff roles: the groups staff are put in, and the permissions each one carries.

- Support: reads customers, services and their jobs; runs power actions and credential resets;
  impersonates customers (with a reason); writes staff notes. No money: no invoices, payments or credit.
- Billing: invoices, payments, credit, subscriptions, coupons and held policy actions; refunds up to
  settings.STAFF_REFUND_LIMIT (core.billing.services.refund_policy); reads customers and services.
- Admin: every permission, including refunds of any amount.

The groups are created by a migration (accounts 0006); their permissions are (re)granted after every
`migrate` by sync_role_groups, which only adds what is missing, so a permission staff granted by hand
is never taken away and a permission added by a later migration reaches the Admin group.
"""

from __future__ import annotations

SUPPORT = "Support"
BILLING = "Billing"
ADMIN = "Admin"
ROLE_NAMES = (SUPPORT, BILLING, ADMIN)


def _crud(label: str, *verbs: str) -> list[str]:
    app, model = label.split(".")
    return [f"{app}.{verb}_{model}" for verb in verbs]


ROLE_PERMISSIONS: dict[str, list[str]] = {
    SUPPORT: [
        *_crud("accounts.customer", "view"),
        *_crud("accounts.customernote", "view", "add"),
        *_crud("accounts.contact", "view"),
        *_crud("provisioning.service", "view"),
        *_crud("provisioning.provisioningjob", "view"),
        *_crud("provisioning.platformconnection", "view"),
        *_crud("catalog.product", "view"),
        *_crud("catalog.price", "view"),
        *_crud("billing.subscription", "view"),
        *_crud("support.supportticket", "view"),
        *_crud("usage.bandwidthperiod", "view"),
        *_crud("usage.bandwidthusage", "view"),
        "provisioning.power_service",
        "provisioning.reset_service_credentials",
        "accounts.impersonate_customer",
    ],
    BILLING: [
        *_crud("accounts.customer", "view", "change"),
        *_crud("accounts.customernote", "view", "add"),
        *_crud("accounts.contact", "view"),
        *_crud("provisioning.service", "view"),
        *_crud("catalog.product", "view"),
        *_crud("catalog.price", "view"),
        *_crud("catalog.currency", "view"),
        *_crud("billing.invoice", "view", "add", "change"),
        *_crud("billing.invoiceline", "view", "add", "change"),
        *_crud("billing.payment", "view"),
        *_crud("billing.paymentmethod", "view"),
        *_crud("billing.creditentry", "view", "add"),
        *_crud("billing.subscription", "view", "change"),
        *_crud("billing.order", "view"),
        *_crud("billing.coupon", "view", "add", "change"),
        *_crud("billing.couponredemption", "view"),
        *_crud("billing.taxrate", "view"),
        *_crud("billing.pendingpolicyaction", "view", "change"),
        *_crud("billing.webhookevent", "view"),
        *_crud("usage.bandwidthperiod", "view"),
        "billing.refund_payment",
    ],
    ADMIN: [],  # every permission (see sync_role_groups)
}


def sync_role_groups(*, using: str = "default", apps=None) -> dict[str, int]:
    """Create the three groups if missing and grant each its permissions (only adds). Returns the
    number of permissions each group holds. Permissions that do not exist (an app not installed) are
    skipped rather than failing a deploy."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    counts = {}
    for name in ROLE_NAMES:
        group, _ = Group.objects.using(using).get_or_create(name=name)
        if name == ADMIN:
            wanted = Permission.objects.using(using).all()
        else:
            wanted = Permission.objects.using(using).none()
            for dotted in ROLE_PERMISSIONS[name]:
                app_label, codename = dotted.split(".", 1)
                wanted = wanted | Permission.objects.using(using).filter(
                    content_type__app_label=app_label, codename=codename
                )
        have = set(group.permissions.values_list("pk", flat=True))
        missing = [pk for pk in wanted.values_list("pk", flat=True) if pk not in have]
        if missing:
            group.permissions.add(*missing)
        counts[name] = len(have) + len(missing)
    return counts


def _after_migrate(sender, using="default", apps=None, **kwargs):
    """post_migrate: permissions exist only after every app migrated, so grant them then."""
    from django.apps import apps as global_apps

    if apps is None or sender is not list(global_apps.get_app_configs())[-1]:
        return  # once per migrate, after the last app's permissions were created
    try:
        apps.get_model("auth", "Group")
    except LookupError:
        return
    sync_role_groups(using=using, apps=apps)
