"""Contacts and invitations endpoints (docs/API.md, "Contacts and invitations"). Thin views.

Who may see / change what:
- GET /contacts: the caller's own rows only (either side).
- POST /contacts: any active account (verified or not: the addressee decides), capped per user
  (THROTTLE_CONTACT_REQUESTS, 429 + Retry-After).
- PATCH /contacts/{id}: a side of the row; `accepted` only by the addressee of a pending
  request (403 otherwise), `blocked` by either side; the blocked side may change nothing (403).
  A row the caller is not part of: 404.
- DELETE /contacts/{id}: either side, except the blocked side of a block (403); others 404.
- POST /invitations/send: a verified account (else 403 `email_not_verified`), capped per day
  (429); it answers alike whether or not the address has an account.
- GET /invitations/verify/{token}: anyone holding the token (no auth); it reveals only the
  inviter's public profile and the invited address, which the email already carries.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.selectors import contact_for_participant, contacts_for_user
from contacts.serializers import (
    ContactCreateSerializer,
    ContactListQuerySerializer,
    ContactPageSerializer,
    ContactSerializer,
    ContactUpdateSerializer,
    InvitationSendSerializer,
    InvitationSerializer,
    InvitationVerifySerializer,
)
from contacts.services import (
    contact_delete,
    contact_request,
    contact_set_status,
    invitation_check,
    invitation_send,
)
from core.pagination import CursorPagination
from core.throttling import UserRateThrottle

ERROR = OpenApiResponse(description="Error envelope: {detail, code}.")


class ContactRequestThrottle(UserRateThrottle):
    """Contact requests per user (THROTTLE_RATES["contact_request"]): each one lands in a
    stranger's list with the requester's profile, so unthrottled they are a spam channel."""

    scope = "contact_request"


class ContactListView(APIView):
    def get_throttles(self) -> list:
        # Only POST (a request to someone else) is throttled; listing one's own contacts is not.
        return [ContactRequestThrottle()] if self.request.method == "POST" else []

    @extend_schema(
        operation_id="contacts_list",
        parameters=[
            OpenApiParameter("status", str, enum=["pending", "accepted", "blocked"], required=False),
            OpenApiParameter("limit", int, required=False, description="Page size (default 50, max 200)."),
        ],
        responses={200: ContactPageSerializer, 400: ERROR, 401: ERROR},
        description="The caller's contacts, newest first: pending requests both ways, accepted "
        "contacts and blocks. `direction` says who asked; `blocked_by_me` who holds a block.",
    )
    def get(self, request: Request) -> Response:
        query = ContactListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        queryset = contacts_for_user(user_id=request.user.pk, status=query.validated_data.get("status"))
        paginator = CursorPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        data = ContactSerializer(page, many=True, context={"viewer_id": request.user.pk}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="contacts_create",
        request=ContactCreateSerializer,
        responses={
            201: OpenApiResponse(ContactSerializer, description="A new pending request."),
            200: OpenApiResponse(
                ContactSerializer,
                description="The pair already existed: the other side had asked (now both "
                "accepted), or the caller had already asked, or they are already contacts.",
            ),
            400: ERROR,
            401: ERROR,
            403: OpenApiResponse(description="The user blocked the caller (`blocked`)."),
            404: OpenApiResponse(description="No such active user."),
            409: OpenApiResponse(description="The caller blocked this user (`blocked_by_you`)."),
            429: OpenApiResponse(
                description="Too many contact requests (THROTTLE_CONTACT_REQUESTS); see Retry-After."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        body = ContactCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = contact_request(requester_id=request.user.pk, addressee_id=body.validated_data["user_id"])
        data = ContactSerializer(result.contact, context={"viewer_id": request.user.pk}).data
        return Response(data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class ContactDetailView(APIView):
    @extend_schema(
        operation_id="contacts_retrieve", responses={200: ContactSerializer, 401: ERROR, 404: ERROR}
    )
    def get(self, request: Request, contact_id: str) -> Response:
        contact = contact_for_participant(contact_id=contact_id, user_id=request.user.pk)
        return Response(ContactSerializer(contact, context={"viewer_id": request.user.pk}).data)

    @extend_schema(
        operation_id="contacts_update",
        request=ContactUpdateSerializer,
        responses={200: ContactSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
        description="`accepted`: the addressee of a pending request accepts it. `blocked`: either "
        "side blocks the other (a block cuts messaging, requests, invitations and presence both "
        "ways; only its holder lifts it, by DELETE).",
    )
    def patch(self, request: Request, contact_id: str) -> Response:
        body = ContactUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = contact_set_status(
            contact_id=contact_id, actor_id=request.user.pk, status=body.validated_data["status"]
        )
        return Response(ContactSerializer(contact, context={"viewer_id": request.user.pk}).data)

    @extend_schema(
        operation_id="contacts_destroy",
        responses={204: None, 401: ERROR, 403: ERROR, 404: ERROR},
        description="Removes the contact (and, for its holder, lifts a block).",
    )
    def delete(self, request: Request, contact_id: str) -> Response:
        contact_delete(contact_id=contact_id, actor_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationSendThrottle(UserRateThrottle):
    """The per-user daily cap on invitation emails (THROTTLE_RATES["invitation_send"])."""

    scope = "invitation_send"


class InvitationSendView(APIView):
    throttle_classes = [InvitationSendThrottle]

    @extend_schema(
        operation_id="invitations_send",
        request=InvitationSendSerializer,
        responses={
            201: InvitationSerializer,
            400: ERROR,
            401: ERROR,
            403: OpenApiResponse(
                description="The caller's address is not verified yet (`email_not_verified`)."
            ),
            429: OpenApiResponse(description="Daily invitation cap reached; see Retry-After."),
        },
        description="Emails an invitation (through the task queue). Sending again to the same "
        "address refreshes the pending invitation: a new token, a new expiry, the same id. The "
        "answer is the same whether or not the address has an account (only the email differs: "
        "a verified account's owner is told who wants to chat, with no token; a block between "
        "the two sends nothing).",
    )
    def post(self, request: Request) -> Response:
        body = InvitationSendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = invitation_send(inviter_id=request.user.pk, email=body.validated_data["email"])
        return Response(InvitationSerializer(result.invitation).data, status=status.HTTP_201_CREATED)


class InvitationVerifyView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []  # a stale Authorization header must not turn this into a 401

    @extend_schema(
        operation_id="invitations_verify",
        auth=[],
        responses={
            200: InvitationVerifySerializer,
            404: OpenApiResponse(description="Unknown token."),
            410: OpenApiResponse(description="Used (`invitation_used`) or expired (`invitation_expired`)."),
        },
    )
    def get(self, request: Request, token: str) -> Response:
        invitation = invitation_check(token=token)
        data = InvitationVerifySerializer(
            {
                "valid": True,
                "inviter": invitation.inviter,
                "invitee_email": invitation.invitee_email,
                "expires_at": invitation.expires_at,
            }
        ).data
        return Response(data)
