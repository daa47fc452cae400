"""Cursor pagination: `{"results", "next", "previous"}`, stable while rows are inserted."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import pagination

from messenger.core.exceptions import ApplicationError
from messenger.core.fields import is_ascii_integer


class InvalidCursor(ApplicationError):
    default_code = "invalid_cursor"
    default_message = "The cursor is not valid; use the `next` or `previous` link of a page."


class CursorPagination(pagination.CursorPagination):
    """Newest first by default; a view sets `ordering` to a unique or tie-broken key.

    `?limit=` picks the page size (default 50, at most 200), as docs/API.md says for messages.
    A cursor that does not decode, or whose position is not a value of the ordering field
    (a client-made `p=abc`, a number past the column's range), is a 400 `invalid_cursor`:
    DRF would answer 404 for the first and reach the database with the second (a 500).
    """

    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"
    ordering = ("-created_at", "-id")

    def get_page_size(self, request):  # type: ignore[no-untyped-def]
        # A malformed ?limit= falls back to the default rather than erroring, as DRF does; and
        # only ASCII digits are a number (DRF's int() would read "١٢" or a fullwidth digit as one).
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not is_ascii_integer(raw):
            return self.page_size
        return super().get_page_size(request)

    def paginate_queryset(self, queryset, request, view=None):  # type: ignore[no-untyped-def]
        ordering = self.get_ordering(request, queryset, view)
        self._position_field = queryset.model._meta.get_field(ordering[0].lstrip("-"))
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):  # type: ignore[no-untyped-def]
        try:
            cursor = super().decode_cursor(request)
        except pagination.NotFound:
            raise InvalidCursor(errors={"cursor": ["Not a cursor of this list."]}) from None
        if cursor is not None and cursor.position is not None:
            try:
                # to_python parses, run_validators checks the range the database column holds.
                self._position_field.run_validators(self._position_field.to_python(cursor.position))
            except (DjangoValidationError, ValueError, TypeError, OverflowError):
                raise InvalidCursor(errors={"cursor": ["Not a cursor of this list."]}) from None
        return cursor
