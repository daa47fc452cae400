"""Writes of groups: every membership change and every group message goes through here.

Concurrency: each write first locks the group's row (`SELECT ... FOR NO KEY UPDATE`), so sends and
membership changes of one group run one at a time. That is what makes two promises exact:
a message carries a key for precisely the members of the moment it was sent (the member set
cannot change between validating the keys and committing), and "history from joining" is a
position comparison (`joined_position` is read under the same lock, so every message of the
group is either at or below it, already committed, or above it, sent after the join).

Who may do what (outsiders always get 404 from the lock step, before any role check):

| action                     | owner | admin                     | member |
|----------------------------|-------|---------------------------|--------|
| read group, list messages  | yes   | yes                       | yes    |
| send a message             | yes   | yes                       | yes    |
| edit name / description    | yes   | yes                       | 403    |
| add a member               | yes   | yes (role `member` only)  | 403    |
| remove a member            | yes   | members only (not admins) | 403    |
| leave                      | 409*  | yes                       | yes    |
| change a role              | yes   | 403                       | 403    |
| transfer ownership         | yes   | 403                       | 403    |
| delete the group           | yes   | 403                       | 403    |

* the owner transfers ownership (or deletes the group) first.

Attachments: a group message's media is granted (media.services) to the members it was sent to,
with the message as the grant's source. Grants follow messages, not memberships: a member who
leaves or is removed keeps the media of what they were sent, as they keep whatever their devices
already hold (as in Signal or WhatsApp), and someone who joins later is granted nothing old. When
the group is deleted (by its owner, by staff, or when its last member's account goes), its
messages go, and every grant they gave goes with them, former members' included.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.selectors import active_users_by_id, get_active_user
from contacts.selectors import blocked_by_any, is_blocked
from core import metrics
from core.events import publish, publish_per_user, publish_to_chat_group
from core.stream import (
    current_stream_position,
)
from groups import events as group_events
from groups.exceptions import (
    AlreadyMember,
    GroupFull,
    GroupNotFound,
    GroupPermissionDenied,
    InvalidMembers,
    InvalidRecipients,
    InvalidRoleChange,
    MemberNotFound,
    OwnerMustTransfer,
    UserBlockedYou,
)
from groups.models import ChatGroup, GroupMember, GroupMessage, GroupMessageKey, GroupRole
from groups.selectors import group_members
from groups.statements import insert_group_message
from media.events import MediaMetadata
from media.selectors import attachments_for
from media.services import grant_media_access, revoke_media_access

MANAGER_ROLES = frozenset({GroupRole.OWNER, GroupRole.ADMIN})


def _lock_group(group_id: UUID | str) -> ChatGroup:
    """Lock the group's row for this transaction (see the module docstring), or 404."""
    try:
        return ChatGroup.objects.select_for_update(no_key=True).get(pk=group_id)
    except (ChatGroup.DoesNotExist, ValueError, TypeError):
        raise GroupNotFound() from None


def _locked_membership(*, group_id: UUID | str, user_id: UUID | str) -> tuple[ChatGroup, GroupMember]:
    """Lock the group, then read the caller's membership: outsiders get the same 404 as for a
    group that does not exist."""
    group = _lock_group(group_id)
    membership = GroupMember.objects.filter(group=group, user_id=user_id).first()
    if membership is None:
        raise GroupNotFound()
    membership.group = group
    return group, membership


def _target_membership(group: ChatGroup, user_id: UUID | str) -> GroupMember:
    membership = GroupMember.objects.filter(group=group, user_id=user_id).select_related("user").first()
    if membership is None:
        raise MemberNotFound()
    return membership


def _ids(values: Iterable[Any]) -> str:
    return ", ".join(sorted(str(value) for value in values))


