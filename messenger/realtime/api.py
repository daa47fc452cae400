"""REST of the realtime layer: `POST /api/v1/auth/ws-ticket` (a single-use ticket to open
`/ws/?ticket=` with) and `GET /api/v1/presence` (a fresh fetch of contacts' presence)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.settings import api_settings

from accounts.tokens import SESSION_CLAIM
from messenger.core.responses import no_store
from messenger.core.throttling import UserRateThrottle
from messenger.realtime.presence import presence_data, presence_for_viewer
from messenger.realtime.serializers import (
    PRESENCE_MAX_USER_IDS,
    USER_IDS_PATTERN,
    PresenceListSerializer,
    PresenceQuerySerializer,
)
from messenger.realtime.tickets import ticket_issue


class WsTicketThrottle(UserRateThrottle):
    scope = "ws_ticket"


class WsTicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Use once, within 30 seconds: `/ws/?ticket=<ticket>`.")
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid.")


class WsTicketView(APIView):
    throttle_classes = [WsTicketThrottle]

    @extend_schema(
        operation_id="auth_ws_ticket",
        request=None,
        responses={200: WsTicketSerializer},
        description="A single-use ticket for the WebSocket handshake, so that no JWT travels in a "
        "URL. It belongs to the caller's session: a logout of that session refuses it.",
    )
    def post(self, request: Request) -> Response:
        payload = request.auth.payload
        ticket = ticket_issue(
            user_id=request.user.pk,
            session_id=payload.get(SESSION_CLAIM),
            jti=payload.get(api_settings.JTI_CLAIM),
        )
        body = {"ticket": ticket, "expires_in": settings.REALTIME_TICKET_TTL_SECONDS}
        # A credential: no cache may keep it (as the token responses of accounts.api).
        return no_store(Response(WsTicketSerializer(body).data, status=status.HTTP_200_OK))


class PresenceThrottle(UserRateThrottle):
    # A client fetches presence after `hello` and when a contact is accepted, not in a loop.
    scope = "presence"


class PresenceView(APIView):
    """Who may see what: the caller sees the presence of their accepted contacts only; any other
    id (a pending or blocked pair, a stranger, an unknown or inactive user) is left out."""

    throttle_classes = [PresenceThrottle]

    @extend_schema(
        operation_id="presence_list",
        parameters=[
            OpenApiParameter(
                "user_ids",
                {"type": "string", "pattern": USER_IDS_PATTERN},
                required=True,
                description=f"Comma-separated user ids (UUIDs), at most {PRESENCE_MAX_USER_IDS}.",
            )
        ],
        responses={
            200: PresenceListSerializer,
            400: OpenApiResponse(
                description="`required` (no ids), `invalid_uuid` (one is not a UUID), `too_many_ids`."
            ),
        },
        description="The presence of those of `user_ids` who are the caller's accepted contacts, in "
        "the order asked; the others are silently left out. `last_seen` is null while the user is "
        "online. Fetch this after (re)connecting, then follow the socket's `presence` events: "
        "they carry the same fields.",
    )
    def get(self, request: Request) -> Response:
        query = PresenceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        statuses = presence_for_viewer(viewer_id=request.user.pk, user_ids=query.validated_data["user_ids"])
        return Response({"results": [presence_data(status) for status in statuses]})
