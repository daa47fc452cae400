"""accounts.statements.active_user_by_id, the read every authenticated request makes: the embedded
run exercises SQLite's raw queryset, the real run PostgreSQL's cursor and `User.from_db`; both must
give what the ORM gives, field by field and type by type."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.statements import active_user_by_id
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def field_values(user: User) -> dict:
    return {field.attname: getattr(user, field.attname) for field in User._meta.concrete_fields}


def test_an_active_user_comes_back_with_every_field_as_the_orm_reads_it():
    created = UserFactory(full_name="Ada Lovelace", bio="", last_seen=timezone.now() - timedelta(minutes=3))
    created.set_password("a long passphrase")
    created.save()

    user = active_user_by_id(created.pk)

    expected = User.objects.get(pk=created.pk)
    assert isinstance(user, User)
    assert field_values(user) == field_values(expected)
    assert {name: type(value) for name, value in field_values(user).items()} == {
        name: type(value) for name, value in field_values(expected).items()
    }
    assert user.last_seen.tzinfo is not None
    assert user.check_password("a long passphrase")
    assert not user._state.adding  # a saved row: `user.save()` updates it
    user.bio = "changed"
    user.save(update_fields=["bio"])
    assert User.objects.get(pk=created.pk).bio == "changed"


def test_an_inactive_or_unknown_user_is_none():
    banned = UserFactory(is_active=False)

    assert active_user_by_id(banned.pk) is None
    assert active_user_by_id(uuid.uuid4()) is None


def test_it_is_one_query():
    user = UserFactory()
    active_user_by_id(user.pk)  # the statement's text is built once per process

    with CaptureQueriesContext(connection) as queries:
        assert active_user_by_id(user.pk).pk == user.pk
    assert len(queries) == 1
