"""REST of the realtime layer: `POST /api/v1/auth/ws-ticket` (a single-use ticket to open
`/ws/?ticket=` with)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.settings import api_settings

from accounts.tokens import SESSION_CLAIM
from core.responses import no_store
from core.throttling import UserRateThrottle
from realtime.tickets import ticket_issue


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
