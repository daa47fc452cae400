"""Thin views of messaging (docs/API.md, Messages): parse, call one service or selector, render."""

from __future__ import annotations

from functools import partial
from uuid import UUID

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthenticatedRequest
from accounts.serializers import MAY_SEE_ACTIVITY
from core.fields import StrictCharField, StrictIntegerField
from core.pagination import CursorPagination
from core.throttling import UserRateThrottle
from media.selectors import attachments_for
from messaging import services
from messaging.events import message_payload, message_row_payloads, sync_items
from messaging.models import Message
from messaging.selectors import (
    SYNC_TOKEN_PATTERN,
    conversation_page,
    conversations_for,
    fresh_sync_token,
    parse_sync_token,
    sync_page,
    sync_token,
    unread_counts,
)
from messaging.send_body import validated_send_body
from messaging.serializers import (
    ConversationReadResultSerializer,
    ConversationReadSerializer,
    ConversationSerializer,
    MessageSendSerializer,
    MessageSerializer,
    SyncResponseSerializer,
)

SYNC_DEFAULT_LIMIT = 100
SYNC_MAX_LIMIT = 500


class MessageSendThrottle(UserRateThrottle):
    scope = services.MESSAGE_SEND_THROTTLE_SCOPE


class MessageCursorPagination(CursorPagination):
    # The stream position is unique and only grows: pages stay stable while messages arrive.
    ordering = ("-stream_position",)


class ConversationCursorPagination(CursorPagination):
    ordering = ("-last_position",)