def _publish_added(
    group: ChatGroup, memberships: list[GroupMember], added_by: UUID | None, *, new_group: bool = False
) -> None:
    """Chat-group copy first (existing members), then the added users' own copy (see events.py).
    A new group has no sockets in its chat group yet: only the users' copy then.

    Each copy's `members` is what its receivers do not know yet: the existing members learn the
    added ones; the added users learn every member (one query), so a client builds the group
    from the event as GET /groups/{id} would show it."""
    user_ids = [membership.user_id for membership in memberships]
    data = group_events.member_added_data(group, user_ids=user_ids, members=memberships, added_by=added_by)
    if not new_group:
        publish_to_chat_group(group.pk, group_events.GROUP_MEMBER_ADDED, dict(data))
        data = group_events.member_added_data(
            group, user_ids=user_ids, members=group_members(group_id=group.pk), added_by=added_by
        )
    publish(user_ids, group_events.GROUP_MEMBER_ADDED, dict(data))


def _publish_removed(
    group_id: UUID, user_id: UUID, removed_by: UUID | None, reason: group_events.RemovalReason
) -> None:
    data = group_events.member_removed_data(group_id, user_id=user_id, removed_by=removed_by, reason=reason)
    publish_to_chat_group(group_id, group_events.GROUP_MEMBER_REMOVED, dict(data))
    publish([user_id], group_events.GROUP_MEMBER_REMOVED, dict(data))


def _publish_updated(
    group: ChatGroup, updated_by: UUID | None, role_changes: Sequence[tuple[UUID, str]] = ()
) -> None:
    data = group_events.group_updated_data(group, updated_by=updated_by, role_changes=role_changes)
    publish_to_chat_group(group.pk, group_events.GROUP_UPDATED, dict(data))


def _publish_deleted(group_id: UUID, deleted_by: UUID | None) -> None:
    data = group_events.group_deleted_data(group_id, deleted_by=deleted_by)
    publish_to_chat_group(group_id, group_events.GROUP_DELETED, dict(data))


# --- Groups -------------------------------------------------------------------------------------


@transaction.atomic
def group_create(
    *, creator_id: UUID, name: str, description: str = "", member_ids: Iterable[UUID] = ()
) -> ChatGroup:
    """Create a group owned by `creator_id` with `member_ids` as members.

    Every initial member must be an active user with no block between them and the creator
    (contacts' rule: whoever holds the block), and the group must fit the cap: otherwise a 400
    naming the ids, and nothing is created.
    """
    wanted = {UUID(str(uid)) for uid in member_ids} - {UUID(str(creator_id))}
    cap = settings.GROUP_MAX_MEMBERS
    if len(wanted) + 1 > cap:
        raise InvalidMembers(
            f"A group holds at most {cap} members, the creator included.",
            code="too_many_members",
            errors={"member_ids": [f"At most {cap - 1} members besides you."]},
        )
    users = active_users_by_id(user_ids=wanted)
    unknown = wanted - set(users)
    if unknown:
        raise InvalidMembers(
            f"No such users: {_ids(unknown)}.",
            code="unknown_users",
            errors={"member_ids": [f"No such users: {_ids(unknown)}."]},
        )
    blocked = blocked_by_any(actor_id=creator_id, target_ids=wanted)
    if blocked:
        raise InvalidMembers(
            f"These users do not accept being added by you: {_ids(blocked)}.",
            code="blocked",
            errors={"member_ids": [f"These users blocked you: {_ids(blocked)}."]},
        )
    creator = get_active_user(user_id=creator_id)
    group = ChatGroup.objects.create(name=name, description=description, creator=creator)
    position = current_stream_position()
    memberships = [GroupMember(group=group, user=creator, role=GroupRole.OWNER, joined_position=position)]
    memberships += [
        GroupMember(group=group, user=users[uid], role=GroupRole.MEMBER, joined_position=position)
        for uid in sorted(wanted)
    ]
    GroupMember.objects.bulk_create(memberships)
    _publish_added(group, memberships, added_by=creator.pk, new_group=True)
    return group


