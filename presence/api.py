"""REST of presence: `GET /api/v1/presence` (a fresh fetch of contacts' presence, the same
fields as the socket's `presence` events)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.throttling import UserRateThrottle
from presence.events import presence_payload
from presence.selectors import presence_for_viewer
from presence.serializers import (
    PRESENCE_MAX_USER_IDS,
    USER_IDS_PATTERN,
    PresenceListSerializer,
    PresenceQuerySerializer,
)


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
        return Response({"results": [presence_payload(status) for status in statuses]})
