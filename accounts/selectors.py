"""Reads of accounts, and the public surface other apps use (ids in, small values out)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import BaseExpression
from django.db.models.functions import Collate, Lower
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings

from accounts.exceptions import KeyBackupNotFound
from accounts.models import IdentityKeys, KeyBackup, OneTimePrekey, User
from accounts.statements import active_user_by_id
from accounts.tokens import decode_access_token
from core.exceptions import NotFound

SEARCH_MIN_LENGTH = 2


# --- Who may see a user's activity ------------------------------------------------------------------
#
# `last_seen` (and presence) is shown to the user themself and to their accepted contacts, with no
# block either way. That rule belongs to contacts, which sits above accounts: contacts registers it
# here at startup (contacts.apps) as an expression, so the reads below answer it inside the query
# that loads the users, at no extra query. Without it (a process that does not install contacts,
# as the relay-only service) only the user themself is shown their own.

ActivityRule = Callable[[UUID | str, OuterRef], BaseExpression]
_activity_rule: list[ActivityRule] = []


def register_activity_rule(rule: ActivityRule) -> None:
    """`rule(viewer_id, user_id_reference)` -> a boolean SQL expression (an Exists): is that user
    an accepted contact of the viewer. Registered once, by contacts."""
    _activity_rule[:] = [rule]


def may_see_activity(*, viewer_id: UUID | str, user_ref: str = "pk") -> ExpressionWrapper[Q]:
    """For `.annotate(may_see_activity=...)`: may the viewer see the activity of the user whose id
    is the column `user_ref` of the annotated rows (`pk` for users, `user_id` for a membership)."""
    condition = Q(**{user_ref: viewer_id})
    if _activity_rule:
        # Django ORs a Q with a conditional expression (the Exists); the stubs take only a Q.
        condition |= _activity_rule[0](viewer_id, OuterRef(user_ref))  # type: ignore[operator]
    return ExpressionWrapper(condition, output_field=BooleanField())


def activity_visible_ids(users: Iterable[User]) -> set[UUID]:
    """The ids among `users` (annotated with may_see_activity) whose `last_seen` may be shown:
    PublicUserSerializer's `may_see_activity` context."""
    return {user.pk for user in users if getattr(user, "may_see_activity", False)}