@transaction.atomic
def group_update(
    *, group_id: UUID, actor_id: UUID, name: str | None = None, description: str | None = None
) -> ChatGroup:
    group, actor = _locked_membership(group_id=group_id, user_id=actor_id)
    if actor.role not in MANAGER_ROLES:
        raise GroupPermissionDenied("Only the owner or an admin may edit the group.")
    fields = ["updated_at"]
    if name is not None:
        group.name = name
        fields.append("name")
    if description is not None:
        group.description = description
        fields.append("description")
    group.save(update_fields=fields)
    _publish_updated(group, actor.user_id)
    return group


def _delete_group_rows(group: ChatGroup) -> None:
    # The media of the group's messages goes with them: whoever was sent it (members, and former
    # members, who keep it while the message exists) loses it now; the uploaders keep their own.
    with_media = GroupMessage.objects.filter(group=group).exclude(attachment_ids=[])
    revoke_media_access(source_ids=list(with_media.values_list("pk", flat=True)))
    # Keys first in one statement, so the cascade below has nothing per message to collect.
    GroupMessageKey.objects.filter(message__group=group).delete()
    group.delete()


@transaction.atomic
def group_delete(*, group_id: UUID, actor_id: UUID) -> None:
    group, actor = _locked_membership(group_id=group_id, user_id=actor_id)
    if actor.role != GroupRole.OWNER:
        raise GroupPermissionDenied("Only the owner may delete the group.")
    _publish_deleted(group.pk, actor.user_id)
    _delete_group_rows(group)


@transaction.atomic
def group_delete_by_staff(*, group_id: UUID) -> None:
    """Moderation (the admin site): delete a group whoever owns it."""
    group = _lock_group(group_id)
    _publish_deleted(group.pk, None)
    _delete_group_rows(group)


# --- Members ------------------------------------------------------------------------------------


@transaction.atomic
def group_member_add(
    *, group_id: UUID, actor_id: UUID, user_id: UUID, role: str = GroupRole.MEMBER
) -> GroupMember:
    """Add `user_id`. Owner or admin; only the owner may add an admin.

    Errors: outsider 404; member 403; an admin adding an admin 403; unknown user 404; a block
    between the user and the adder 403 (`blocked`); already a member 409; the group at its cap 409.
    """
    group, actor = _locked_membership(group_id=group_id, user_id=actor_id)
    if actor.role not in MANAGER_ROLES:
        raise GroupPermissionDenied("Only the owner or an admin may add members.")
    if role not in (GroupRole.ADMIN, GroupRole.MEMBER):
        raise InvalidRoleChange("A member is added as `admin` or `member`; use transfer for ownership.")
    if role == GroupRole.ADMIN and actor.role != GroupRole.OWNER:
        raise GroupPermissionDenied("Only the owner may add an admin.")
    user = get_active_user(user_id=user_id)
    if is_blocked(actor_id=actor_id, target_id=user.pk):
        raise UserBlockedYou("This user has blocked you; you cannot add them.")
    if GroupMember.objects.filter(group=group, user=user).exists():
        raise AlreadyMember()
    if GroupMember.objects.filter(group=group).count() >= settings.GROUP_MAX_MEMBERS:
        raise GroupFull(f"This group has reached its limit of {settings.GROUP_MAX_MEMBERS} members.")
    membership = GroupMember.objects.create(
        group=group, user=user, role=role, joined_position=current_stream_position()
    )
    _publish_added(group, [membership], added_by=actor.user_id)
    return membership


