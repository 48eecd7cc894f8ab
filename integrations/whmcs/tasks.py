"""The WHMCS import as a django-q2 task, started from the admin (backoffice/admin/imports.py).

`start_import` records the run (the source URL encrypted, never in the task arguments or the
audit log) and queues `run_import`; `run_import` is safe to deliver twice (only a queued run
starts) and writes progress as it goes: to the run row (visible at once, each batch commits) and
to the cache (visible for dry runs too, whose writes are rolled back at the end).
"""

from __future__ import annotations

import time
import traceback

from django.core.cache import cache
from django.db import transaction

from core import clock
from core.audit.services import record
from core.encryption import decrypt_str, encrypt_str
from core.imports.models import ImportRun

from .importer import import_whmcs
from .source import SourceUrl

TASK_TIMEOUT = 4 * 3600


def progress_key(run_id: int) -> str:
    return f"whmcs-import-progress:{run_id}"


def start_import(
    source_url: str, *, dry_run: bool, only: list[str], since: str | None, actor=None, encryption_key: str = ""
) -> ImportRun:
    """Create the run and queue it. Raises SourceError for a malformed URL (nothing created). WHMCS's
    encryption key (for service passwords) is kept encrypted with ours in the run's options until the
    run ends, never in the task arguments or the audit log."""
    from django_q.tasks import async_task

    label = SourceUrl.parse(source_url).label
    options = {"only": only, "since": since}
    with transaction.atomic():
        run = ImportRun.objects.create(
            source_label=label, source_url=source_url, dry_run=dry_run, started_by=actor,
            options={**options, **({"encryption_key": encrypt_str(encryption_key)} if encryption_key else {})},
        )  # fmt: skip
        record("imports.whmcs.start", run, actor=actor, message=f"WHMCS import from {label}" + (" (dry run)" if dry_run else ""),
               data={**options, "dry_run": dry_run, "source": label, "encryption_key_given": bool(encryption_key)},
               source="admin")  # fmt: skip
        transaction.on_commit(lambda: async_task(run_import, run.pk, timeout=TASK_TIMEOUT, group="imports"))
    return run


def run_import(run_id: int) -> None:
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().filter(pk=run_id, status=ImportRun.Status.QUEUED).first()
        if run is None:
            return  # already started or finished (a repeated delivery)
        run.status, run.started_at = ImportRun.Status.RUNNING, clock.now()
        run.save(update_fields=["status", "started_at"])
    tables: dict = {}
    last = {"t": 0.0}

    def progress(table, done, total, seconds):
        tables[table] = {"done": done, "total": total, "rate": round(done / seconds, 1) if seconds else 0,
                         "eta": round((total - done) / (done / seconds)) if done and seconds else None}  # fmt: skip
        now = time.monotonic()
        if now - last["t"] >= 2 or done >= total:
            last["t"] = now
            cache.set(progress_key(run_id), tables, 24 * 3600)
            if not run.dry_run:
                ImportRun.objects.filter(pk=run_id).update(progress=tables)

    options = dict(run.options or {})
    token = options.pop("encryption_key", "")
    ImportRun.objects.filter(pk=run_id).update(options=options)  # the key is read once, then forgotten
    try:
        report = import_whmcs(
            run.source_url, dry_run=run.dry_run, only=options.get("only") or None, since=options.get("since"),
            progress=progress, encryption_key=decrypt_str(token) if token else "",
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 (the run must end as failed with the reason, whatever it was)
        ImportRun.objects.filter(pk=run_id).update(
            status=ImportRun.Status.FAILED, error=f"{exc}\n\n{traceback.format_exc()[-4000:]}", source_url="",
            finished_at=clock.now(), progress=tables,
        )  # fmt: skip
        record("imports.whmcs.failed", run, message=str(exc)[:500], source="task")
        return
    if report.schema_differences:
        status = ImportRun.Status.FAILED
    else:
        status = ImportRun.Status.SUCCEEDED if report.is_reconciled else ImportRun.Status.DIFFERENCES
    ImportRun.objects.filter(pk=run_id).update(
        status=status, report=report.to_dict(), report_html=report.to_html(), report_csv=report.to_csv(),
        progress=tables, source_url="", finished_at=clock.now(),
        error="Schema differences: " + "; ".join(report.schema_differences) if report.schema_differences else "",
    )  # fmt: skip
    record("imports.whmcs.finished", run, message=f"WHMCS import {status}", data={"reconciled": report.is_reconciled},
           source="task")  # fmt: skip
