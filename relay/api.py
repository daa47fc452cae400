"""Relay endpoints (docs/API.md, "Relay"). Thin views over relay.services and relay.selectors.

Who may see / change what:
- POST /relay/queue: any authenticated user, to any active user (themself included) with no
  block between them (403); the recipient's queue is capped and each sender's share of it too
  (429), the sender's pace throttled (429).
- GET /relay/pending/{userId}: the recipient only (403 for any other id).
- DELETE /relay/{messageId}: the recipient only; to anyone else the envelope does not exist (404).
"""

from __future__ import annotations

import base64
import binascii
from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from core.pagination import page_size
from core.throttling import UserRateThrottle
from relay import selectors, services
from relay.serializers import (
    RelayEnvelopeSerializer,
    RelayPendingPageSerializer,
    RelayQueuedSerializer,
    RelayQueueSerializer,
)
from relay.store import PendingCursor, RelayEnvelope, from_microseconds, to_microseconds

PENDING_DEFAULT_LIMIT = 50
PENDING_MAX_LIMIT = 200

ERROR = OpenApiResponse(description="Error envelope: {detail, code}.")
UNAVAILABLE = OpenApiResponse(
    description="`relay_unavailable`: the relay store (Redis) cannot be reached; nothing was written."
)
QUEUE_DESCRIPTION = (
    "Queue an envelope (ciphertext) for a user; it waits until the recipient acknowledges it "
    "(DELETE /relay/{message_id}) or it expires. The recipient's connected devices get it at once "
    "as a `relay.envelope` event. Any active user may be the recipient, the sender included "
    "(sync between one's own devices).\n\n"
    "**Overflow policy: the newest is refused, nothing queued is dropped.** A recipient holding "
    "RELAY_MAX_PENDING_PER_RECIPIENT (10,000) unexpired envelopes makes further envelopes fail with "
    "`429 relay_queue_full`; `Retry-After` is the seconds until the oldest of them expires (at most "
    "RELAY_QUEUE_FULL_RETRY_AFTER_MAX_SECONDS, 1 hour, since acknowledgements free slots sooner). "
    "Keep the envelope and retry: what is already queued (key exchanges, session setup) is never "
    "evicted to make room.\n\n"
    "**Fair shares:** one sender holds at most RELAY_MAX_PENDING_PER_SENDER (1,000) of a recipient's "
    "envelopes; past it that sender gets `429 relay_queue_full` (the detail names its share) with "
    "`Retry-After` until its own oldest one there expires, while other senders still queue. "
    "Not applied to one's own queue.\n\n"
    "**Blocks:** a sender the recipient blocked, or who blocked the recipient, gets `403 blocked`."
)
_RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds to wait before trying again.",
)


class RelayQueueThrottle(UserRateThrottle):
    """Per sender (THROTTLE_RATES["relay_queue"])."""

    scope = "relay_queue"


class RelayQueueView(APIView):
    throttle_classes = [RelayQueueThrottle]

    @extend_schema(
        operation_id="relay_queue",
        request=RelayQueueSerializer,
        parameters=[_RETRY_AFTER],
        responses={
            201: RelayQueuedSerializer,
            400: OpenApiResponse(description="Invalid input: bad recipient id, base64 or ttl_seconds."),
            403: OpenApiResponse(description="`blocked`: a block stands between sender and recipient."),
            404: OpenApiResponse(description="`recipient_not_found`: no such active user."),
            413: OpenApiResponse(description="`payload_too_large`: over RELAY_MAX_PAYLOAD_BYTES decoded."),
            429: OpenApiResponse(
                description="`relay_queue_full` (the recipient's queue is at its cap, or the sender "
                "holds its share of it) or `throttled` (the sender's rate); see Retry-After."
            ),
            503: UNAVAILABLE,
        },
        description=QUEUE_DESCRIPTION,
    )
    def post(self, request: Request) -> Response:
        body = RelayQueueSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        envelope = services.envelope_queue(sender_id=request.user.pk, **body.validated_data)
        return Response(RelayQueuedSerializer(envelope).data, status=status.HTTP_201_CREATED)


def encode_cursor(envelope: RelayEnvelope) -> str:
    raw = f"{to_microseconds(envelope.created_at)}.{envelope.id.hex}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> PendingCursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created, envelope_id = raw.split(".")
        return PendingCursor(created_at=from_microseconds(int(created)), id=UUID(hex=envelope_id))
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise ValidationError(
            {"cursor": ["Not a cursor this endpoint handed out."]}, code="invalid_cursor"
        ) from None


def _page_size(request: Request) -> int:
    return page_size(request, default=PENDING_DEFAULT_LIMIT, maximum=PENDING_MAX_LIMIT)


class RelayPendingView(APIView):
    @extend_schema(
        operation_id="relay_pending",
        parameters=[
            OpenApiParameter("limit", int, required=False, description="Page size (default 50, max 200)."),
            OpenApiParameter("cursor", str, required=False, description="From a `next` link."),
        ],
        responses={
            200: RelayPendingPageSerializer,
            400: OpenApiResponse(description="`invalid_cursor`."),
            403: OpenApiResponse(description="`not_your_queue`: user_id is not the caller."),
            503: UNAVAILABLE,
        },
        description="The caller's unexpired envelopes, oldest first, with their payload; never an "
        "expired one. Read forward: process a page, acknowledge what you processed, follow `next` "
        "(or read again from the start, since acknowledged envelopes are gone).",
    )
    def get(self, request: Request, user_id: UUID) -> Response:
        limit = _page_size(request)
        token = request.query_params.get("cursor")
        after = decode_cursor(token) if token else None
        envelopes = selectors.envelopes_pending_for_viewer(
            viewer_id=request.user.pk, user_id=user_id, after=after, limit=limit + 1
        )
        page, more = envelopes[:limit], len(envelopes) > limit
        next_url = (
            replace_query_param(request.build_absolute_uri(), "cursor", encode_cursor(page[-1]))
            if more
            else None
        )
        return Response(
            {"results": RelayEnvelopeSerializer(page, many=True).data, "next": next_url, "previous": None}
        )


class RelayAckView(APIView):
    @extend_schema(
        operation_id="relay_ack",
        responses={
            204: None,
            404: OpenApiResponse(
                description="`envelope_not_found`: unknown, expired, already acknowledged, or not "
                "addressed to the caller."
            ),
            503: UNAVAILABLE,
        },
        description="The recipient acknowledges an envelope: it is removed for good.",
    )
    def delete(self, request: Request, message_id: UUID) -> Response:
        services.envelope_ack(recipient_id=request.user.pk, envelope_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
