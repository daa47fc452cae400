"""Thin views of the groups app: parse, call one service or selector, render.

Who may see: members only (outsiders and unknown ids get 404 `group_not_found`).
Who may change: see the permission table in groups/services.py (403 `group_permission_denied`).
"""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthenticatedRequest
from core.pagination import CursorPagination
from groups import selectors, services
from groups.events import group_message_data
from groups.send_body import validated_group_send_body
from groups.serializers import (
    GroupCreateSerializer,
    GroupListItemSerializer,
    GroupMessageSendSerializer,
    GroupMessageSerializer,
    GroupSerializer,
    GroupUpdateSerializer,
    MemberAddSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    OwnershipTransferSerializer,
)
from media.selectors import attachments_for

TAG = ["groups"]
ERRORS = {
    400: OpenApiResponse(description="Invalid input (`errors` names the fields)."),
    404: OpenApiResponse(description="No such group, or the caller is not a member (`group_not_found`)."),
}
FORBIDDEN = {
    403: OpenApiResponse(description="The caller's role does not allow this (`group_permission_denied`).")
}


def paginated(name: str, item: serializers.Serializer) -> serializers.Serializer:
    """The schema of a cursor page: `{"results": [...], "next", "previous"}`."""
    return inline_serializer(
        name=name,
        fields={
            "results": item,
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
        },
    )


class GroupCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")


class GroupMessageCursorPagination(CursorPagination):
    # Stream positions are unique and follow commit order: a stable newest-first cursor.
    ordering = ("-stream_position",)


def _group_response(group_id: UUID, user_id: UUID, status_code: int = status.HTTP_200_OK) -> Response:
    membership = selectors.get_membership(group_id=group_id, user_id=user_id)
    group = membership.group
    # The caller's view of the group, which GroupSerializer reads: not columns of the model.
    group.my_role = membership.role  # type: ignore[attr-defined]
    group.member_list = selectors.group_members(group_id=group_id)  # type: ignore[attr-defined]
    return Response(GroupSerializer(group).data, status=status_code)