@transaction.atomic
def group_member_remove(*, group_id: UUID, actor_id: UUID, user_id: UUID) -> None:
    """`actor == user`: leave (any member but the owner). Otherwise remove someone: the owner
    anyone, an admin plain members only. Access ends with the commit: the next read is a 404."""
    group, actor = _locked_membership(group_id=group_id, user_id=actor_id)
    if UUID(str(user_id)) == actor.user_id:
        if actor.role == GroupRole.OWNER:
            raise OwnerMustTransfer()
        actor.delete()
        _publish_removed(group.pk, actor.user_id, actor.user_id, "left")
        return
    if actor.role not in MANAGER_ROLES:
        raise GroupPermissionDenied("Only the owner or an admin may remove members.")
    target = _target_membership(group, user_id)
    if actor.role == GroupRole.ADMIN and target.role != GroupRole.MEMBER:
        raise GroupPermissionDenied("An admin may remove members, not admins or the owner.")
    target.delete()
    _publish_removed(group.pk, target.user_id, actor.user_id, "removed")


@transaction.atomic
def group_member_set_role(*, group_id: UUID, actor_id: UUID, user_id: UUID, role: str) -> GroupMember:
    """The owner makes a member an admin or an admin a member (ownership moves by transfer)."""
    group, actor = _locked_membership(group_id=group_id, user_id=actor_id)
    if actor.role != GroupRole.OWNER:
        raise GroupPermissionDenied("Only the owner may change roles.")
    if role not in (GroupRole.ADMIN, GroupRole.MEMBER):
        raise InvalidRoleChange("The role must be `admin` or `member`; use transfer for ownership.")
    target = _target_membership(group, user_id)
    if target.role == GroupRole.OWNER:
        raise InvalidRoleChange("The owner's role changes only by transferring ownership.")
    if target.role != role:
        target.role = role
        target.save(update_fields=["role"])
        _publish_updated(group, actor.user_id, [(target.user_id, role)])
    return target


@transaction.atomic
def group_transfer_ownership(*, group_id: UUID, actor_id: UUID, user_id: UUID) -> ChatGroup:
    """The owner hands ownership to another member and becomes an admin."""
    group, actor = _locked_membership(group_id=group_id, user_id=actor_id)
    if actor.role != GroupRole.OWNER:
        raise GroupPermissionDenied("Only the owner may transfer ownership.")
    target = _target_membership(group, user_id)
    if target.pk == actor.pk:
        raise InvalidRoleChange("You already own this group.")
    _move_ownership(group, old_owner=actor, new_owner=target)
    _publish_updated(
        group, actor.user_id, [(target.user_id, GroupRole.OWNER), (actor.user_id, GroupRole.ADMIN)]
    )
    return group


def _move_ownership(group: ChatGroup, *, old_owner: GroupMember | None, new_owner: GroupMember) -> None:
    # Demote first: the partial unique index allows one owner row at a time.
    if old_owner is not None:
        old_owner.role = GroupRole.ADMIN
        old_owner.save(update_fields=["role"])
    new_owner.role = GroupRole.OWNER
    new_owner.save(update_fields=["role"])


@transaction.atomic
def groups_remove_deleted_user(*, user_id: UUID) -> None:
    """Account deletion: the user leaves every group. A group they owned passes to its
    longest-standing admin, else its longest-standing member; a group with nobody left goes."""
    group_ids = sorted(GroupMember.objects.filter(user_id=user_id).values_list("group_id", flat=True))
    for group_id in group_ids:  # sorted: two deletions never lock the same groups in opposite order
        group = _lock_group(group_id)
        membership = GroupMember.objects.filter(group=group, user_id=user_id).first()
        if membership is None:
            continue
        if membership.role == GroupRole.OWNER:
            successor = (
                GroupMember.objects.filter(group=group)
                .exclude(pk=membership.pk)
                .order_by("role", "joined_at", "pk")  # "admin" sorts before "member"
                .first()
            )
            if successor is None:
                _publish_deleted(group.pk, None)
                _delete_group_rows(group)
                continue
            membership.delete()
            _move_ownership(group, old_owner=None, new_owner=successor)
            _publish_updated(group, None, [(successor.user_id, GroupRole.OWNER)])
        else:
            membership.delete()
        _publish_removed(group.pk, UUID(str(user_id)), None, "account_deleted")


