"""Page pagination for every list: `?page=1&page_size=50` (at most 100) -> `{"items": [...], "count": N}`.

Lists order by a unique key last (e.g. `-created_at, -id`), so pages never skip or repeat a row.
"""

from django.db.models import Count, Window
from ninja import Field, Schema
from ninja.pagination import PageNumberPagination

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


class PageQuery(Schema):
    page: int = Field(1, ge=1, le=100_000, description="Page number, from 1.")
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Items per page (1-100).")


class Page(PageNumberPagination):
    Input = PageQuery

    def __init__(self, **kwargs):
        super().__init__(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE, **kwargs)


class Mapped:
    """A queryset whose rows become response dicts only for the page asked for. The page query also
    counts every matching row (COUNT(*) OVER ()), so a page costs one query however many rows match;
    a page past the end falls back to a COUNT."""

    def __init__(self, queryset, to_dict, *, fields: tuple[str, ...] = ()):
        """`fields`: read these columns as dicts (`values()`), skipping model instances on hot lists."""
        self.queryset, self.to_dict, self.fields = queryset, to_dict, fields
        self.total: int | None = None

    def __len__(self) -> int:
        return self.total if self.total is not None else self.queryset.count()

    def __getitem__(self, window: slice) -> list[dict]:
        page = self.queryset.annotate(_total=Window(Count("*")))
        rows = list(page.values(*self.fields, "_total")[window] if self.fields else page[window])
        if rows:
            self.total = rows[0]["_total"] if self.fields else rows[0]._total
        return [self.to_dict(row) for row in rows]