class MessageSendView(APIView):
    throttle_classes = [MessageSendThrottle]

    @extend_schema(
        operation_id="messages_send",
        request=MessageSendSerializer,
        responses={
            201: MessageSerializer,
            200: OpenApiResponse(
                MessageSerializer, description="A retry: the first message with this client_message_id."
            ),
            403: OpenApiResponse(description="`blocked`: the recipient blocked the caller."),
            404: OpenApiResponse(description="`recipient_not_found`: no such active user."),
        },
        description="Store an encrypted message for a recipient. Unknown recipient 404, blocked 403, "
        "attachments not the sender's 400, ciphertext over MESSAGE_MAX_CIPHERTEXT_BYTES 413.",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        body = validated_send_body(request.data)
        sent = services.message_send(sender_id=request.user.pk, **body)
        return Response(
            message_payload(sent.message, viewer_id=request.user.pk),
            status=status.HTTP_201_CREATED if sent.created else status.HTTP_200_OK,
        )


class ConversationView(APIView):
    pagination_class = MessageCursorPagination

    @extend_schema(
        operation_id="messages_conversation",
        parameters=[
            OpenApiParameter("cursor", str, description="From `next`/`previous`."),
            OpenApiParameter("limit", int, description="Page size, default 50, at most 200."),
        ],
        responses={200: MessageSerializer(many=True)},
        description="Messages between the caller and `user_id`, newest first, cursor-paginated. "
        "Messages the caller deleted for themself are left out; an unknown user is an empty list.",
    )
    def get(self, request: AuthenticatedRequest, user_id: UUID) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_rows(
            partial(conversation_page, user_id=request.user.pk, peer_id=user_id), Message, request, view=self
        )
        return paginator.get_paginated_response(message_row_payloads(page, viewer_id=request.user.pk))


class ConversationReadView(APIView):
    @extend_schema(
        operation_id="messages_conversation_read",
        request=ConversationReadSerializer,
        responses={200: ConversationReadResultSerializer},
        description="Mark read every message `user_id` sent the caller (up to `up_to_id` if given).",
    )
    def put(self, request: AuthenticatedRequest, user_id: UUID) -> Response:
        body = ConversationReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        messages = services.conversation_mark_read(
            user_id=request.user.pk, peer_id=user_id, up_to_message_id=body.validated_data["up_to_id"]
        )
        return Response({"read_count": len(messages), "read_ids": [str(message.id) for message in messages]})


class ConversationsView(APIView):
    pagination_class = ConversationCursorPagination

    @extend_schema(
        operation_id="messages_conversations",
        parameters=[
            OpenApiParameter("cursor", str, description="From `next`/`previous`."),
            OpenApiParameter("limit", int, description="Page size, default 50, at most 200."),
        ],
        responses={200: ConversationSerializer(many=True)},
        description="The caller's conversations, most recent first: the other user, the last message "
        "the caller can see, and how many messages from them are unread.",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(conversations_for(user_id=request.user.pk), request, view=self)
        context = {
            "viewer_id": request.user.pk,
            MAY_SEE_ACTIVITY: {c.peer_id for c in page if c.may_see_activity},
            "unread": unread_counts(user_id=request.user.pk, peer_ids=[c.peer_id for c in page]),
            "attachments": attachments_for(c.last_message for c in page),
        }
        return paginator.get_paginated_response(ConversationSerializer(page, many=True, context=context).data)


class MessageReadView(APIView):
    @extend_schema(
        operation_id="messages_read",
        request=None,
        responses={
            200: MessageSerializer,
            403: OpenApiResponse(description="`not_recipient`: the sender cannot mark it read."),
        },
        description="The recipient marks the message read (idempotent). The sender: 403; anyone else: 404.",
    )
    def put(self, request: AuthenticatedRequest, message_id: UUID) -> Response:
        message = services.message_mark_read(user_id=request.user.pk, message_id=message_id)
        return Response(message_payload(message, viewer_id=request.user.pk))


class MessageDeleteView(APIView):
    @extend_schema(
        operation_id="messages_delete",
        parameters=[
            OpenApiParameter(
                "scope",
                str,
                enum=["me", "everyone"],
                description="`me` (default): hide it for the caller. `everyone`: the sender wipes it; a "
                "tombstone stays, and its attachments are no longer readable by the recipient (`GET "
                "/media/{id}` and its download and thumbnail are 404 for them, unless another message "
                "still carries the same media; a `download_url` already handed out lasts until it expires).",
            )
        ],
        request=None,
        responses={
            204: None,
            403: OpenApiResponse(
                description="`not_sender`: `scope=everyone` on a message the caller did not send."
            ),
        },
    )
    def delete(self, request: AuthenticatedRequest, message_id: UUID) -> Response:
        services.message_delete(
            user_id=request.user.pk, message_id=message_id, scope=request.query_params.get("scope", "me")
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_field({"type": "string", "pattern": SYNC_TOKEN_PATTERN})
class SyncTokenField(StrictCharField):
    """`since`: parse_sync_token checks it (400 `invalid_sync_token`); the schema states its form."""


class SyncQuerySerializer(serializers.Serializer):
    since = SyncTokenField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="The `next_since` of the previous call; omit it (or send it empty) for a fresh token.",
    )
    limit = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=SYNC_MAX_LIMIT,
        default=SYNC_DEFAULT_LIMIT,
        help_text=f"At most this many items (default {SYNC_DEFAULT_LIMIT}, max {SYNC_MAX_LIMIT}).",
    )


class SyncView(APIView):
    @extend_schema(
        operation_id="sync",
        # The query serializer itself, so the schema states the bounds the view enforces (400).
        parameters=[SyncQuerySerializer],
        responses={200: SyncResponseSerializer},
        description="Everything the caller's devices missed since `since`: new 1:1 and group messages, "
        "read receipts and deletions, each exactly once, oldest first. Without `since`: no items and "
        "a fresh token. The source of truth after a reconnect.",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        query = SyncQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        token = query.validated_data.get("since") or None
        if token is None:
            return Response({"items": [], "next_since": fresh_sync_token(), "has_more": False})
        since = parse_sync_token(token)
        page = sync_page(user_id=request.user.pk, since=since, limit=query.validated_data["limit"])
        return Response(
            {
                "items": sync_items(page.entries, viewer_id=request.user.pk),
                "next_since": sync_token(page.next_since),
                "has_more": page.has_more,
            }
        )
