"""Page sizes are always capped: a client cannot ask for a million rows at once.

Small lists (datasets, configs, runs) use page numbers, which give a total
count. Records and run items grow to millions, where ``OFFSET`` gets slower
with every page and rows shift under a client walking a live run; they use a
cursor over their position (``index``, unique within a version or a run), so
every page is one index range scan and a walk sees each row exactly once.
"""

from __future__ import annotations

from rest_framework.pagination import CursorPagination, PageNumberPagination

MAX_PAGE_SIZE = 500


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class IndexCursorPagination(CursorPagination):
    """Cursor over ``index``: records of one dataset version, items of one run."""

    ordering = ("index",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class IdCursorPagination(CursorPagination):
    """Cursor over the primary key, newest first, for append-only logs."""

    ordering = ("-id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
