"""Every row of docs/API.md's contacts table: list, request, mutual acceptance, PATCH, DELETE."""

from __future__ import annotations

import uuid

import pytest

from contacts.models import Contact
from core.events import realtime_user_group_name

pytestmark = pytest.mark.django_db


def request_contact(client, user) -> dict:
    response = client.post("/api/v1/contacts", {"user_id": str(user.pk)}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_request_creates_pending_outgoing_and_notifies_addressee(
    user, other_user, client_for, capture_events
):
    with capture_events() as sent:
        response = client_for(user).post("/api/v1/contacts", {"user_id": str(other_user.pk)}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending"
    assert body["direction"] == "outgoing"
    assert body["user"]["id"] == str(other_user.pk)
    assert body["user"]["username"] == other_user.username
    assert "email" not in body["user"]  # <user> is the public shape
    assert body["blocked_by_me"] is False
    assert [(e["type"], e["groups"]) for e in sent] == [
        ("contact.request", [realtime_user_group_name(other_user.pk)]),
        ("contact.request", [realtime_user_group_name(user.pk)]),
    ]
    incoming, outgoing = sent[0]["data"], sent[1]["data"]
    assert incoming["id"] == outgoing["id"] == body["id"]
    assert incoming["direction"] == "incoming"
    assert incoming["user"]["id"] == str(user.pk)
    # The requester's own devices get the row as REST showed it to the requester.
    assert outgoing == body


def test_both_sides_list_the_request_with_their_direction(user, other_user, client_for):
    contact = request_contact(client_for(user), other_user)
    mine = client_for(user).get("/api/v1/contacts").json()
    theirs = client_for(other_user).get("/api/v1/contacts/").json()  # trailing slash works too
    assert set(mine) == {"results", "next", "previous"}
    assert [(c["id"], c["direction"], c["user"]["id"]) for c in mine["results"]] == [
        (contact["id"], "outgoing", str(other_user.pk))
    ]
    assert [(c["id"], c["direction"], c["user"]["id"]) for c in theirs["results"]] == [
        (contact["id"], "incoming", str(user.pk))
    ]


def test_third_user_sees_nothing_and_cannot_touch_it(user, other_user, make_user, client_for):
    contact = request_contact(client_for(user), other_user)
    outsider = client_for(make_user())
    assert outsider.get("/api/v1/contacts").json()["results"] == []
    for response in (
        outsider.get(f"/api/v1/contacts/{contact['id']}"),
        outsider.patch(f"/api/v1/contacts/{contact['id']}", {"status": "accepted"}, format="json"),
        outsider.patch(f"/api/v1/contacts/{contact['id']}", {"status": "blocked"}, format="json"),
        outsider.delete(f"/api/v1/contacts/{contact['id']}"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "contact_not_found"
    assert Contact.objects.get(pk=contact["id"]).status == "pending"


def test_asking_back_accepts_both_with_200(user, other_user, client_for, capture_events):
    contact = request_contact(client_for(user), other_user)
    with capture_events() as sent:
        response = client_for(other_user).post("/api/v1/contacts", {"user_id": str(user.pk)}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == contact["id"]
    assert body["status"] == "accepted"
    assert body["direction"] == "incoming"  # the other side asked first
    assert sorted((e["type"], e["groups"][0], e["data"]["status"]) for e in sent) == sorted(
        [
            ("contact.updated", realtime_user_group_name(user.pk), "accepted"),
            ("contact.updated", realtime_user_group_name(other_user.pk), "accepted"),
        ]
    )
    assert client_for(user).get("/api/v1/contacts").json()["results"][0]["status"] == "accepted"
    assert Contact.objects.count() == 1


def test_asking_again_is_idempotent(user, other_user, client_for, capture_events):
    contact = request_contact(client_for(user), other_user)
    with capture_events() as sent:
        again = client_for(user).post("/api/v1/contacts", {"user_id": str(other_user.pk)}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == contact["id"]
    assert again.json()["status"] == "pending"
    assert sent == []
    assert Contact.objects.count() == 1


def test_request_bad_input(user, client_for, make_user):
    client = client_for(user)
    missing = client.post("/api/v1/contacts", {}, format="json")
    assert missing.status_code == 400
    assert "user_id" in missing.json()["errors"]
    not_uuid = client.post("/api/v1/contacts", {"user_id": "42"}, format="json")
    assert not_uuid.status_code == 400
    myself = client.post("/api/v1/contacts", {"user_id": str(user.pk)}, format="json")
    assert (myself.status_code, myself.json()["code"]) == (400, "cannot_add_self")
    unknown = client.post("/api/v1/contacts", {"user_id": str(uuid.uuid4())}, format="json")
    assert unknown.status_code == 404
    inactive = make_user(is_active=False)
    assert client.post("/api/v1/contacts", {"user_id": str(inactive.pk)}, format="json").status_code == 404
    assert Contact.objects.count() == 0


def test_unauthenticated_is_401(api_client, other_user):
    assert api_client.get("/api/v1/contacts").status_code == 401
    assert (
        api_client.post("/api/v1/contacts", {"user_id": str(other_user.pk)}, format="json").status_code == 401
    )


def test_addressee_accepts_by_patch(user, other_user, client_for, capture_events):
    contact = request_contact(client_for(user), other_user)
    with capture_events() as sent:
        response = client_for(other_user).patch(
            f"/api/v1/contacts/{contact['id']}", {"status": "accepted"}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert {e["groups"][0] for e in sent if e["type"] == "contact.updated"} == {
        realtime_user_group_name(user.pk),
        realtime_user_group_name(other_user.pk),
    }
    assert client_for(user).get(f"/api/v1/contacts/{contact['id']}").json()["status"] == "accepted"


def test_requester_cannot_accept_own_request(user, other_user, client_for):
    contact = request_contact(client_for(user), other_user)
    response = client_for(user).patch(
        f"/api/v1/contacts/{contact['id']}", {"status": "accepted"}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (403, "not_addressee")
    assert Contact.objects.get(pk=contact["id"]).status == "pending"


def test_patch_rejects_other_statuses(user, other_user, client_for):
    contact = request_contact(client_for(user), other_user)
    for value in ("pending", "friends", ""):
        response = client_for(other_user).patch(
            f"/api/v1/contacts/{contact['id']}", {"status": value}, format="json"
        )
        assert response.status_code == 400
        assert "status" in response.json()["errors"]


def test_either_side_deletes(user, other_user, make_user, client_for, capture_events):
    first = request_contact(client_for(user), other_user)
    with capture_events() as sent:
        response = client_for(other_user).delete(f"/api/v1/contacts/{first['id']}")
    assert response.status_code == 204
    assert not Contact.objects.filter(pk=first["id"]).exists()
    assert sorted(e["data"]["status"] for e in sent) == ["deleted", "deleted"]
    assert client_for(user).get("/api/v1/contacts").json()["results"] == []
    # The requester can delete (withdraw) too, and a new request is possible afterwards.
    second = request_contact(client_for(user), other_user)
    assert client_for(user).delete(f"/api/v1/contacts/{second['id']}/").status_code == 204
    assert client_for(user).delete(f"/api/v1/contacts/{second['id']}").status_code == 404


def test_list_filters_by_status_and_pages(user, make_user, client_for):
    client = client_for(user)
    others = [make_user() for _ in range(5)]
    for other in others:
        request_contact(client, other)
    accepted = others[0]
    client_for(accepted).post("/api/v1/contacts", {"user_id": str(user.pk)}, format="json")
    only_accepted = client.get("/api/v1/contacts?status=accepted").json()["results"]
    assert [c["user"]["id"] for c in only_accepted] == [str(accepted.pk)]
    assert client.get("/api/v1/contacts?status=nonsense").status_code == 400
    page = client.get("/api/v1/contacts?limit=2").json()
    assert len(page["results"]) == 2 and page["next"]
    seen = [c["id"] for c in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [c["id"] for c in page["results"]]
    assert len(seen) == len(set(seen)) == 5


def test_list_runs_a_fixed_number_of_queries(user, make_user, client_for, django_assert_max_num_queries):
    client = client_for(user)
    for _ in range(3):
        request_contact(client, make_user())
    with django_assert_max_num_queries(3):
        small = client.get("/api/v1/contacts").json()["results"]
    for _ in range(20):
        request_contact(client, make_user())
    with django_assert_max_num_queries(3):
        large = client.get("/api/v1/contacts").json()["results"]
    assert (len(small), len(large)) == (3, 23)
