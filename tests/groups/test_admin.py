"""The admin site: groups with member counts, members inline, search, delete action; messages as
metadata only (never ciphertext or keys)."""

from __future__ import annotations

import base64

import pytest
from django.urls import reverse

from accounts.models import User
from groups.models import ChatGroup, GroupMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    admin = User.objects.create_superuser(email="root@example.com", username="root", password="pw-for-tests")
    client.force_login(admin)
    return client


def test_changelist_shows_member_counts_and_searches(staff_client, make_user, make_group):
    owner = make_user(username="olga")
    make_group(owner, members=[make_user(), make_user()], name="Climbers")
    make_group(make_user(), name="Bakers")

    page = staff_client.get(reverse("admin:groups_chatgroup_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Climbers" in html and "Bakers" in html
    assert 'class="field-member_count">3<' in html

    found = staff_client.get(reverse("admin:groups_chatgroup_changelist"), {"q": "olga"}).content.decode()
    assert "Climbers" in found and "Bakers" not in found


def test_change_page_lists_members_inline(staff_client, make_user, make_group):
    owner, ann = make_user(username="owner_o"), make_user(username="ann_a")
    group = make_group(owner, members=[ann])
    html = staff_client.get(reverse("admin:groups_chatgroup_change", args=[group.pk])).content.decode()
    assert "owner_o" in html and "ann_a" in html


def test_delete_action_deletes_through_the_service(staff_client, make_user, make_group, capture_events):
    group = make_group(make_user(), members=[make_user()])
    keep = make_group(make_user())
    with capture_events() as sent:
        response = staff_client.post(
            reverse("admin:groups_chatgroup_changelist"),
            {"action": "delete_groups", "_selected_action": [str(group.pk)]},
        )
    assert response.status_code == 302
    assert list(ChatGroup.objects.all()) == [keep]
    assert [e["type"] for e in sent] == ["group.deleted"]


def test_message_admin_shows_metadata_never_ciphertext_or_keys(staff_client, make_user, make_group, send):
    owner = make_user()
    group = make_group(owner)
    secret = b"SECRET-CIPHERTEXT-BYTES"
    message_id = send(owner, group, secret).json()["id"]
    message = GroupMessage.objects.get(pk=message_id)
    encoded = {base64.b64encode(secret).decode(), secret.decode()}
    key = bytes(message.keys.get().encrypted_session_key)

    for url in (
        reverse("admin:groups_groupmessage_changelist"),
        reverse("admin:groups_groupmessage_change", args=[message_id]),
    ):
        html = staff_client.get(url).content.decode()
        assert message_id in html
        assert not any(value in html for value in encoded)
        assert key.decode() not in html and base64.b64encode(key).decode() not in html
    assert ">23<" in staff_client.get(reverse("admin:groups_groupmessage_changelist")).content.decode()
