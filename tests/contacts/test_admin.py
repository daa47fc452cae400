"""Admin: contacts and invitations listed and searchable."""

from __future__ import annotations

import pytest
from django.test import Client

from contacts.models import Contact, Invitation

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_user) -> Client:
    admin = make_user(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client


def test_contacts_are_listed_and_searchable(admin_client, make_user, client_for):
    ann, bob, cid = (
        make_user(username="ann_admin"),
        make_user(username="bob_admin"),
        make_user(username="cid_x"),
    )
    client_for(ann).post("/api/v1/contacts", {"user_id": str(bob.pk)}, format="json")
    client_for(cid).post("/api/v1/contacts", {"user_id": str(bob.pk)}, format="json")
    listing = admin_client.get("/admin/contacts/contact/")
    assert listing.status_code == 200
    assert listing.content.count(b"bob_admin") >= 2
    found = admin_client.get("/admin/contacts/contact/", {"q": "ann_admin"})
    assert found.status_code == 200
    assert b"ann_admin" in found.content and b"cid_x" not in found.content
    contact = Contact.objects.get(requester=ann)
    assert admin_client.get(f"/admin/contacts/contact/{contact.pk}/change/").status_code == 200


def test_invitations_are_listed_and_searchable(admin_client, user, client_for):
    for address in ("first.friend@example.com", "second.pal@example.com"):
        client_for(user).post("/api/v1/invitations/send", {"email": address}, format="json")
    found = admin_client.get("/admin/contacts/invitation/", {"q": "second.pal"})
    assert found.status_code == 200
    assert b"second.pal@example.com" in found.content
    assert b"first.friend@example.com" not in found.content
    invitation = Invitation.objects.get(invitee_email="second.pal@example.com")
    change = admin_client.get(f"/admin/contacts/invitation/{invitation.pk}/change/")
    assert change.status_code == 200
    assert invitation.token_hash.encode() not in change.content


def test_admin_pages_need_staff(client_for, user):
    anonymous = Client()
    assert anonymous.get("/admin/contacts/contact/").status_code == 302
    logged_in = Client()
    logged_in.force_login(user)
    assert logged_in.get("/admin/contacts/invitation/").status_code == 302
