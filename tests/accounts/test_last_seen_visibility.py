"""`last_seen` follows the presence rule wherever a user object is shown, REST and socket: the
user themself and their accepted contacts see it (no block either way); a stranger, a pending
request, a blocked or blocking user and an anonymous caller get null."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from contacts.models import Contact, Invitation
from contacts.selectors import hash_invitation_token
from tests.messaging.helpers import send_body

pytestmark = pytest.mark.django_db

SEEN = timezone.now().replace(microsecond=0) - timedelta(minutes=7)


def iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


@pytest.fixture
def world(make_user):
    """The viewer and one user of each relation to them; everyone was last seen at SEEN."""
    people = {
        name: make_user(username=f"zz_{name}", full_name=f"Zz {name}")
        for name in ("viewer", "friend", "requested", "asked_me", "blocked", "blocker", "stranger")
    }
    User.objects.update(last_seen=SEEN)
    viewer = people["viewer"]
    Contact.objects.create(requester=viewer, addressee=people["friend"], status=Contact.Status.ACCEPTED)
    Contact.objects.create(requester=viewer, addressee=people["requested"])
    Contact.objects.create(requester=people["asked_me"], addressee=viewer)
    # A pair that was accepted, then blocked (by either side): nothing shows any more.
    Contact.objects.create(
        requester=viewer, addressee=people["blocked"], status=Contact.Status.BLOCKED, blocked_by=viewer
    )
    Contact.objects.create(
        requester=people["blocker"],
        addressee=viewer,
        status=Contact.Status.BLOCKED,
        blocked_by=people["blocker"],
    )
    for person in people.values():
        person.refresh_from_db()
    return people


VISIBLE = {"viewer", "friend"}


def expected(name: str) -> str | None:
    return iso(SEEN) if name in VISIBLE else None


def test_get_user_shows_last_seen_to_self_and_accepted_contacts_only(world, client_for):
    client = client_for(world["viewer"])
    for name, person in world.items():
        body = client.get(f"/api/v1/users/{person.pk}").json()
        assert body["last_seen"] == expected(name), name
        assert "last_seen" in body  # the shape is stable: null, never a missing field
    # and the other way round: the friend sees the viewer, the stranger does not
    assert client_for(world["friend"]).get(f"/api/v1/users/{world['viewer'].pk}").json()["last_seen"]
    assert (
        client_for(world["stranger"]).get(f"/api/v1/users/{world['viewer'].pk}").json()["last_seen"] is None
    )


def test_user_search_shows_last_seen_to_accepted_contacts_only(world, client_for):
    results = client_for(world["viewer"]).get("/api/v1/users/search", {"q": "zz_", "limit": 50}).json()
    by_name = {row["username"].removeprefix("zz_"): row["last_seen"] for row in results["results"]}
    assert set(by_name) == set(world)
    assert by_name == {name: expected(name) for name in world}


def test_contact_list_shows_last_seen_of_accepted_contacts_only(world, client_for):
    rows = client_for(world["viewer"]).get("/api/v1/contacts").json()["results"]
    by_name = {row["user"]["username"].removeprefix("zz_"): row["user"]["last_seen"] for row in rows}
    assert by_name == {
        "friend": iso(SEEN),
        "requested": None,
        "asked_me": None,
        "blocked": None,
        "blocker": None,
    }


def test_contact_events_carry_last_seen_only_once_accepted(world, client_for, capture_events):
    pending = Contact.objects.get(requester=world["asked_me"], addressee=world["viewer"])
    with capture_events() as sent:
        response = client_for(world["viewer"]).patch(
            f"/api/v1/contacts/{pending.pk}", {"status": "accepted"}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["user"]["last_seen"] == iso(SEEN)
    updates = [event["data"] for event in sent if event["type"] == "contact.updated"]
    assert updates and all(update["user"]["last_seen"] == iso(SEEN) for update in updates)

    with capture_events() as sent:
        response = client_for(world["viewer"]).patch(
            f"/api/v1/contacts/{pending.pk}", {"status": "blocked"}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["user"]["last_seen"] is None
    updates = [event["data"] for event in sent if event["type"] == "contact.updated"]
    assert updates and all(update["user"]["last_seen"] is None for update in updates)


def test_invitation_check_never_shows_the_inviters_last_seen(world, api_client):
    token = secrets.token_urlsafe(32)
    Invitation.objects.create(
        inviter=world["viewer"],
        invitee_email="new@example.com",
        token_hash=hash_invitation_token(token),
        expires_at=timezone.now() + timedelta(days=1),
    )
    body = api_client.get(f"/api/v1/invitations/verify/{token}").json()
    assert body["inviter"]["id"] == str(world["viewer"].pk)
    assert body["inviter"]["last_seen"] is None


def test_group_member_lists_show_nobodys_last_seen(world, client_for):
    """A group is many viewers: its member list (like its events) carries no activity, so a
    stranger in a group learns nothing, and what a client builds from events matches a fetch.
    Contacts' last_seen comes from /presence and presence events."""
    from groups import services

    others = [person.pk for name, person in world.items() if name not in {"stranger", "blocked", "blocker"}]
    group = services.group_create(creator_id=world["stranger"].pk, name="Zz", member_ids=others)
    for name in ("viewer", "stranger"):
        body = client_for(world[name]).get(f"/api/v1/groups/{group.pk}").json()
        assert len(body["members"]) == 5
        assert all(member["user"]["last_seen"] is None for member in body["members"]), name


def test_group_events_to_many_members_show_nobodys_last_seen(world, client_for, capture_events):
    from groups import services

    group = services.group_create(creator_id=world["viewer"].pk, name="Zz", member_ids=[world["friend"].pk])
    with capture_events() as sent:
        response = client_for(world["viewer"]).post(
            f"/api/v1/groups/{group.pk}/members", {"user_id": str(world["stranger"].pk)}, format="json"
        )
    assert response.status_code == 201, response.content
    added = [event["data"] for event in sent if event["type"] == "group.member.added"]
    assert added
    users = [member["user"] for event in added for member in event["members"]]
    assert users and all(user["last_seen"] is None for user in users)


def test_conversations_show_the_peers_last_seen_to_accepted_contacts_only(world, client_for):
    viewer = world["viewer"]
    for name in ("friend", "stranger", "requested"):
        response = client_for(world[name]).post("/api/v1/messages/send", send_body(viewer), format="json")
        assert response.status_code == 201, response.content
    rows = client_for(viewer).get("/api/v1/messages/conversations").json()["results"]
    by_name = {row["user"]["username"].removeprefix("zz_"): row["user"]["last_seen"] for row in rows}
    assert by_name == {"friend": iso(SEEN), "stranger": None, "requested": None}


def test_the_user_always_sees_their_own(world, client_for):
    me = client_for(world["stranger"]).get("/api/v1/auth/me").json()
    assert me["last_seen"] == iso(SEEN)
    assert client_for(world["stranger"]).get(f"/api/v1/users/{world['stranger'].pk}").json()["last_seen"]