class GroupListCreateView(APIView):
    @extend_schema(
        tags=TAG,
        summary="The caller's groups",
        operation_id="groups_list",
        responses=paginated("PaginatedGroupList", GroupListItemSerializer(many=True)),
        parameters=[OpenApiParameter("limit", int, description="Page size (default 50, max 200).")],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        paginator = GroupCursorPagination()
        page = paginator.paginate_queryset(
            selectors.groups_for_user(user_id=request.user.pk), request, view=self
        )
        return paginator.get_paginated_response(GroupListItemSerializer(page, many=True).data)

    @extend_schema(
        tags=TAG,
        summary="Create a group (the caller becomes its owner)",
        description="Every `member_ids` entry must be an active user who has not blocked the caller; "
        "otherwise `400` naming them (`unknown_users`, `blocked`, `too_many_members`) and nothing is created.",
        request=GroupCreateSerializer,
        responses={201: GroupSerializer, 400: ERRORS[400]},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        data = GroupCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = services.group_create(creator_id=request.user.pk, **data.validated_data)
        return _group_response(group.pk, request.user.pk, status.HTTP_201_CREATED)


class GroupDetailView(APIView):
    @extend_schema(
        tags=TAG,
        summary="A group with its members (members only)",
        responses={200: GroupSerializer, **ERRORS},
    )
    def get(self, request: AuthenticatedRequest, group_id: UUID) -> Response:
        return _group_response(group_id, request.user.pk)

    @extend_schema(
        tags=TAG,
        summary="Edit name and description (owner or admin)",
        request=GroupUpdateSerializer,
        responses={200: GroupSerializer, **ERRORS, **FORBIDDEN},
    )
    def patch(self, request: AuthenticatedRequest, group_id: UUID) -> Response:
        data = GroupUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.group_update(group_id=group_id, actor_id=request.user.pk, **data.validated_data)
        return _group_response(group_id, request.user.pk)

    @extend_schema(
        tags=TAG,
        summary="Delete the group with its messages (owner only)",
        description="The media attached to its messages is no longer readable by anyone it was sent "
        "to, former members included (`GET /media/{id}` is `404` for them), unless another message "
        "still carries it; the uploaders keep their own.",
        responses={204: None, 404: ERRORS[404], **FORBIDDEN},
    )
    def delete(self, request: AuthenticatedRequest, group_id: UUID) -> Response:
        services.group_delete(group_id=group_id, actor_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupMembersView(APIView):
    @extend_schema(
        tags=TAG,
        summary="Add a member (owner or admin; role `admin` only by the owner)",
        description="Unknown user `404` (`user_not_found`); a user who blocked the caller `403` (`blocked`); "
        "already a member `409` (`already_member`); the group at `GROUP_MAX_MEMBERS` `409` (`group_full`). "
        "The new member sees messages from now on only.",
        request=MemberAddSerializer,
        responses={
            201: MemberSerializer,
            **ERRORS,
            **FORBIDDEN,
            409: OpenApiResponse(description="Conflict."),
        },
    )
    def post(self, request: AuthenticatedRequest, group_id: UUID) -> Response:
        data = MemberAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.group_member_add(
            group_id=group_id, actor_id=request.user.pk, **data.validated_data
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class GroupMemberView(APIView):
    @extend_schema(
        tags=TAG,
        summary="Change a member's role (owner only)",
        description="`admin` or `member`; the owner's own role changes only by transferring ownership (`400`).",
        request=MemberRoleSerializer,
        responses={200: MemberSerializer, **ERRORS, **FORBIDDEN},
    )
    def patch(self, request: AuthenticatedRequest, group_id: UUID, user_id: UUID) -> Response:
        data = MemberRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.group_member_set_role(
            group_id=group_id, actor_id=request.user.pk, user_id=user_id, role=data.validated_data["role"]
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        tags=TAG,
        summary="Remove a member, or leave (your own id)",
        description="Leaving: any member but the owner (`409` `owner_must_transfer`). Removing: the owner "
        "anyone, an admin plain members only. Access ends at once: the next read is a `404`. The media "
        "of messages the user was sent stays readable by them while those messages exist (as what "
        "their devices already hold does).",
        responses={
            204: None,
            404: ERRORS[404],
            **FORBIDDEN,
            409: OpenApiResponse(description="Owner must transfer first."),
        },
    )
    def delete(self, request: AuthenticatedRequest, group_id: UUID, user_id: UUID) -> Response:
        services.group_member_remove(group_id=group_id, actor_id=request.user.pk, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupOwnershipTransferView(APIView):
    @extend_schema(
        tags=TAG,
        summary="Transfer ownership to another member (owner only); the caller becomes admin",
        request=OwnershipTransferSerializer,
        responses={200: GroupSerializer, **ERRORS, **FORBIDDEN},
    )
    def post(self, request: AuthenticatedRequest, group_id: UUID) -> Response:
        data = OwnershipTransferSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.group_transfer_ownership(
            group_id=group_id, actor_id=request.user.pk, user_id=data.validated_data["user_id"]
        )
        return _group_response(group_id, request.user.pk)


class GroupMessagesView(APIView):
    @extend_schema(
        tags=TAG,
        summary="The group's messages since the caller joined, newest first (members only)",
        operation_id="groups_messages_list",
        parameters=[OpenApiParameter("limit", int, description="Page size (default 50, max 200).")],
        responses={
            200: paginated("PaginatedGroupMessageList", GroupMessageSerializer(many=True)),
            404: ERRORS[404],
        },
    )
    def get(self, request: AuthenticatedRequest, group_id: UUID) -> Response:
        membership = selectors.get_membership(group_id=group_id, user_id=request.user.pk)
        paginator = GroupMessageCursorPagination()
        page = paginator.paginate_queryset(
            selectors.messages_for_member(membership=membership), request, view=self
        )
        attachments_by_id = attachments_for(page)
        # Plain dicts (GroupMessageSerializer is the schema, and renders through the same function).
        return paginator.get_paginated_response(
            [
                group_message_data(
                    message, encrypted_session_key=message.my_key, attachments_by_id=attachments_by_id
                )
                for message in page
            ]
        )

    @extend_schema(
        tags=TAG,
        summary="Send an encrypted message to the group (members only)",
        description="`encrypted_session_keys` must hold exactly one key per current member, the sender "
        "included: a key for a non-member or a member without one is a `400` (`invalid_recipients`) naming "
        "them. A repeated `client_message_id` answers `200` with the first message. Attachments must be "
        "the sender's uploads (`400`); they are granted to the current members.",
        request=GroupMessageSendSerializer,
        responses={
            201: GroupMessageSerializer,
            200: OpenApiResponse(
                GroupMessageSerializer, description="Repeat of an earlier client_message_id."
            ),
            **ERRORS,
            413: OpenApiResponse(description="Ciphertext or a key over the limit."),
        },
    )
    def post(self, request: AuthenticatedRequest, group_id: UUID) -> Response:
        # The serializer's checks without its per-key cost when the body is valid (send_body.py).
        values = validated_group_send_body(request.data)
        sent = services.group_message_send(group_id=group_id, sender_id=request.user.pk, **values)
        body = group_message_data(
            sent.message, encrypted_session_key=sent.sender_key, attachments_by_id=sent.attachments_by_id
        )
        return Response(body, status=status.HTTP_201_CREATED if sent.created else status.HTTP_200_OK)
