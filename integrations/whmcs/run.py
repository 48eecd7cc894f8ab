"""What every import step shares: the source, the report, options, progress and id maps."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .report import ImportReport
from .source import WhmcsSource

Progress = Callable[[str, int, int, float], None]  # table, rows done, rows total, seconds so far


@dataclass
class Run:
    source: WhmcsSource
    report: ImportReport
    since: str | None = None  # "YYYY-MM-DD": only rows changed/dated from then on
    batch_size: int = 2000
    progress: Progress | None = None
    attachments_dir: str | None = None  # WHMCS's attachments folder: ticket files are copied from there
    # WHMCS's cc_encryption_hash: service passwords are imported only with it. Never logged or stored.
    encryption_key: str = field(default="", repr=False)
    currency_by_id: dict[int, str] = field(default_factory=dict)
    default_currency: str = ""

    def since_clause(self, column: str) -> tuple[str, list]:
        if not self.since:
            return "", []
        return f"`{column}` >= %s", [self.since]

    def batches(self, table: str, select: str, *, since_column: str | None = None, where: str = "", params=None):
        """Batches of a table with the --since filter applied, reporting progress and read counts."""
        clauses, args = [], list(params or [])
        if where:
            clauses.append(where)
        if since_column:
            clause, since_args = self.since_clause(since_column)
            if clause:
                clauses.append(clause)
                args += since_args
        condition = " AND ".join(f"({c})" for c in clauses)
        total = self.source.count(table, condition, args)
        stats = self.report.table(table)
        started, done = time.monotonic(), 0
        for rows in self.source.batches(table, select, where=condition, params=args, size=self.batch_size):
            yield rows
            done += len(rows)
            stats.read += len(rows)
            stats.seconds = time.monotonic() - started
            if self.progress:
                self.progress(table, done, total, stats.seconds)
        stats.seconds = time.monotonic() - started

    def currency_code(self, currency_id) -> str | None:
        return self.currency_by_id.get(int(currency_id or 0))
