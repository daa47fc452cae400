"""Cursor pagination: `{"results", "next", "previous"}`, stable while rows are inserted."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import pagination

from core.exceptions import ApplicationError


class InvalidCursor(ApplicationError):
    default_code = "invalid_cursor"
    default_message = "The cursor is not valid; use the `next` or `previous` link of a page."


def page_size(request, *, default: int, maximum: int, param: str = "limit") -> int:  # type: ignore[no-untyped-def]
    """`?limit=`: absent, the default; a positive integer, itself, cut to `maximum`; anything else
    (`0`, `-1`, `abc`, empty) a 400 on `limit`. DRF falls back to the default instead, which
    answered a request the OpenAPI schema (`minimum: 1`) calls invalid as if it were valid."""
    raw = request.query_params.get(param)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not raw.strip("0"):
        raise ApplicationError("Invalid input.", errors={param: ["A whole number of at least 1."]})
    # Past a few digits it is past any maximum: int() of 5,000 digits raises (and costs).
    significant = raw.lstrip("0")
    return maximum if len(significant) > 9 else min(int(significant), maximum)


class CursorPagination(pagination.CursorPagination):
    """Newest first by default; a view sets `ordering` to a unique or tie-broken key.

    `?limit=` picks the page size (default 50, at most 200), as API.md says for messages; one
    that is not a positive integer is a 400 (`page_size`).
    A cursor that does not decode, or whose position is not a value of the ordering field
    (a client-made `p=abc`, a number past the column's range), is a 400 `invalid_cursor`:
    DRF would answer 404 for the first and reach the database with the second (a 500).
    """

    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"
    ordering = ("-created_at", "-id")

    def get_page_size(self, request):  # type: ignore[no-untyped-def]
        return page_size(request, default=self.page_size, maximum=self.max_page_size)

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
