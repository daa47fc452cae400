"""Account deletion (DELETE /auth/me) and the admin's moderation actions (ban, un-ban, verify)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import events
from accounts.models import DeletedUser, IdentityKeys, OneTimePrekey, User
from accounts.services import deleted_email_hash
from tests.accounts.helpers import KEYS, ME, REFRESH, bearer, bundle, login, session_for
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


class Recorder:
    def __init__(self, signal):
        self.signal, self.calls = signal, []

    def __call__(self, sender, **kwargs):
        kwargs.pop("signal", None)
        self.calls.append(kwargs)

    def __enter__(self):
        self.signal.connect(self)
        return self.calls

    def __exit__(self, *exc):
        self.signal.disconnect(self)


# --- DELETE /auth/me ------------------------------------------------------------------------------


def test_delete_account(api_client, make_user, django_capture_on_commit_callbacks):
    user = make_user(username="Erin", email="Erin@Example.com", full_name="Erin E", bio="bio")
    tokens = session_for(user)
    client = bearer(tokens["access"])
    client.put(KEYS, bundle(range(3)), format="json")
    deleted, revoked = Recorder(events.user_deleted), Recorder(events.access_revoked)
    with deleted as deleted_calls, revoked as revoked_calls, django_capture_on_commit_callbacks(execute=True):
        response = client.delete(ME, {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 204, response.content

    assert deleted_calls == [{"user_id": user.pk}]
    assert revoked_calls == [{"user_id": user.pk, "jti": None}]
    # tokens die, login is impossible
    assert client.get(ME).status_code == 401
    assert api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    assert login(api_client, "Erin").status_code == 401
    assert login(api_client, "erin@example.com").status_code == 401
    # scrubbed, placeholder kept for messages
    row = User.objects.get(pk=user.pk)
    assert not row.is_active and row.deleted_at is not None
    assert row.full_name == "Deleted user" and row.bio == "" and row.public_key == ""
    assert "erin" not in row.email.lower() and "erin" not in row.username.lower()
    assert not row.has_usable_password()
    assert not IdentityKeys.objects.filter(user_id=user.pk).exists()
    assert not OneTimePrekey.objects.filter(user_id=user.pk).exists()
    # deleted_users: id, former user id, hash of the email, reason, deleted_at
    record = DeletedUser.objects.get()
    assert record.former_user_id == user.pk
    assert record.email_hash == deleted_email_hash("erin@example.com")
    assert "erin" not in record.email_hash.lower()
    assert record.reason == "user_request"
    # others no longer find or see them; the address and username are free again
    other = bearer(session_for(make_user())["access"])
    assert other.get(f"/api/v1/users/{user.pk}").status_code == 404
    assert other.get("/api/v1/users/search", {"q": "erin"}).json()["results"] == []
    assert other.get(f"{KEYS}/{user.pk}").status_code == 404
    again = api_client.post(
        "/api/v1/auth/register",
        {"email": "erin@example.com", "username": "erin", "password": "violet-Orbit-42-lantern"},
        format="json",
    )
    assert again.status_code == 201


def test_messages_of_a_deleted_account_stay_for_the_peer_behind_a_placeholder(make_user):
    """docs/API.md: messages they sent stay for their peers, pointing to a "deleted user" placeholder."""
    import base64

    leaver, peer = make_user(username="leaver", full_name="Lea Ver"), make_user()
    leaver_client, peer_client = bearer(session_for(leaver)["access"]), bearer(session_for(peer)["access"])
    body = {
        "recipient_id": str(peer.pk),
        "encrypted_content": base64.b64encode(b"ciphertext").decode(),
        "encrypted_session_key": base64.b64encode(b"key").decode(),
        "crypto_version": "1",
        "encryption_algorithm": "x25519-aes-gcm",
    }
    sent = leaver_client.post("/api/v1/messages/send", body, format="json")
    assert sent.status_code == 201, sent.content
    assert leaver_client.delete(ME, {"password": DEFAULT_PASSWORD}, format="json").status_code == 204

    history = peer_client.get(f"/api/v1/messages/conversation/{leaver.pk}")
    assert history.status_code == 200
    [message] = history.json()["results"]
    assert (message["id"], message["sender_id"]) == (sent.json()["id"], str(leaver.pk))
    assert message["encrypted_content"] == body["encrypted_content"]
    [conversation] = peer_client.get("/api/v1/messages/conversations").json()["results"]
    placeholder = conversation["user"]
    assert placeholder["id"] == str(leaver.pk)
    assert placeholder["full_name"] == "Deleted user"
    assert (
        "leaver" not in placeholder["username"]
        and placeholder["bio"] == ""
        and placeholder["public_key"] == ""
    )
    # the placeholder is nobody anyone can reach or find
    assert peer_client.get(f"/api/v1/users/{leaver.pk}").status_code == 404
    assert (
        peer_client.post(
            "/api/v1/messages/send", {**body, "recipient_id": str(leaver.pk)}, format="json"
        ).status_code
        == 404
    )


def test_delete_account_needs_the_password(user):
    client = bearer(session_for(user)["access"])
    wrong = client.delete(ME, {"password": "nope"}, format="json")
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "wrong_password"
    assert client.get(ME).status_code == 200  # still logged in
    missing = client.delete(ME, {}, format="json")
    assert missing.status_code == 400
    assert User.objects.get(pk=user.pk).is_active
    assert not DeletedUser.objects.exists()


def test_wrong_delete_passwords_count_toward_the_lock_out(user):
    client = bearer(session_for(user)["access"])
    for _ in range(5):
        assert client.delete(ME, {"password": "nope"}, format="json").status_code == 403
    assert client.delete(ME, {"password": DEFAULT_PASSWORD}, format="json").status_code == 429
    assert User.objects.get(pk=user.pk).is_active


def test_delete_rolls_back_if_a_higher_app_fails(user):
    def broken(sender, **kwargs):
        raise RuntimeError("relay is down")

    client = bearer(session_for(user)["access"])
    events.user_deleted.connect(broken)
    try:
        response = client.delete(ME, {"password": DEFAULT_PASSWORD}, format="json")
    finally:
        events.user_deleted.disconnect(broken)
    assert response.status_code == 500
    assert User.objects.get(pk=user.pk).is_active
    assert not DeletedUser.objects.exists()


# --- admin ----------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(make_user):
    staff = make_user(is_staff=True, is_superuser=True, role=User.Role.ADMIN)
    client = Client()
    client.force_login(staff)
    return client


CHANGELIST = "/admin/accounts/user/"


def act(admin_client, action, users, **extra):
    return admin_client.post(
        CHANGELIST, {"action": action, "_selected_action": [str(u.pk) for u in users], **extra}, follow=True
    )


def test_banned_users_token_is_refused_at_once(admin_client, user, django_capture_on_commit_callbacks):
    tokens = session_for(user)
    client = bearer(tokens["access"])
    assert client.get(ME).status_code == 200
    with Recorder(events.access_revoked) as revoked, django_capture_on_commit_callbacks(execute=True):
        response = act(admin_client, "ban_users", [user], reason="spam")
    assert response.status_code == 200
    assert revoked == [{"user_id": user.pk, "jti": None}]
    refused = client.get(ME)
    assert refused.status_code == 401
    assert refused.json()["code"] == "user_inactive"
    assert client.get(f"/api/v1/users/{user.pk}").status_code == 401
    from rest_framework.test import APIClient

    assert APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    assert login(APIClient(), user.username).status_code == 401
    user.refresh_from_db()
    assert not user.is_active and user.ban_reason == "spam" and user.banned_at


def test_ban_needs_a_reason(admin_client, user):
    act(admin_client, "ban_users", [user], reason="  ")
    assert User.objects.get(pk=user.pk).is_active


def test_unban_lets_the_user_log_in_again_but_old_refresh_tokens_stay_dead(admin_client, user):
    old = session_for(user)
    act(admin_client, "ban_users", [user], reason="mistake")
    act(admin_client, "unban_users", [user])
    user.refresh_from_db()
    assert user.is_active and user.banned_at is None and user.ban_reason == ""
    from rest_framework.test import APIClient

    assert login(APIClient(), user.username).status_code == 200
    assert APIClient().post(REFRESH, {"refresh": old["refresh"]}, format="json").status_code == 401


def test_deleted_user_cannot_be_unbanned(admin_client, user):
    from accounts.services import user_delete

    user_delete(user_id=user.pk, reason="test")
    act(admin_client, "unban_users", [user])
    assert not User.objects.get(pk=user.pk).is_active


def test_mark_verified(admin_client, make_user):
    user = make_user(is_verified=False)
    act(admin_client, "mark_verified", [user])
    assert User.objects.get(pk=user.pk).is_verified


def test_ticking_verified_in_the_change_form_is_a_verification(admin_client, make_user, client_for):
    """The form's checkbox and the action are one path (user_mark_verified): the address is
    proven, so the invitations waiting for it become contacts, as on the emailed link."""
    import secrets
    from datetime import timedelta

    from django.utils import timezone

    from contacts.models import Invitation
    from contacts.selectors import hash_invitation_token

    inviter = make_user()
    newcomer = make_user(email="newcomer@example.com", is_verified=False)
    Invitation.objects.create(
        inviter=inviter,
        invitee_email="newcomer@example.com",
        token_hash=hash_invitation_token(secrets.token_urlsafe(32)),
        expires_at=timezone.now() + timedelta(days=1),
    )
    body = {
        "username": newcomer.username,
        "email": newcomer.email,
        "role": newcomer.role,
        "is_verified": "on",
    }
    assert admin_client.post(f"{CHANGELIST}{newcomer.pk}/change/", body).status_code == 302
    assert User.objects.get(pk=newcomer.pk).is_verified
    rows = client_for(newcomer).get("/api/v1/contacts").json()["results"]
    assert [(row["user"]["id"], row["status"]) for row in rows] == [(str(inviter.pk), "accepted")]
    assert Invitation.objects.get().accepted_by_id == newcomer.pk


def test_admin_search_filters_and_no_password_hash(admin_client, make_user):
    target = make_user(username="findme", email="findme@example.com", role=User.Role.MODERATOR)
    make_user(username="other")
    page = admin_client.get(CHANGELIST, {"q": "findme@example"})
    assert page.status_code == 200
    assert b"findme" in page.content and b">other<" not in page.content
    by_username = admin_client.get(CHANGELIST, {"q": "FINDME"})
    assert b"findme@example.com" in by_username.content and b">other<" not in by_username.content
    moderators = admin_client.get(CHANGELIST, {"role__exact": "moderator"}).content
    assert b"findme" in moderators and b">other<" not in moderators
    make_user(username="unverified1", is_verified=False)
    make_user(username="inactive1", is_active=False)
    unverified = admin_client.get(CHANGELIST, {"is_verified__exact": "0"}).content
    assert b">unverified1<" in unverified and b">findme<" not in unverified
    inactive = admin_client.get(CHANGELIST, {"is_active__exact": "0"}).content
    assert b">inactive1<" in inactive and b">findme<" not in inactive
    active = admin_client.get(CHANGELIST, {"is_active__exact": "1"}).content
    assert b">findme<" in active and b">inactive1<" not in active
    change = admin_client.get(f"{CHANGELIST}{target.pk}/change/")
    assert change.status_code == 200
    stored_hash = User.objects.get(pk=target.pk).password
    assert stored_hash.encode() not in change.content
    assert b"md5$" not in change.content and b"argon2" not in change.content


def test_staff_who_may_change_users_cannot_grant_powers(make_user):
    from django.contrib.auth.models import Permission

    moderator = make_user(is_staff=True, role=User.Role.MODERATOR)
    moderator.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_user", "change_user"], content_type__app_label="accounts"
        )
    )
    client = Client()
    client.force_login(moderator)
    page = client.get(f"{CHANGELIST}{moderator.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert not {"role", "is_staff", "is_superuser"} & set(form.fields)
    response = client.post(
        f"{CHANGELIST}{moderator.pk}/change/",
        {"username": moderator.username, "email": moderator.email, "is_superuser": "on", "role": "admin"},
    )
    assert response.status_code == 302
    moderator.refresh_from_db()
    assert (moderator.is_superuser, moderator.role) == (False, "moderator")


def test_admin_is_for_staff_only(user):
    client = Client()
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
