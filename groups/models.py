"""Chat groups, their members and their end-to-end-encrypted messages (the seed's group_db).

"Group" here always means a chat group; `django.contrib.auth.models.Group` is never used for chats.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class GroupRole(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


# Roles a member can be given directly (ownership moves only by transfer).
ASSIGNABLE_ROLE_CHOICES = [
    (GroupRole.ADMIN.value, GroupRole.ADMIN.label),
    (GroupRole.MEMBER.value, GroupRole.MEMBER.label),
]


class ChatGroup(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True, default="")
    # Who created it (the first owner); ownership may move later, see GroupMember.role.
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "groups"
        verbose_name = "chat group"
        indexes = [models.Index(fields=["-created_at", "-id"], name="groups_created_idx")]

    def __str__(self) -> str:
        return self.name


class GroupMember(models.Model):
    """A current membership. Leaving or being removed deletes the row: access ends at once."""

    # No single-column FK indexes: `group_members_unique` (group, user) and
    # `group_members_user_idx` (user, group) lead with these columns already.
    group = models.ForeignKey(ChatGroup, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    role = models.CharField(max_length=8, choices=GroupRole.choices, default=GroupRole.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)
    # The last stream position committed for this group when the user joined: the member sees
    # messages with a greater position only ("history from joining"). Exact because sends and
    # membership changes of one group serialise on the group row's lock (see services).
    joined_position = models.BigIntegerField(default=0)

    class Meta:
        db_table = "group_members"
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="group_members_unique"),
            # Exactly one owner: at most one here, at least one kept by the services.
            models.UniqueConstraint(
                fields=["group"], condition=Q(role="owner"), name="group_members_one_owner"
            ),
        ]
        indexes = [models.Index(fields=["user", "group"], name="group_members_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.group_id} ({self.role})"


class GroupMessage(models.Model):
    """Ciphertext for the whole group; each member's wrapped session key is a GroupMessageKey."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    group = models.ForeignKey(ChatGroup, on_delete=models.CASCADE, related_name="messages")
    # Users are deactivated and scrubbed on deletion, not removed; SET_NULL covers a hard delete.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    encrypted_content = models.BinaryField()
    crypto_version = models.CharField(max_length=32)
    encryption_algorithm = models.CharField(max_length=64)
    client_message_id = models.UUIDField(null=True, blank=True)
    # Media ids (no FK: media is its own bounded context and checks its own grants).
    attachment_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # From core.stream: orders the group's history and feeds /sync.
    stream_position = models.BigIntegerField(unique=True)

    class Meta:
        db_table = "group_messages"
        constraints = [
            models.UniqueConstraint(
                fields=["group", "sender", "client_message_id"],
                condition=Q(client_message_id__isnull=False),
                name="group_messages_client_id_unique",
            )
        ]
        indexes = [models.Index(fields=["group", "-stream_position"], name="group_messages_history_idx")]

    def __str__(self) -> str:
        return f"group message {self.id}"


class GroupMessageKey(models.Model):
    """One member's wrapped session key for one message: a member is only ever given their own."""

    # No single-column FK indexes: `group_message_keys_unique` (message, user) and
    # `group_message_keys_sync_idx` (user, stream_position) lead with these columns, and a send
    # to a 1,000-member group writes 1,000 rows into every index of this table.
    message = models.ForeignKey(GroupMessage, on_delete=models.CASCADE, related_name="keys", db_index=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    encrypted_session_key = models.BinaryField()
    # The message's stream position, copied so that /sync is one index range scan per user.
    stream_position = models.BigIntegerField()

    class Meta:
        db_table = "group_message_keys"
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="group_message_keys_unique")]
        indexes = [models.Index(fields=["user", "stream_position"], name="group_message_keys_sync_idx")]

    def __str__(self) -> str:
        return f"key of {self.user_id} for {self.message_id}"
