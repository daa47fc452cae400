"""Views that exist only in tests, to drive core's error handling end to end."""

from django.db import connection, transaction
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.fields import Base64BytesField
from core.throttling import IPRateThrottle


class EchoInput(serializers.Serializer):
    blob = Base64BytesField(max_bytes=16)
    name = serializers.CharField(max_length=10)


class EchoView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def post(self, request):
        data = EchoInput(data=request.data)
        data.is_valid(raise_exception=True)
        blob = data.validated_data["blob"]
        return Response({"length": len(blob), "blob": EchoInput().fields["blob"].to_representation(blob)})


class BoomView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        raise RuntimeError("secret internals that must not leak")


class EchoThrottle(IPRateThrottle):
    scope = "test_echo"


class ThrottledView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [EchoThrottle]

    def get(self, request):
        return Response({"ok": True})


class SlowQueryView(APIView):
    """A query PostgreSQL cancels at its statement timeout: a real OperationalError."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = '10ms'")
            cursor.execute("SELECT pg_sleep(1)")
        return Response({"ok": True})
