"""The "you have unread messages" email: delayed, re-checked when due, counts and names only.

The rules are tested on the service with an explicit `now`; the scheduling (a delayed task on
commit, one per burst) against a real broker and worker at the end of the file.
"""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message
from messaging.services import unread_email_send
from notifications.models import OutboundEmail
from tests.notifications.worker import skip_unless_real_services, start_worker, text_of

pytestmark = pytest.mark.django_db

DELAY = 900


@pytest.fixture(autouse=True)
def _delay(settings):
    settings.MESSAGING_UNREAD_EMAIL_DELAY_SECONDS = DELAY
    settings.MESSAGING_UNREAD_EMAIL_MIN_INTERVAL_SECONDS = 6 * 3600
    settings.FRONTEND_URL = "https://app.example"


def due(message: dict, extra: int = 1):
    """A moment just after the delay of `message` ended."""
    created = Message.objects.get(pk=message["id"]).created_at
    return created + timedelta(seconds=DELAY + extra)


def emails_to(user) -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(to_email=user.email, template="unread_messages"))


def test_a_missed_burst_gives_one_email_with_counts_and_sender_names_never_content(send, user, make_user):
    ann, bob = make_user(full_name="Ann Example"), make_user(full_name="", username="bob_b")
    sent = [send(ann, user), send(ann, user), send(bob, user)]

    outcome = unread_email_send(user_id=user.pk, now=due(sent[-1]))

    assert (outcome.status, outcome.unread_count) == ("sent", 3)
    [email] = emails_to(user)
    assert email.subject == "3 unread messages on Messenger"
    assert "You have 3 unread messages from bob_b, Ann Example." in email.body_text
    assert "https://app.example" in email.body_text and "Ann Example" in email.body_html
    for message in sent:  # neither the ciphertext nor a key, in any form
        for field in ("encrypted_content", "encrypted_session_key"):
            assert message[field] not in email.body_text + email.body_html
            assert base64.b64decode(message[field]).hex() not in email.body_text
    # Checked again later (a second task of the burst, a retry): nothing new, no second email.
    assert unread_email_send(user_id=user.pk, now=due(sent[-1], 3600 * 7)).status == "nothing_missed"
    assert len(emails_to(user)) == 1


def test_nothing_before_the_delay_ends(send, user, other_user):
    message = send(other_user, user)
    assert unread_email_send(user_id=user.pk, now=due(message, -2)).status == "nothing_missed"
    assert emails_to(user) == []


def test_nothing_once_the_recipient_has_read_it(send, client_for, user, other_user):
    message = send(other_user, user)
    client_for(user).put(f"/api/v1/messages/{message['id']}/read")
    assert unread_email_send(user_id=user.pk, now=due(message)).status == "nothing_missed"
    assert emails_to(user) == []


def test_nothing_when_the_recipient_was_online_after_it_arrived(send, user, other_user):
    message = send(other_user, user)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Message.objects.filter(pk=message["id"]).update(created_at=an_hour_ago)
    user.last_seen = an_hour_ago + timedelta(seconds=30)  # online (an app open) after it arrived
    user.save(update_fields=["last_seen"])
    assert unread_email_send(user_id=user.pk, now=due(message)).status == "nothing_missed"
    # A message that arrives after that visit is missed again.
    later = send(other_user, user)
    outcome = unread_email_send(user_id=user.pk, now=due(later))
    assert (outcome.status, outcome.unread_count) == ("sent", 2)


def test_deleted_and_hidden_messages_do_not_count(send, client_for, user, other_user):
    wiped, hidden = send(other_user, user), send(other_user, user)
    client_for(other_user).delete(f"/api/v1/messages/{wiped['id']}?scope=everyone")
    client_for(user).delete(f"/api/v1/messages/{hidden['id']}?scope=me")
    assert unread_email_send(user_id=user.pk, now=due(hidden)).status == "nothing_missed"
    kept = send(other_user, user)
    outcome = unread_email_send(user_id=user.pk, now=due(kept))
    assert (outcome.status, outcome.unread_count) == ("sent", 1)


