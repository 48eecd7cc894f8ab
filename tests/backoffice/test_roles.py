"""Staff roles (core/accounts/roles.py): Support, Billing and Admin groups exist with their
permissions, and every admin page and every Unfold action enforces them: a sweep over all
registered admins per role (pages answer 200 or 403 as the role's permissions say; every action
the role may not run answers 403 and changes nothing)."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.urls import NoReverseMatch, reverse

from core.accounts.roles import ADMIN, BILLING, SUPPORT, sync_role_groups
from core.audit.models import AuditLog
from core.billing.errors import PaymentError
from core.billing.services.payments import refund_payment
from tests.conftest import login_verified
from tests.factories import PaymentFactory, StaffUserFactory

pytestmark = pytest.mark.django_db
REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _staff_in(role: str):
    user = StaffUserFactory(is_superuser=False, email=f"{role.lower()}-{Group.objects.count()}@ezscale.example")
    user.groups.add(Group.objects.get(name=role))
    return user


def _perm(model, verb):
    return f"{model._meta.app_label}.{verb}_{model._meta.model_name}"


def test_groups_are_created_with_their_permissions():
    support, billing, admin_group = (Group.objects.get(name=n) for n in (SUPPORT, BILLING, ADMIN))
    codes = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in (support, billing, admin_group)}
    assert {"power_service", "reset_service_credentials", "view_customer", "impersonate_customer"} <= codes[SUPPORT]
    assert not {"view_invoice", "view_payment", "refund_payment", "change_service", "add_creditentry"} & codes[SUPPORT]
    assert {"view_invoice", "change_invoice", "refund_payment", "add_creditentry"} <= codes[BILLING]
    assert not {"refund_any_amount", "power_service", "change_service"} & codes[BILLING]
    assert codes[ADMIN] == set(Permission.objects.values_list("codename", flat=True))
    # Re-syncing adds nothing twice and never removes a permission granted by hand.
    extra = Permission.objects.get(codename="view_auditlog")
    support.permissions.add(extra)
    sync_role_groups()
    assert support.permissions.filter(pk=extra.pk).exists()


def _admin_urls(model, model_admin, obj):
    urls = {"changelist": reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")}
    if obj is not None:
        urls["change"] = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
    return urls


@pytest.mark.parametrize("role", [SUPPORT, BILLING, ADMIN])
def test_every_admin_page_answers_as_the_role_allows(client, admin_world, role):
    user = _staff_in(role)
    login_verified(client, user)
    problems = []
    for model, model_admin in REGISTERED:
        allowed = user.has_perm(_perm(model, "view")) or user.has_perm(_perm(model, "change"))
        obj = model.objects.order_by("pk").first()
        for view, url in _admin_urls(model, model_admin, obj).items():
            status = client.get(url).status_code
            if allowed and status != 200 or not allowed and status not in (403, 302):
                problems.append(f"{model._meta.label} {view}: {status} (allowed={allowed})")
    assert not problems, problems


def _unfold_actions(model_admin):
    names = []
    for attr in ("actions_list", "actions_row", "actions_detail", "actions_submit_line"):
        for entry in getattr(model_admin, attr, None) or []:
            if isinstance(entry, dict):
                names += [(attr, n) for n in entry.get("items", [])]
            else:
                names.append((attr, entry))
    return names


def _action_url(model, attr, name, obj):
    base = f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}"
    try:
        return reverse(base) if attr == "actions_list" else reverse(base, args=[obj.pk])
    except NoReverseMatch:
        return None


@pytest.mark.parametrize("role", [SUPPORT, BILLING])
def test_every_action_the_role_may_not_run_is_refused(client, rf, admin_world, role):
    user = _staff_in(role)
    login_verified(client, user)
    request = rf.get("/")
    request.user = user
    refused, problems = 0, []
    # The newest entry so far (ids keep rising across tests on MariaDB, so not a count).
    before = AuditLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for model, model_admin in REGISTERED:
        obj = model.objects.order_by("pk").first()
        for attr, name in _unfold_actions(model_admin):
            if attr != "actions_list" and obj is None:
                continue
            method = getattr(type(model_admin), name)
            permitted = all(
                getattr(model_admin, f"has_{p}_permission")(request, *([obj.pk] if attr != "actions_list" else []))
                for p in getattr(method, "allowed_permissions", None) or ()
            )
            if permitted:
                continue
            url = _action_url(model, attr, name, obj)
            assert url, f"{model._meta.label}.{name} has no URL"
            status = client.post(url, {"_form_submitted": "1", "confirm": "yes", "reason": "sweep"}).status_code
            refused += 1
            if status != 403:
                problems.append(f"{model._meta.label}.{name}: {status}")
    assert not problems, problems
    assert refused > 5
    assert not AuditLog.objects.filter(pk__gt=before).exclude(action__startswith="auth.").exists()


@pytest.mark.parametrize(
    ("role", "service_actions", "not_service_actions"),
    [
        (SUPPORT, {"detail_power", "detail_reset_credentials"}, {"detail_suspend", "detail_terminate"}),
        (BILLING, set(), {"detail_power", "detail_suspend", "detail_reset_credentials"}),
    ],
)
def test_role_action_matrix_on_a_service(rf, admin_world, role, service_actions, not_service_actions):
    from core.provisioning.models import Service

    user = _staff_in(role)
    request = rf.get("/")
    request.user = user
    service = Service.objects.filter(status="active").first()
    model_admin = admin.site._registry[Service]
    shown = {a.action_name.removeprefix("provisioning_service_") for a in
             model_admin.get_actions_detail(request, service.pk)}  # fmt: skip
    assert service_actions <= shown
    assert not (not_service_actions & shown)


def test_refunds_are_limited_by_role(settings):
    settings.STAFF_REFUND_LIMIT = "50.00"
    support, billing, admin_user = _staff_in(SUPPORT), _staff_in(BILLING), _staff_in(ADMIN)
    payment = PaymentFactory(gateway="manual", amount=Decimal("200.00"), currency__code="USD")
    with pytest.raises(PaymentError, match="may not refund"):
        refund_payment(payment, amount=Decimal("10.00"), actor=support)
    with pytest.raises(PaymentError, match="need an admin"):
        refund_payment(payment, amount=Decimal("60.00"), actor=billing)
    assert not payment.refunds.exists()
    refund_payment(payment, amount=Decimal("40.00"), actor=billing)
    refund_payment(payment, amount=Decimal("150.00"), actor=admin_user)
    assert payment.refunds.count() == 2
