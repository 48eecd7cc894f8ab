"""Changelists that stay fast on large tables (a million invoices, a hundred thousand customers).

- EstimatedCountPaginator: an unfiltered list on MySQL/MariaDB takes the row count from the
  table statistics (information_schema) instead of COUNT(*) over the whole table; a filtered or
  searched list counts at most COUNT_CAP + 1 rows (a LIMITed subquery), so a broad filter never
  scans millions of rows just to number the pages. Small tables and SQLite count exactly.
- LargeTableSearchMixin: search resolves each search field with its own index-friendly query
  (prefix match on the list's own columns, exact match on UUIDs, customer company/email/last name
  by prefix on the customers table first) and filters the list by the primary keys found, instead of one OR of
  `%term%` over joins that MariaDB can only answer by reading every row.

- EstimatedCountPaginator.page: the page's keys come from the list's own table, then its rows.
- LargeTableChangeList: rows without the admin's `list_defer` columns, row links from one reversed
  URL, range filters sort by their column; cells.py builds header and badge cells without a
  template per cell.

Use both through LargeTableAdminMixin, placed first in the bases of a big list's ModelAdmin.
"""

from __future__ import annotations

import uuid
from functools import cache
from urllib.parse import parse_qsl

from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ORDER_VAR
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import escape
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from unfold.admin import checkbox
from unfold.contrib.filters.admin import RangeDateFilter, RangeDateTimeFilter, RangeNumericFilter
from unfold.views import ChangeList

COUNT_CAP = 10_000
ESTIMATE_ABOVE = 50_000
SEARCH_LIMIT = 1_000


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        qs = self.object_list
        query = qs.query
        conn = connections[qs.db]
        if conn.vendor == "mysql" and not query.where and not query.distinct and not query.combinator:
            estimate = table_row_estimate(qs.model, qs.db)
            if estimate > ESTIMATE_ABOVE:
                return estimate
            return qs.count()
        if query.where:
            return qs.order_by()[: COUNT_CAP + 1].count()
        return qs.count()

    def page(self, number):
        """Fetch the page's primary keys from the list's own table first (its ordering index, no joins),
        then the rows with their select_related joins by those keys: MariaDB otherwise may drive the
        joined query from a small joined table and sort every row of the big one."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        pks = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        position = {pk: i for i, pk in enumerate(pks)}
        rows = sorted(self.object_list.filter(pk__in=pks), key=lambda row: position[row.pk])
        return self._get_page(rows, number, self)


@cache
def _row_checkbox() -> str:
    return str(checkbox.render(helpers.ACTION_CHECKBOX_NAME, LargeTableChangeList._PK))


def table_row_estimate(model, using: str = "default") -> int:
    """InnoDB's own estimate of a table's rows (from ANALYZE / background statistics), 0 if unknown."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    return int(row[0] or 0) if row else 0


def _customer_ids(term: str) -> set[int]:
    """Customers whose company, email or last name starts with the term (only the email when the term has
    an @): one query per column, each on its index, no ORDER BY, so each stops at SEARCH_LIMIT matches."""
    from core.accounts.models import Customer

    found: set[int] = set()
    lookups = ("company__istartswith", "user__email__istartswith", "user__last_name__istartswith")
    if "@" in term:
        lookups = ("user__email__istartswith",)
    for lookup in lookups:
        found.update(Customer.objects.filter(**{lookup: term}).order_by().values_list("pk", flat=True)[:SEARCH_LIMIT])
    return found


class LargeTableSearchMixin:
    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        own = Q()
        customer_fields = False
        fields = [f.lstrip("=^@") for f in self.get_search_fields(request)]
        if "@" in term:  # an email address: only email columns can match it
            fields = [f for f in fields if "email" in f] or fields
        for name in fields:
            if name.startswith("customer__"):
                customer_fields = True
            elif name.endswith("uuid"):
                try:
                    own |= Q(**{name: uuid.UUID(term)})
                except ValueError:
                    continue
            else:
                own |= Q(**{f"{name}__istartswith": term})
        pks = set()
        for condition in own.children:
            pks.update(queryset.filter(Q(condition)).order_by().values_list("pk", flat=True)[:SEARCH_LIMIT])
        if customer_fields:
            ids = _customer_ids(term)
            if ids:
                pks.update(queryset.filter(customer_id__in=ids).order_by().values_list("pk", flat=True)[:SEARCH_LIMIT])
        return queryset.filter(pk__in=sorted(pks)), False


RANGE_FILTERS = (RangeDateFilter, RangeDateTimeFilter, RangeNumericFilter)


class LargeTableChangeList(ChangeList):
    """Row links from one reversed URL (a reverse() per row is a tenth of a page's time).

    A list filtered by a range of one of its own columns (issue date, total, received at) and not
    sorted by the user is sorted by that column, newest or largest first: the page is then a short
    backward read of the column's index. Sorted by created_at instead, MariaDB walks the created_at
    index from the newest row until it has found a page of rows in the range, which for last year's
    March is most of a million invoices (5 s)."""

    _PK = "__pk__"

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        # Row links carry the list's filters in _change_url (Django's add_preserved_filters resolves the
        # URL of every row again to do the same); an empty preserved_filters makes it return the URL as is.
        self._row_filters, self.preserved_filters = self.preserved_filters, ""

    @cached_property
    def _change_url(self) -> str:
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=(self._PK,),
                      current_app=self.model_admin.admin_site.name)  # fmt: skip
        if self._row_filters:
            url += "?" + urlencode(dict(parse_qsl(self._row_filters)))
        return url

    def get_ordering(self, request, queryset):
        ordering = super().get_ordering(request, queryset)
        if ORDER_VAR in self.params:
            return ordering
        for spec in self.filter_specs:
            if isinstance(spec, RANGE_FILTERS) and spec.used_parameters and "__" not in spec.field_path:
                return [f"-{spec.field_path}", "-pk"]
        return ordering

    def get_results(self, request):
        defer = getattr(self.model_admin, "list_defer", ())
        if defer:  # the rows shown only (actions and counts take their own querysets)
            self.queryset = self.queryset.defer(*defer)
        super().get_results(request)

    def url_for_result(self, result):
        return self._change_url.replace(self._PK, str(quote(getattr(result, self.pk_attname))), 1)


class LargeTableAdminMixin(LargeTableSearchMixin):
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Unfold's row template asks for list_sections twice per row; a missing attribute makes Django's
    # template engine call dir() on the ModelAdmin each time (a fifth of a page's time).
    list_sections = ()
    # Columns a list row never shows (JSON snapshots, encrypted secrets of joined rows): left out of the
    # page's rows, so they are neither sent by the database nor parsed or decrypted per row.
    list_defer: tuple[str, ...] = ()

    def action_checkbox(self, obj):
        # Unfold renders its checkbox widget through a template for every row; the markup is the same
        # but for the primary key.
        return mark_safe(_row_checkbox().replace(LargeTableChangeList._PK, escape(str(obj.pk))))

    action_checkbox.short_description = mark_safe(checkbox.render("action_toggle_all", 1))

    def get_changelist(self, request, **kwargs):
        return LargeTableChangeList
