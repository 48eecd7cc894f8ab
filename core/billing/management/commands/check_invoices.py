"""`manage.py check_invoices`: verify every number series and every issued invoice; non-zero exit on any finding."""

import sys

from django.core.management.base import BaseCommand

from core.billing.services.integrity import check_invoices


class Command(BaseCommand):
    help = "Verify invoice numbering (no gaps, no duplicates), snapshots (unchanged since issue) and totals."

    def handle(self, *args, **options):
        findings = check_invoices()
        for finding in findings:
            self.stderr.write(finding)
        if findings:
            self.stderr.write(f"{len(findings)} problems found.")
            sys.exit(1)
        self.stdout.write("All invoices check out.")
