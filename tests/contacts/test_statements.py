"""contacts.selectors.block_between_sql, the block rule as SQL (folded into messaging's one-statement
send on PostgreSQL): run on its own, on SQLite (embedded run) and PostgreSQL (real run), it answers
as `is_blocked` does."""

import pytest
from django.db import connection

from contacts.models import Contact
from contacts.selectors import block_between_sql, is_blocked
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def blocked_in_sql(actor, target) -> bool:
    params = [
        Contact._meta.get_field("requester").target_field.get_db_prep_value(user.pk, connection)
        for user in (actor, target, target, actor)
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {block_between_sql()}", params)
        return bool(cursor.fetchone()[0])


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, False),
        (Contact.Status.PENDING, False),
        (Contact.Status.ACCEPTED, False),
        (Contact.Status.BLOCKED, True),
    ],
)
def test_the_sql_rule_answers_as_is_blocked_both_ways(status, expected):
    actor, target, stranger = UserFactory(), UserFactory(), UserFactory()
    if status is not None:
        blocked_by = target if status == Contact.Status.BLOCKED else None
        Contact.objects.create(requester=target, addressee=actor, status=status, blocked_by=blocked_by)

    assert blocked_in_sql(actor, target) is expected
    assert blocked_in_sql(target, actor) is expected
    assert is_blocked(actor_id=actor.pk, target_id=target.pk) is expected
    assert blocked_in_sql(actor, stranger) is False
