"""Issue 13: the admin's service action pages (bulk and single) render in Unfold's layout with the brand
and a title; after confirming, the message says what was done and what was queued, and the list shows the
pending state rather than the old one."""

import re

import pytest
from django.urls import reverse

from core.provisioning.models import Service
from core.provisioning.services import create_service
from tests.provisioning.conftest import _no_discord, _provisioning_settings, paid_item, product, sandbox  # noqa: F401

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:provisioning_service_changelist"


@pytest.fixture
def active(product, django_capture_on_commit_callbacks):  # noqa: F811  (the imported fixture)
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(*paid_item(product))
    service.refresh_from_db()
    assert service.status == "active"
    return service


def assert_in_unfold_layout(response, title):
    page = response.content.decode()
    assert response.status_code == 200
    assert re.search(rf"<title>\s*{re.escape(title)} \| EZSCALE Backoffice</title>", page)  # base_site's title
    assert "EZSCALE" in page and "Back office" in page  # the site branding (SITE_HEADER / SITE_SUBHEADER)
    assert 'id="nav-sidebar"' in page or "sidebar" in page


def test_bulk_confirmation_page_has_the_brand_and_a_title(staff_client, active):
    response = staff_client.post(reverse(CHANGELIST), {"action": "bulk_suspend", "_selected_action": [active.pk]})
    assert_in_unfold_layout(response, "Suspend: confirm")


def test_single_object_confirmation_page_has_the_brand_and_a_title(staff_client, active):
    response = staff_client.get(reverse("admin:provisioning_service_detail_terminate", args=[active.pk]))
    assert_in_unfold_layout(response, "Terminate: confirm")


def test_after_confirming_the_message_says_queued_and_the_list_shows_the_pending_state(staff_client, active):
    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": "bulk_suspend", "_selected_action": [active.pk], "confirm": "yes", "reason": "Abuse report"},
        follow=True,
    )  # the platform job is queued on commit and not run here: the platform has not confirmed yet
    active.refresh_from_db()
    assert (active.status, active.pending_action) == ("active", "suspend")
    page = response.content.decode()
    assert "1 suspend queued; the service shows Suspended when the platform confirms." in page
    listing = staff_client.get(reverse(CHANGELIST)).content.decode()
    assert "Suspending…" in listing


def test_an_action_done_at_once_says_done(staff_client, active, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:provisioning_service_detail_suspend", args=[active.pk]),
            {"confirm": "yes", "reason": "Abuse report"},
        )
    assert Service.objects.get(pk=active.pk).status == "suspended"
    from django.contrib.messages import get_messages

    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("1 suspend" in m for m in shown), shown
