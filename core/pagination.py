"""Cursor pagination: `{"results", "next", "previous"}`, stable while rows are inserted."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Field, Model, QuerySet
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

from core.exceptions import ApplicationError


class InvalidCursor(ApplicationError):
    default_code = "invalid_cursor"
    default_message = "The cursor is not valid; use the `next` or `previous` link of a page."


def page_size(request: Request, *, default: int, maximum: int, param: str = "limit") -> int:
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


Row = TypeVar("Row")


class RowFetcher(Protocol[Row]):
    """Reads a page of rows for `paginate_rows`, ordered by the pagination's one field: `ascending`,
    from above `position` up, else from below it down (from an end when it is None); skipping
    `offset` rows, at most `limit`."""

    def __call__(self, *, position: Any, ascending: bool, offset: int, limit: int) -> list[Row]: ...


class CursorPagination(pagination.CursorPagination):
    """Newest first by default; a view sets `ordering` to a unique or tie-broken key.

    `?limit=` picks the page size (default 50, at most 200), as API.md says for messages; one
    that is not a positive integer is a 400 (`page_size`).
    A cursor that does not decode, or whose position is not a value of the ordering field
    (a client-made `p=abc`, a number past the column's range), is a 400 `invalid_cursor`:
    DRF would answer 404 for the first and reach the database with the second (a 500).
    """

    page_size: int = 50
    max_page_size: int = 200
    page_size_query_param = "limit"
    ordering: tuple[str, ...] = ("-created_at", "-id")
    _position_field: Field[Any, Any]

    def get_page_size(self, request: Request) -> int:
        return page_size(request, default=self.page_size, maximum=self.max_page_size)

    # Querysets only (DRF's also takes a list): the cursor's position is checked against the
    # model's field.
    def paginate_queryset(  # type: ignore[override]
        self, queryset: QuerySet[Any], request: Request, view: APIView | None = None
    ) -> list[Any]:
        # DRF reads the view with getattr (its own paginate_queryset hands on a None view too).
        ordering = self.get_ordering(request, queryset, view)  # type: ignore[arg-type]
        self._position_field = queryset.model._meta.get_field(ordering[0].lstrip("-"))
        # DRF's None is for a page size of 0 or None, which get_page_size never gives.
        return cast(list[Any], super().paginate_queryset(queryset, request, view))

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise InvalidCursor(errors={"cursor": ["Not a cursor of this list."]}) from None
        if cursor is not None and cursor.position is not None:
            try:
                # to_python parses, run_validators checks the range the database column holds.
                self._position_field.run_validators(self._position_field.to_python(cursor.position))
            # Every model field's to_python turns a bad value's ValueError/TypeError into a
            # ValidationError itself, and run_validators raises only that.
            except DjangoValidationError:
                raise InvalidCursor(errors={"cursor": ["Not a cursor of this list."]}) from None
        return cursor

    def paginate_rows(
        self, fetch: RowFetcher[Row], model: type[Model], request: Request, view: APIView | None = None
    ) -> list[Row]:
        """`paginate_queryset` over a hand-written statement's rows (dicts holding the ordering
        field): DRF's cursor logic unchanged, so the cursors and links are the ones a queryset of
        `model` gets. `fetch` reads the page (`RowFetcher`)."""
        return self.paginate_queryset(_KeysetRows(fetch, model), request, view)  # type: ignore[arg-type]


class _KeysetRows:
    """What DRF's CursorPagination.paginate_queryset does to a queryset (order_by the one field,
    filter `<field>__gt`/`__lt` the cursor's position, slice one page and one row), handed to a
    `RowFetcher`. A unique ordering field only, as the queryset's: DRF then never needs another."""

    def __init__(
        self, fetch: RowFetcher[Any], model: type[Model], *, ascending: bool = False, position: Any = None
    ) -> None:
        self.fetch, self.model, self.ascending, self.position = fetch, model, ascending, position

    def order_by(self, *ordering: str) -> _KeysetRows:
        if len(ordering) != 1:
            raise ValueError("paginate_rows orders by one field.")
        return _KeysetRows(self.fetch, self.model, ascending=not ordering[0].startswith("-"))

    def filter(self, **lookup: Any) -> _KeysetRows:
        [(key, value)] = lookup.items()
        field_name, _, comparison = key.rpartition("__")
        # DRF filters past the cursor in the direction it ordered by: anything else is a new DRF.
        if comparison != ("gt" if self.ascending else "lt"):
            raise ValueError(f"paginate_rows: unexpected {key} on an {self.ascending=} ordering.")
        position = cast("Field[Any, Any]", self.model._meta.get_field(field_name)).to_python(value)
        return _KeysetRows(self.fetch, self.model, ascending=self.ascending, position=position)

    def __getitem__(self, page: slice) -> list[Any]:
        offset = page.start or 0
        return self.fetch(
            position=self.position, ascending=self.ascending, offset=offset, limit=page.stop - offset
        )