# --- Messages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentGroupMessage:
    message: GroupMessage
    created: bool  # False: an earlier send with the same client_message_id, returned as is
    # For the sender's own `<group message>` (groups.events.group_message_data), read already:
    sender_key: bytes | memoryview | None
    attachments_by_id: dict[UUID, MediaMetadata]


def group_message_send(
    *,
    group_id: UUID,
    sender_id: UUID,
    encrypted_content: bytes,
    encrypted_session_keys: Mapping[UUID, bytes],
    crypto_version: str,
    encryption_algorithm: str,
    client_message_id: UUID | None = None,
    attachment_ids: Sequence[UUID] = (),
) -> SentGroupMessage:
    """Store one ciphertext and one wrapped key per current member, then fan out once.

    A fixed number of queries whatever the group's size: lock, member set, (idempotency
    lookup), (media grant), then the stream position, the message and the keys (one statement
    on PostgreSQL, the transaction's last: `groups.statements.insert_group_message`). The event is built after
    the transaction (it goes out after the commit anyway).
    """
    with transaction.atomic():
        group = _lock_group(group_id)
        member_ids = set(GroupMember.objects.filter(group=group).values_list("user_id", flat=True))
        sender_id = UUID(str(sender_id))
        if sender_id not in member_ids:
            raise GroupNotFound()
        if client_message_id is not None:
            earlier = GroupMessage.objects.filter(
                group=group, sender_id=sender_id, client_message_id=client_message_id
            ).first()
            if earlier is not None:
                key = (
                    GroupMessageKey.objects.filter(message=earlier, user_id=sender_id)
                    .values_list("encrypted_session_key", flat=True)
                    .first()
                )
                return SentGroupMessage(
                    message=earlier,
                    created=False,
                    sender_key=key,
                    attachments_by_id=attachments_for([earlier]),
                )

        # The view's keys are UUIDs already (a thousand at the cap; a UUID hashes in Python): the
        # dict is copied with its hashes, and the sets below are built only for the error.
        if all(type(uid) is UUID for uid in encrypted_session_keys):
            keys = dict(encrypted_session_keys)
        else:
            keys = {UUID(str(uid)): key for uid, key in encrypted_session_keys.items()}
        if len(keys) != len(member_ids) or not all(uid in keys for uid in member_ids):
            not_members = set(keys) - member_ids
            missing = member_ids - set(keys)
            problems = []
            if not_members:
                problems.append(f"Not members of this group: {_ids(not_members)}.")
            if missing:
                problems.append(f"Members without a key: {_ids(missing)}.")
            raise InvalidRecipients(" ".join(problems), errors={"encrypted_session_keys": problems})

        media_ids = list(dict.fromkeys(UUID(str(media_id)) for media_id in attachment_ids))
        message = GroupMessage(
            id=uuid.uuid4(),  # chosen now: the grants name the message as their source
            group=group,
            sender_id=sender_id,
            encrypted_content=encrypted_content,
            crypto_version=crypto_version,
            encryption_algorithm=encryption_algorithm,
            client_message_id=client_message_id,
            attachment_ids=[str(media_id) for media_id in media_ids],
            created_at=timezone.now(),
        )
        if media_ids:
            grant_media_access(
                media_ids=media_ids,
                owner_id=sender_id,
                grantee_ids=member_ids - {sender_id},
                source_id=message.pk,
            )
        insert_group_message(message, keys)  # last: it takes the stream position

    attachments = attachments_for([message])
    # Each member's sockets get their own wrapped key only: O(members) per message.
    publish_per_user(
        {uid: group_events.member_key_part(key) for uid, key in keys.items()},
        group_events.GROUP_MESSAGE_NEW,
        dict(group_events.group_message_layer_data(message, attachments_by_id=attachments)),
    )
    metrics.message_sent("group", recipients=len(member_ids) - 1)
    return SentGroupMessage(
        message=message, created=True, sender_key=keys[sender_id], attachments_by_id=attachments
    )
