"""Cursor pagination: `{"results", "next", "previous"}`, stable while rows are inserted."""

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Newest first by default; a view sets `ordering` to a unique or tie-broken key.

    `?limit=` picks the page size (default 50, at most 200), as API.md says for messages.
    """

    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"
    ordering = ("-created_at", "-id")

    def get_page_size(self, request):  # type: ignore[no-untyped-def]
        # A malformed ?limit= falls back to the default rather than erroring, as DRF does.
        return super().get_page_size(request)
