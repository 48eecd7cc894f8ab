"""The WHMCS database, read-only: connection, schema listing, batched reads by primary-key range.

Every fact about how WHMCS stores its data at the SQL level lives here and in schema.py/tables.
The session is put in read-only mode and reads happen inside one consistent-snapshot, read-only
transaction, so the importer cannot write to WHMCS and sees one moment of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import MySQLdb
import MySQLdb.cursors


class SourceError(Exception):
    """The source cannot be read (bad URL, no connection, schema differences)."""


@dataclass(frozen=True)
class SourceUrl:
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def parse(cls, url: str) -> SourceUrl:
        parsed = urlparse(url)
        if parsed.scheme not in ("mysql", "mariadb") or not parsed.path.strip("/"):
            raise SourceError("The source must look like mysql://user:password@host:3306/whmcs")
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 3306,
            user=unquote(parsed.username or ""),
            password=unquote(parsed.password or ""),
            database=parsed.path.strip("/"),
        )

    @property
    def label(self) -> str:
        """The source as it may be shown and stored: without the password."""
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


class WhmcsSource:
    """A read-only connection to a WHMCS database."""

    def __init__(self, url: str):
        self.url = SourceUrl.parse(url)
        try:
            self.conn = MySQLdb.connect(
                host=self.url.host,
                port=self.url.port,
                user=self.url.user,
                passwd=self.url.password,
                db=self.url.database,
                charset="utf8mb4",
                use_unicode=True,
                connect_timeout=10,
            )
        except MySQLdb.Error as exc:
            raise SourceError(f"Cannot connect to {self.url.label}: {exc}") from exc
        cur = self.conn.cursor()
        cur.execute("SET SESSION TRANSACTION READ ONLY")
        cur.execute("SET SESSION sql_mode = ''")  # read zero and invalid dates as they are stored
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        cur.close()

    def close(self) -> None:
        try:
            self.conn.rollback()
        finally:
            self.conn.close()

    def columns(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for table, column in self.query(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
            [self.url.database],
            dicts=False,
        ):
            found.setdefault(table, set()).add(column)
        return found

    def query(self, sql: str, params=None, *, dicts: bool = True) -> list:
        cursor_class = MySQLdb.cursors.DictCursor if dicts else MySQLdb.cursors.Cursor
        cur = self.conn.cursor(cursor_class)
        try:
            cur.execute(sql, params or None)  # None: a literal % in the SQL is not a placeholder
            return list(cur.fetchall())
        finally:
            cur.close()

    def count(self, table: str, where: str = "", params=None) -> int:
        sql = f"SELECT COUNT(*) FROM `{table}`" + (f" WHERE {where}" if where else "")  # noqa: S608
        return int(self.query(sql, params, dicts=False)[0][0])

    def batches(
        self, table: str, select: str, *, where: str = "", params=None, size: int = 2000, start_after: int = 0
    ) -> Iterator[list[dict]]:
        """Rows of `table` in primary-key order, `size` at a time (keyset: id > last id, no OFFSET)."""
        last = start_after
        extra = f" AND ({where})" if where else ""
        sql = f"SELECT {select} FROM `{table}` WHERE id > %s{extra} ORDER BY id LIMIT {int(size)}"  # noqa: S608
        while True:
            rows = self.query(sql, [last, *(params or [])])
            if not rows:
                return
            yield rows
            last = rows[-1]["id"]
            if len(rows) < size:
                return
