"""Starting a WHMCS import from the admin: permission, task, progress page, report, audit."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from core.audit.models import AuditLog
from core.imports.models import ImportRun
from integrations.whmcs import tasks
from integrations.whmcs.report import ImportReport
from tests.conftest import login_verified
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db
SOURCE = "mysql://reader:s3cret@whmcs.internal:3306/whmcs"


def _grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="imports", codename__in=codenames))


@pytest.fixture
def fake_import(monkeypatch):
    calls = []

    def fake(source_url, **options):
        calls.append((source_url, options))
        options["progress"]("tblclients", 10, 10, 1.0)
        report = ImportReport(dry_run=options["dry_run"])
        report.table("tblclients").read = 10
        return report

    monkeypatch.setattr(tasks, "import_whmcs", fake)
    return calls


def test_staff_without_the_permission_cannot_start_an_import(client, fake_import):
    staff = StaffUserFactory(is_superuser=False)
    login_verified(client, staff)
    _grant(staff, "view_importrun")
    response = client.post(reverse("admin:imports_importrun_start"), {"source": SOURCE, "dry_run": "on"})
    assert response.status_code == 403
    assert not ImportRun.objects.exists() and fake_import == []


def test_start_runs_the_task_shows_progress_and_the_report_and_is_audited(
    client, staff_user, fake_import, django_capture_on_commit_callbacks
):
    login_verified(client, staff_user)
    _grant(staff_user, "run_import", "view_importrun")
    page = client.get(reverse("admin:imports_importrun_start"))
    assert page.status_code == 200 and b"Start a WHMCS import" in page.content

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:imports_importrun_start"),
            {"source": SOURCE, "dry_run": "on", "only": ["clients"], "since": "2024-01-01"},
        )
    run = ImportRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("admin:imports_importrun_progress", args=[run.pk])
    # The task ran inline (Q sync in tests) with the options; the password is kept nowhere in clear.
    assert fake_import[0][0] == SOURCE
    assert fake_import[0][1]["dry_run"] is True and fake_import[0][1]["only"] == ["clients"]
    assert fake_import[0][1]["since"] == "2024-01-01"
    run.refresh_from_db()
    assert (
        run.status == "succeeded"
        and run.source_url == ""
        and run.source_label == "mysql://reader@whmcs.internal:3306/whmcs"
    )
    assert run.report["tables"]["tblclients"]["read"] == 10 and "s3cret" not in str(run.report)
    audit = AuditLog.objects.filter(action="imports.whmcs.start").get()
    assert audit.actor == staff_user and "s3cret" not in str(audit.data) + audit.message

    page = client.get(reverse("admin:imports_importrun_progress", args=[run.pk]))
    assert page.status_code == 200 and b"tblclients" in page.content and b"Reconciliation report" in page.content
    csv = client.get(reverse("admin:imports_importrun_report", args=[run.pk, "csv"]))
    assert csv.status_code == 200 and b"table,tblclients,10" in csv.content
    assert client.get(reverse("admin:imports_importrun_changelist")).status_code == 200


def test_a_malformed_source_is_refused_with_the_reason(client, staff_user, fake_import):
    login_verified(client, staff_user)
    _grant(staff_user, "run_import", "view_importrun")
    response = client.post(reverse("admin:imports_importrun_start"), {"source": "postgres://x/y"})
    assert response.status_code == 200 and b"mysql://user:password@host:3306/whmcs" in response.content
    assert not ImportRun.objects.exists()


def test_a_repeated_delivery_does_not_run_the_import_twice(fake_import, staff_user):
    run = ImportRun.objects.create(source_label="x", source_url=SOURCE, options={}, dry_run=True)
    tasks.run_import(run.pk)
    tasks.run_import(run.pk)
    assert len(fake_import) == 1