def test_messages_the_user_sent_and_group_messages_do_not_count(send, client_for, user, other_user):
    from groups import services as group_services
    from tests.groups.helpers import message_body

    mine = send(user, other_user)
    group = group_services.group_create(creator_id=other_user.pk, name="g", member_ids=[user.pk])
    assert (
        client_for(other_user)
        .post(f"/api/v1/groups/{group.pk}/messages", message_body(group), format="json")
        .status_code
        == 201
    )
    assert unread_email_send(user_id=user.pk, now=due(mine)).status == "nothing_missed"


def test_a_second_burst_waits_for_the_minimum_interval(send, user, other_user, settings):
    settings.MESSAGING_UNREAD_EMAIL_MIN_INTERVAL_SECONDS = 3600
    first = send(other_user, user)
    sent_at = due(first)
    assert unread_email_send(user_id=user.pk, now=sent_at).status == "sent"
    second = send(other_user, user)

    early = unread_email_send(user_id=user.pk, now=sent_at + timedelta(minutes=30))
    assert early.status == "throttled"
    assert 1790 <= early.retry_in <= 1810  # the task retries when the interval is over
    assert len(emails_to(user)) == 1

    later = unread_email_send(user_id=user.pk, now=max(sent_at + timedelta(hours=1, seconds=1), due(second)))
    assert (later.status, later.unread_count) == ("sent", 2)  # both unread ones are counted
    assert len(emails_to(user)) == 2


def test_no_email_for_an_unverified_address_or_an_inactive_user(send, user, other_user, make_user):
    unverified = make_user(is_verified=False)
    message = send(other_user, unverified)
    assert unread_email_send(user_id=unverified.pk, now=due(message)).status == "inactive"
    banned = make_user()
    message = send(other_user, banned)
    banned.is_active = False
    banned.save(update_fields=["is_active"])
    assert unread_email_send(user_id=banned.pk, now=due(message)).status == "inactive"
    assert OutboundEmail.objects.filter(template="unread_messages").count() == 0


def test_the_task_does_nothing_before_it_is_due(user):
    """The embedded mode runs a delayed task in-process at once: it must not email early."""
    from messaging.tasks import send_unread_messages_email

    assert send_unread_messages_email.apply(args=[str(user.pk), time.time() + DELAY]).get() == "not_due"
    assert send_unread_messages_email.apply(args=[str(user.pk), time.time() - 1]).get() == "nothing_missed"


def test_a_send_keeps_working_when_the_email_is_switched_off(send, user, other_user, settings):
    settings.MESSAGING_UNREAD_EMAIL_DELAY_SECONDS = 0
    send(other_user, user)
    assert unread_email_send(user_id=user.pk, now=timezone.now() + timedelta(days=1)).status == "sent"


# --- Against a real broker and worker -------------------------------------------------------

REAL_DELAY = 2


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    skip_unless_real_services()
    with django_db_blocker.unblock():
        yield from start_worker(
            tmp_path_factory.mktemp("unread-worker"),
            extra_env={"MESSAGING_UNREAD_EMAIL_DELAY_SECONDS": str(REAL_DELAY)},
        )


@pytest.mark.integration
@pytest.mark.real_celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_emails_the_quiet_recipient_once_after_the_delay_and_not_the_reader(
    worker, send, client_for, make_user, settings
):
    settings.MESSAGING_UNREAD_EMAIL_DELAY_SECONDS = REAL_DELAY
    sender, quiet, reader = make_user(full_name="Sam Sender"), make_user(), make_user()

    read_one = send(sender, reader)
    started = time.monotonic()
    client_for(reader).put(f"/api/v1/messages/{read_one['id']}/read")
    burst = [send(sender, quiet) for _ in range(3)]

    [email] = worker.wait_for_messages_to(quiet.email, timeout=60)
    assert time.monotonic() - started >= REAL_DELAY  # not before the delay
    assert email["Subject"] == "3 unread messages on Messenger"
    assert "You have 3 unread messages from Sam Sender." in text_of(email)
    for message in burst:
        assert message["encrypted_content"] not in text_of(email)
    # The reader's check was due first and found the message read.
    deadline = time.monotonic() + 30
    while "nothing_missed" not in worker.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "nothing_missed" in worker.log()
    assert worker.messages_to(reader.email) == []
    # The burst scheduled one check, not three: a moment later there is still one email.
    time.sleep(REAL_DELAY + 1)
    assert len(worker.messages_to(quiet.email)) == 1
    assert OutboundEmail.objects.filter(to_email=quiet.email).count() == 1
