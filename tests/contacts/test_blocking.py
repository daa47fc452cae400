"""The blocking rules: who may do what once a block stands, through the API and the selectors
other apps call (contacts.selectors.is_blocked / blocked_by_any / accepted_contact_ids)."""

from __future__ import annotations

import pytest

from contacts.models import Contact
from contacts.selectors import accepted_contact_ids, blocked_by_any, is_blocked
from core.events import realtime_user_group_name

pytestmark = pytest.mark.django_db


def contact_between(client, other) -> str:
    return client.post("/api/v1/contacts", {"user_id": str(other.pk)}, format="json").json()["id"]


def block(client, contact_id: str):
    return client.patch(f"/api/v1/contacts/{contact_id}", {"status": "blocked"}, format="json")


@pytest.fixture
def blocked_pair(user, other_user, client_for):
    """`other_user` asked `user`; `user` blocked them. Returns the contact id."""
    contact_id = contact_between(client_for(other_user), user)
    assert block(client_for(user), contact_id).status_code == 200
    return contact_id


def test_block_an_incoming_request_notifies_both_sides(user, other_user, client_for, capture_events):
    contact_id = contact_between(client_for(other_user), user)
    with capture_events() as sent:
        response = block(client_for(user), contact_id)
    assert response.status_code == 200
    assert response.json()["status"] == "blocked"
    assert response.json()["blocked_by_me"] is True
    events = {e["groups"][0]: e["data"] for e in sent if e["type"] == "contact.updated"}
    assert events[realtime_user_group_name(user.pk)]["blocked_by_me"] is True
    assert events[realtime_user_group_name(other_user.pk)]["blocked_by_me"] is False
    assert events[realtime_user_group_name(other_user.pk)]["status"] == "blocked"


def test_either_side_may_block_an_accepted_contact(user, other_user, client_for):
    contact_id = contact_between(client_for(user), other_user)
    client_for(other_user).post("/api/v1/contacts", {"user_id": str(user.pk)}, format="json")
    # The requester side blocks this time.
    assert block(client_for(user), contact_id).json()["status"] == "blocked"
    assert accepted_contact_ids(user_id=user.pk) == set()
    assert accepted_contact_ids(user_id=other_user.pk) == set()


def test_selectors_see_the_block_both_ways(user, other_user, make_user, blocked_pair):
    stranger = make_user()
    # docs/API.md: the blocked side may not message / add / invite / see the presence of the blocker.
    assert is_blocked(actor_id=other_user.pk, target_id=user.pk) is True
    # The model chosen here: a block cuts both ways, the blocker cannot message them either.
    assert is_blocked(actor_id=user.pk, target_id=other_user.pk) is True
    assert is_blocked(actor_id=stranger.pk, target_id=user.pk) is False
    assert is_blocked(actor_id=user.pk, target_id=stranger.pk) is False
    assert blocked_by_any(actor_id=other_user.pk, target_ids=[user.pk, stranger.pk]) == {user.pk}
    assert blocked_by_any(actor_id=user.pk, target_ids=[str(other_user.pk), str(stranger.pk)]) == {
        other_user.pk
    }
    assert blocked_by_any(actor_id=stranger.pk, target_ids=[user.pk, other_user.pk]) == set()
    assert blocked_by_any(actor_id=user.pk, target_ids=[]) == set()


def test_blocked_by_any_is_one_query(user, make_user, client_for, django_assert_num_queries):
    blockers = [make_user() for _ in range(4)]
    for blocker in blockers:
        block(client_for(blocker), contact_between(client_for(user), blocker))
    targets = [b.pk for b in blockers] + [make_user().pk for _ in range(10)]
    with django_assert_num_queries(1):
        result = blocked_by_any(actor_id=user.pk, target_ids=targets)
    assert result == {b.pk for b in blockers}


def test_accepted_contact_ids_lists_only_accepted(user, make_user, client_for, django_assert_num_queries):
    accepted, pending, incoming = make_user(), make_user(), make_user()
    contact_between(client_for(user), accepted)
    contact_between(client_for(accepted), user)
    contact_between(client_for(user), pending)
    contact_between(client_for(incoming), user)
    with django_assert_num_queries(1):
        assert accepted_contact_ids(user_id=user.pk) == {accepted.pk}
    assert accepted_contact_ids(user_id=accepted.pk) == {user.pk}
    assert accepted_contact_ids(user_id=str(pending.pk)) == set()


def test_blocked_side_cannot_add_accept_or_delete(user, other_user, client_for, blocked_pair):
    blocked = client_for(other_user)
    add = blocked.post("/api/v1/contacts", {"user_id": str(user.pk)}, format="json")
    assert (add.status_code, add.json()["code"]) == (403, "blocked")
    for status in ("accepted", "blocked"):
        response = blocked.patch(f"/api/v1/contacts/{blocked_pair}", {"status": status}, format="json")
        assert (response.status_code, response.json()["code"]) == (403, "blocked")
    delete = blocked.delete(f"/api/v1/contacts/{blocked_pair}")
    assert (delete.status_code, delete.json()["code"]) == (403, "blocked")
    row = Contact.objects.get(pk=blocked_pair)
    assert (row.status, row.blocked_by_id) == ("blocked", user.pk)
    # The blocked side still sees the row, and that it is not their block.
    seen = blocked.get("/api/v1/contacts").json()["results"]
    assert [(c["status"], c["blocked_by_me"]) for c in seen] == [("blocked", False)]


def test_blocker_cannot_reaccept_but_lifts_the_block_by_delete(user, other_user, client_for, blocked_pair):
    blocker = client_for(user)
    again = blocker.patch(f"/api/v1/contacts/{blocked_pair}", {"status": "blocked"}, format="json")
    assert again.status_code == 200  # idempotent
    accept = blocker.patch(f"/api/v1/contacts/{blocked_pair}", {"status": "accepted"}, format="json")
    assert (accept.status_code, accept.json()["code"]) == (409, "blocked_by_you")
    add = blocker.post("/api/v1/contacts", {"user_id": str(other_user.pk)}, format="json")
    assert (add.status_code, add.json()["code"]) == (409, "blocked_by_you")
    assert blocker.delete(f"/api/v1/contacts/{blocked_pair}").status_code == 204
    assert is_blocked(actor_id=other_user.pk, target_id=user.pk) is False
    # Lifted: the other side may ask again.
    response = client_for(other_user).post("/api/v1/contacts", {"user_id": str(user.pk)}, format="json")
    assert response.status_code == 201


def test_blocked_side_cannot_reach_the_blocker_by_invitation(
    user, other_user, client_for, blocked_pair, django_capture_on_commit_callbacks
):
    """It is not told so either (a 403 would confirm the address has an account): the answer
    looks like any invitation's, and nothing reaches the blocker."""
    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(other_user).post(
            "/api/v1/invitations/send", {"email": user.email}, format="json"
        )
    assert (response.status_code, response.json()["status"]) == (201, "pending")
    assert mail.outbox == []