def get_active_user(*, user_id: UUID | str, viewer_id: UUID | str | None = None) -> User:
    """The active user with this id, or NotFound (unknown, inactive and deleted look alike).
    With `viewer_id`, annotated with `may_see_activity` for that viewer (same query)."""
    users = User.objects.all()
    if viewer_id is not None:
        users = users.annotate(may_see_activity=may_see_activity(viewer_id=viewer_id))
    try:
        return users.get(pk=user_id, is_active=True)
    except (User.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        # DjangoValidationError: a string that is no UUID (the field refuses it)
        raise NotFound("User not found.", code="user_not_found") from None


def active_user_exists(*, user_id: UUID | str) -> bool:
    try:
        return User.objects.filter(pk=user_id, is_active=True).exists()
    except (ValueError, TypeError, DjangoValidationError):
        return False


def active_users_by_id(*, user_ids: Iterable[UUID | str]) -> dict[UUID, User]:
    """One query; ids that are unknown or inactive are simply absent from the result."""
    return {user.pk: user for user in User.objects.filter(pk__in=list(user_ids), is_active=True)}


def last_seen_of_active_users(*, user_ids: Iterable[UUID | str]) -> dict[UUID, datetime | None]:
    """`last_seen` per active user (one query, two columns); other ids are absent."""
    rows = User.objects.filter(pk__in=list(user_ids), is_active=True).values_list("pk", "last_seen")
    return dict(rows)


def user_from_access_token(*, token: str) -> User | None:
    """The active user an access JWT belongs to, or None if it is bad, expired or revoked.

    The WebSocket gateway authenticates with this, and accounts.authentication (REST) runs the
    same `decode_access_token` and the same active-user lookup: one rule set for both.
    """
    try:
        access = decode_access_token(token)
    except TokenError:
        return None
    return active_user_for_token_claim(user_id=access.get(api_settings.USER_ID_CLAIM))


def active_user_for_token_claim(*, user_id: object) -> User | None:
    if not user_id:
        return None
    try:
        # A signed claim of any JSON type: one that is no UUID raises here.
        user_uuid = user_id if isinstance(user_id, UUID) else UUID(str(user_id))
    except ValueError:
        return None
    return active_user_by_id(user_uuid)


def _lower(value: str) -> str:
    return value.strip().lower()


def user_for_login(*, login: str) -> User | None:
    """The user (active or not) whose email or username is `login`, any case.

    `lower(col) = ...` is the expression of the unique indexes users_email_ci_unique and
    users_username_ci_unique, so this is one index probe.
    """
    login = _lower(login)
    if not login:
        return None
    if "@" in login:
        return User.objects.alias(email_ci=Lower("email")).filter(email_ci=login).first()
    return User.objects.alias(username_ci=Lower("username")).filter(username_ci=login).first()


def email_taken(*, email: str) -> bool:
    return User.objects.alias(email_ci=Lower("email")).filter(email_ci=_lower(email)).exists()


def active_account_for_email(*, email: str) -> tuple[UUID, bool] | None:
    """The active account with this address (any case), if any, as `(id, is_verified)`: one probe
    of users_email_ci_unique (`email__iexact` compiles to UPPER() and would scan the table)."""
    return (
        User.objects.alias(email_ci=Lower("email"))
        .filter(email_ci=_lower(email), is_active=True)
        .values_list("pk", "is_verified")
        .first()
    )


def username_taken(*, username: str) -> bool:
    return User.objects.alias(username_ci=Lower("username")).filter(username_ci=_lower(username)).exists()


# --- User search ----------------------------------------------------------------------------------
#
# GET /users/search lists, in this order: the account whose email is exactly the query, then the
# accounts whose username starts with it (by username), then those whose full name starts with it
# (by full name). Each of the three is one ordered index range scan that stops after a page
# (migration 0004: users_email_ci_unique, users_search_username_idx, users_search_full_name_idx),
# so a page costs the same at a thousand users or a million. A single `... OR ... ORDER BY
# username LIMIT n` looks equivalent, but PostgreSQL answers it by walking the username index and
# filtering, which reads the whole table when the matches sort late (3 s at a million users:
# bench/explain_user_search.py).

SEARCH_BRANCHES = ("email", "username", "full_name")
# The email branch holds at most one row (the address is unique): no ORDER BY, which could only
# tempt the planner into walking the primary key instead of probing the email index.
_BRANCH_ORDERING: dict[str, tuple[str, ...]] = {
    "email": (),
    "username": ("search_key",),
    "full_name": ("search_key", "id"),
}


def _folded(field: str) -> Collate:
    """`lower(field)` compared byte by byte: a LIKE prefix is then an index range and ORDER BY can
    walk the same index, whatever the database's collation (SQLite: its BINARY collation)."""
    return Collate(Lower(field), "C" if connection.vendor == "postgresql" else "BINARY")


@dataclass(frozen=True)
class UserSearchPosition:
    """Where a search page starts or ends: the branch, and the row's key within that branch."""

    branch: str
    key: str
    user_id: UUID


@dataclass(frozen=True)
class UserSearchPage:
    users: list[User]
    first: UserSearchPosition | None
    last: UserSearchPosition | None
    has_next: bool
    has_previous: bool


def _search_branch(branch: str, term: str, viewer_id: UUID | str | None = None) -> QuerySet[User] | None:
    """The active users one branch lists, annotated with `search_key` (and `may_see_activity` for
    `viewer_id`); None when it cannot match."""
    active = User.objects.filter(is_active=True)
    if viewer_id is not None:
        active = active.annotate(may_see_activity=may_see_activity(viewer_id=viewer_id))
    if branch == "email":
        if "@" not in term:
            return None
        return (
            active.alias(email_ci=Lower("email"))
            .filter(email_ci=term)
            .annotate(search_key=Value("", output_field=CharField()))
        )
    if branch == "username":
        if "@" in term:  # a username never contains "@"
            return None
        return active.annotate(search_key=_folded("username")).filter(search_key__startswith=term)
    # full name: without the rows an earlier branch already listed
    matches = active.annotate(search_key=_folded("full_name")).filter(search_key__startswith=term)
    if "@" in term:
        return matches.alias(email_ci=Lower("email")).exclude(email_ci=term)
    return matches.alias(username_key=_folded("username")).exclude(username_key__startswith=term)


def _beyond(position: UserSearchPosition, *, forward: bool) -> Q:
    """Rows after (forward) or before `position` in its branch's order. The `>=` on the key alone is
    what the index range uses; the OR only settles ties on the key by id."""
    if position.branch == "email":
        return ~Q(pk=position.user_id)
    op = "gt" if forward else "lt"
    if _BRANCH_ORDERING[position.branch] == ("search_key",):
        return Q(**{f"search_key__{op}": position.key})
    return Q(**{f"search_key__{op}e": position.key}) & (
        Q(**{f"search_key__{op}": position.key}) | Q(**{f"id__{op}": position.user_id})
    )


def user_search_page(
    *,
    query: str,
    limit: int,
    after: UserSearchPosition | None = None,
    before: UserSearchPosition | None = None,
    viewer_id: UUID | str | None = None,
) -> UserSearchPage:
    """One page of the search, after `after` (or before `before`). At most one query per branch.
    With `viewer_id`, the users are annotated with `may_see_activity` for that viewer."""
    term = _lower(query)
    forward = before is None
    anchor = after if forward else before
    branches = SEARCH_BRANCHES if forward else tuple(reversed(SEARCH_BRANCHES))
    if anchor is not None:
        branches = branches[branches.index(anchor.branch) :]
    rows: list[tuple[str, User]] = []
    for branch in branches:
        queryset = _search_branch(branch, term, viewer_id)
        if queryset is None:
            continue
        if anchor is not None and branch == anchor.branch:
            queryset = queryset.filter(_beyond(anchor, forward=forward))
        ordering = _BRANCH_ORDERING[branch] if forward else tuple(f"-{f}" for f in _BRANCH_ORDERING[branch])
        rows += [(branch, user) for user in queryset.order_by(*ordering)[: limit + 1 - len(rows)]]
        if len(rows) > limit:
            break
    more = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()

    def position(row: tuple[str, User]) -> UserSearchPosition:
        branch, user = row
        return UserSearchPosition(branch=branch, key=user.search_key, user_id=user.pk)  # type: ignore[attr-defined]  # the query's annotation

    return UserSearchPage(
        users=[user for _, user in rows],
        first=position(rows[0]) if rows else None,
        last=position(rows[-1]) if rows else None,
        has_next=more if forward else bool(rows),
        has_previous=(anchor is not None and bool(rows)) if forward else more,
    )


def user_search(*, query: str) -> QuerySet[User]:
    """Every active user the search matches (the endpoint pages through user_search_page, in the
    same order: exact email, then username prefix, then full-name prefix). Case-insensitive."""
    term = _lower(query)
    username_match = Q(username_key__startswith=term)
    condition = username_match | Q(full_name_key__startswith=term)
    if "@" in term:
        condition |= Q(email_ci=term)
    return (
        User.objects.filter(is_active=True)
        .alias(email_ci=Lower("email"), username_key=_folded("username"), full_name_key=_folded("full_name"))
        .filter(condition)
        .annotate(
            search_rank=Case(
                When(Q(email_ci=term), then=Value(0)), When(username_match, then=Value(1)), default=Value(2)
            )
        )
        .order_by(
            "search_rank", Case(When(username_match, then="username_key"), default="full_name_key"), "id"
        )
    )


def identity_keys_for(*, user_id: UUID | str) -> IdentityKeys | None:
    return IdentityKeys.objects.filter(user_id=user_id).first()


def one_time_prekey_count(*, user_id: UUID | str) -> int:
    return OneTimePrekey.objects.filter(user_id=user_id).count()


def key_backup_of(*, user_id: UUID | str) -> KeyBackup:
    """The user's key backup, or KeyBackupNotFound. Only ever read for the caller themself
    (accounts.api: the route names no user)."""
    backup = KeyBackup.objects.filter(user_id=user_id).first()
    if backup is None:
        raise KeyBackupNotFound()
    return backup
