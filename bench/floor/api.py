"""The two floor endpoints: DRF's defaults as every API view gets them (the project's JWT
authentication, IsAuthenticated, the JSON renderer, the cursor pagination), and nothing else: no
throttle, no service, no event. A workload's ratio to its floor is what the app adds on top."""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.floor.models import FloorRow
from core.pagination import CursorPagination


class FloorRowSerializer(serializers.ModelSerializer):
    class Meta:
        model = FloorRow
        fields = ["id", "owner_id", "body", "created_at"]


class FloorPagination(CursorPagination):
    ordering = ("-id",)


class FloorRowsView(APIView):
    """POST: insert one row (the floor of a send). GET ?limit=50: a page of the caller's rows
    (the floor of a history page)."""

    pagination_class = FloorPagination

    def post(self, request: Request) -> Response:
        body = request.data.get("body")
        if not isinstance(body, str) or not body:
            raise serializers.ValidationError({"body": ["A non-empty string."]})
        row = FloorRow.objects.create(owner_id=request.user.pk, body=body)
        return Response({"id": row.pk}, status=status.HTTP_201_CREATED)

    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            FloorRow.objects.filter(owner_id=request.user.pk), request, view=self
        )
        return paginator.get_paginated_response(FloorRowSerializer(page, many=True).data)
