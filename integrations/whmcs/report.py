"""The import report: what each table did, every dirty row and what became of it, and the
reconciliation of money and services between WHMCS and us. Text for the terminal, CSV and HTML
to download, JSON to keep on the ImportRun."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.template import Context, Template

ZERO = Decimal("0.00")
MONEY_METRICS = ("invoiced", "credit_applied", "paid", "refunded", "fees", "credit")


@dataclass
class TableStats:
    read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    repaired: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0


@dataclass
class Issue:
    table: str
    whmcs_id: object
    action: str  # "skipped" or "repaired"
    reason: str


@dataclass
class ImportReport:
    dry_run: bool = False
    tables: dict[str, TableStats] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    schema_differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # (metric, currency, year) -> money WHMCS holds in rows we skipped (explains part of a difference)
    skipped_money: dict = field(default_factory=lambda: defaultdict(lambda: ZERO))
    money: list[dict] = field(default_factory=list)
    clients: list[dict] = field(default_factory=list)
    clients_compared: int = 0
    services: list[dict] = field(default_factory=list)
    peak_memory_mb: float = 0.0

    def table(self, name: str) -> TableStats:
        return self.tables.setdefault(name, TableStats())

    def skip(self, table: str, whmcs_id, reason: str, *, money: dict | None = None) -> None:
        self.table(table).skipped += 1
        self.issues.append(Issue(table, whmcs_id, "skipped", reason))
        for key, amount in (money or {}).items():
            self.skipped_money[key] += amount

    def repair(self, table: str, whmcs_id, reason: str) -> None:
        self.table(table).repaired += 1
        self.issues.append(Issue(table, whmcs_id, "repaired", reason))

    @property
    def money_differences(self) -> list[dict]:
        return [row for row in self.money if row["difference"] != ZERO]

    @property
    def service_differences(self) -> list[dict]:
        return [row for row in self.services if row["whmcs"] - row["skipped"] != row["ours"]]

    @property
    def is_reconciled(self) -> bool:
        return not self.money_differences and not self.clients

    # --- output ----------------------------------------------------------------

    def summary(self) -> str:
        out = ["WHMCS import" + (" (DRY RUN: nothing was written)" if self.dry_run else "")]
        if self.schema_differences:
            out.append("Schema differences (nothing imported):")
            out += [f"  {d}" for d in self.schema_differences]
            return "\n".join(out)
        out.append(
            f"{'table':<22}{'read':>9}{'new':>9}{'updated':>9}{'same':>9}{'skipped':>9}{'repaired':>9}{'rows/s':>9}"
        )
        for name, s in self.tables.items():
            out.append(
                f"{name:<22}{s.read:>9}{s.imported:>9}{s.updated:>9}{s.unchanged:>9}{s.skipped:>9}{s.repaired:>9}"
                f"{s.rate:>9.0f}"
            )
        out.append(f"Dirty rows: {sum(1 for i in self.issues if i.action == 'skipped')} skipped, "
                   f"{sum(1 for i in self.issues if i.action == 'repaired')} repaired (listed in the CSV/HTML report)")  # fmt: skip
        out.append("Money (WHMCS - skipped rows - ours = difference):")
        for row in self.money:
            flag = "" if row["difference"] == ZERO else "   <-- DIFFERENCE"
            out.append(
                f"  {row['currency']} {row['year']} {row['metric']:<15} {row['whmcs']:>14} {row['skipped']:>12} "
                f"{row['ours']:>14} {row['difference']:>10}{flag}"
            )
        out.append(
            f"Clients compared: {self.clients_compared}; differing in open balance or credit: {len(self.clients)}"
        )
        for row in self.clients[:20]:
            out.append(f"  client {row['whmcs_id']}: {row}")
        out.append(f"Service status x platform rows differing: {len(self.service_differences)}")
        for note in self.notes:
            out.append(f"Note: {note}")
        out.append("RECONCILED: every money difference is 0.00" if self.is_reconciled else "NOT RECONCILED")
        return "\n".join(out)

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["section", "table", "read", "imported", "updated", "unchanged", "skipped", "repaired"])
        for name, s in self.tables.items():
            w.writerow(["table", name, s.read, s.imported, s.updated, s.unchanged, s.skipped, s.repaired])
        w.writerow([])
        w.writerow(["section", "table", "whmcs_id", "action", "reason"])
        for i in self.issues:
            w.writerow(["dirty_row", i.table, i.whmcs_id, i.action, i.reason])
        w.writerow([])
        w.writerow(["section", "currency", "year", "metric", "whmcs", "skipped", "ours", "difference"])
        for r in self.money:
            w.writerow(["money", r["currency"], r["year"], r["metric"], r["whmcs"], r["skipped"], r["ours"], r["difference"]])  # fmt: skip
        w.writerow([])
        w.writerow(["section", "whmcs_id", "currency", "open_whmcs", "open_ours", "credit_whmcs", "credit_ours"])
        for r in self.clients:
            w.writerow(["client", r["whmcs_id"], r["currency"], r["open_whmcs"], r["open_ours"], r["credit_whmcs"], r["credit_ours"]])  # fmt: skip
        w.writerow([])
        w.writerow(["section", "status", "platform", "whmcs", "skipped", "ours"])
        for r in self.services:
            w.writerow(["services", r["status"], r["platform"], r["whmcs"], r["skipped"], r["ours"]])
        if self.notes:  # stated rules and differences that are not money (e.g. coupon uses): as in the HTML
            w.writerow([])
            w.writerow(["section", "note"])
            for note in self.notes:
                w.writerow(["note", note])
        return buf.getvalue()

    def to_html(self) -> str:
        return Template(_HTML).render(Context({"r": self, "tables": self.tables.items()}))

    def to_dict(self) -> dict:
        def plain(value):
            return str(value) if isinstance(value, Decimal) else value

        return {
            "dry_run": self.dry_run,
            "reconciled": self.is_reconciled,
            "schema_differences": self.schema_differences,
            "tables": {n: {**s.__dict__, "rate": round(s.rate, 1)} for n, s in self.tables.items()},
            "issues": [i.__dict__ for i in self.issues],
            "money": [{k: plain(v) for k, v in r.items()} for r in self.money],
            "clients": [{k: plain(v) for k, v in r.items()} for r in self.clients],
            "clients_compared": self.clients_compared,
            "services": self.services,
            "notes": self.notes,
        }


_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>WHMCS import report</title>
<style>body{font-family:sans-serif;font-size:14px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.bad{background:#fdd}</style></head><body>
<h1>WHMCS import report{% if r.dry_run %} (dry run){% endif %}</h1>
<p>{% if r.is_reconciled %}Reconciled: every money difference is 0.00.{% else %}<strong>Not reconciled.</strong>{% endif %}</p>
{% if r.schema_differences %}<h2>Schema differences</h2><ul>{% for d in r.schema_differences %}<li>{{ d }}</li>{% endfor %}</ul>{% endif %}
<h2>Tables</h2><table><tr><th>Table</th><th>Read</th><th>Imported</th><th>Updated</th><th>Unchanged</th><th>Skipped</th><th>Repaired</th></tr>
{% for name, s in tables %}<tr><td>{{ name }}</td><td>{{ s.read }}</td><td>{{ s.imported }}</td><td>{{ s.updated }}</td><td>{{ s.unchanged }}</td><td>{{ s.skipped }}</td><td>{{ s.repaired }}</td></tr>{% endfor %}</table>
<h2>Money per currency and year</h2><table><tr><th>Currency</th><th>Year</th><th>Metric</th><th>WHMCS</th><th>In skipped rows</th><th>Ours</th><th>Difference</th></tr>
{% for m in r.money %}<tr{% if m.difference %} class="bad"{% endif %}><td>{{ m.currency }}</td><td>{{ m.year }}</td><td>{{ m.metric }}</td><td>{{ m.whmcs }}</td><td>{{ m.skipped }}</td><td>{{ m.ours }}</td><td>{{ m.difference }}</td></tr>{% endfor %}</table>
<h2>Clients that differ ({{ r.clients|length }} of {{ r.clients_compared }})</h2><table><tr><th>WHMCS client</th><th>Currency</th><th>Open WHMCS</th><th>Open ours</th><th>Credit WHMCS</th><th>Credit ours</th></tr>
{% for c in r.clients %}<tr class="bad"><td>{{ c.whmcs_id }}</td><td>{{ c.currency }}</td><td>{{ c.open_whmcs }}</td><td>{{ c.open_ours }}</td><td>{{ c.credit_whmcs }}</td><td>{{ c.credit_ours }}</td></tr>{% endfor %}</table>
<h2>Services by status and platform</h2><table><tr><th>Status</th><th>Platform</th><th>WHMCS</th><th>Skipped</th><th>Ours</th></tr>
{% for s in r.services %}<tr><td>{{ s.status }}</td><td>{{ s.platform }}</td><td>{{ s.whmcs }}</td><td>{{ s.skipped }}</td><td>{{ s.ours }}</td></tr>{% endfor %}</table>
<h2>Dirty rows</h2><table><tr><th>Table</th><th>WHMCS id</th><th>Action</th><th>Reason</th></tr>
{% for i in r.issues %}<tr><td>{{ i.table }}</td><td>{{ i.whmcs_id }}</td><td>{{ i.action }}</td><td>{{ i.reason }}</td></tr>{% endfor %}</table>
{% for n in r.notes %}<p>{{ n }}</p>{% endfor %}
</body></html>"""
