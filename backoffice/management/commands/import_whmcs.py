"""`manage.py import_whmcs --source mysql://user:pass@host/whmcs`: import (or rehearse) a WHMCS database.

Lives in backoffice (not core) because it calls integrations.whmcs; core never imports integrations.
Exit code 1 when the schema differs or any money difference is not 0.00.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from integrations.whmcs.importer import STEPS, import_whmcs
from integrations.whmcs.source import SourceError


class Command(BaseCommand):
    help = "Import clients, products, services, invoices, transactions and credit from a WHMCS database (read-only)."

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, help="mysql://user:password@host:3306/whmcs")
        parser.add_argument("--dry-run", action="store_true", help="Read, map and validate everything; write nothing.")
        parser.add_argument("--only", default="", help=f"Comma-separated steps: {','.join(STEPS)}")
        parser.add_argument("--since", default=None, help="YYYY-MM-DD: only rows changed or dated from then on")
        parser.add_argument("--batch-size", type=int, default=2000)
        parser.add_argument(
            "--attachments-dir",
            default=None,
            help="WHMCS's attachments folder: ticket attachments are copied into our storage "
            "(without it their file names are kept as references)",
        )
        parser.add_argument("--report-dir", default=None, help="Write report.html and report.csv here")
        parser.add_argument(
            "--whmcs-encryption-key",
            default=os.environ.get("WHMCS_CC_ENCRYPTION_HASH", ""),
            help="cc_encryption_hash from WHMCS's configuration.php (or env WHMCS_CC_ENCRYPTION_HASH): "
            "service passwords are decrypted and stored encrypted with our keys; without it they are not imported",
        )

    def handle(self, *args, **options):
        since = options["since"]
        if since:
            try:
                dt.date.fromisoformat(since)
            except ValueError as exc:
                raise CommandError("--since must be a date like 2024-01-31") from exc
        only = [s.strip() for s in options["only"].split(",") if s.strip()]
        last_print = {"t": 0.0}

        def progress(table, done, total, seconds):
            now = time.monotonic()
            if now - last_print["t"] < 1 and done < total:
                return
            last_print["t"] = now
            rate = done / seconds if seconds else 0
            eta = (total - done) / rate if rate else 0
            self.stdout.write(f"  {table}: {done}/{total} rows, {rate:,.0f} rows/s, ETA {eta:,.0f}s")

        try:
            report = import_whmcs(
                options["source"],
                dry_run=options["dry_run"],
                only=only or None,
                since=since,
                batch_size=options["batch_size"],
                progress=progress,
                encryption_key=options["whmcs_encryption_key"] or "",
                attachments_dir=options["attachments_dir"],
            )
        except (SourceError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report.summary())
        if options["report_dir"]:
            out = Path(options["report_dir"])
            out.mkdir(parents=True, exist_ok=True)
            (out / "report.html").write_text(report.to_html())
            (out / "report.csv").write_text(report.to_csv())
            self.stdout.write(f"Report written to {out}/report.html and report.csv")
        if report.schema_differences or not report.is_reconciled:
            sys.exit(1)
