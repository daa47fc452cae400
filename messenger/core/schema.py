"""drf-spectacular hooks."""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import force_instance
from rest_framework import serializers


def drop_trailing_slash_twins(endpoints: list[tuple[str, str, str, Any]], **kwargs: Any) -> list:
    """Every route exists with and without its slash; document only the slashless one."""
    paths = {path for path, *_ in endpoints}
    return [
        endpoint
        for endpoint in endpoints
        if not (endpoint[0].endswith("/") and endpoint[0].rstrip("/") in paths)
    ]


class ErrorEnvelopeSerializer(serializers.Serializer):
    """The body of every 4xx/5xx answer (docs/API.md, "Errors"); schema only."""

    detail = serializers.CharField(help_text="A human sentence.")
    code = serializers.CharField(help_text="A stable machine code, e.g. `not_found`, `throttled`.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="On a 400 for invalid fields: `{field: [message, ...]}`.",
    )

    class Meta:
        ref_name = "ErrorEnvelope"


_GENERIC_ERRORS = {
    "400": "Invalid input: the error envelope, with `errors` naming each field.",
    "401": "Missing, malformed, expired or revoked token.",
    "404": "Unknown, or not visible to the caller.",
    "413": "A field is over its size limit once decoded (`payload_too_large`).",
    "429": "Too many requests (`throttled`); see Retry-After.",
    "503": "`service_unavailable`: Redis (token denylist, rate counters) cannot serve right now; retry.",
}
_RETRY_AFTER_HEADER = {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before trying again."}
}


def _has_size_capped_field(serializer: Any) -> bool:
    """Whether a request serializer holds a Base64BytesField with a cap (a 413 past it)."""
    from messenger.core.fields import Base64BytesField

    if isinstance(serializer, dict):  # {media type: serializer}
        return any(_has_size_capped_field(each) for each in serializer.values())
    serializer = force_instance(getattr(serializer, "child", serializer))
    if not isinstance(serializer, serializers.BaseSerializer):
        return False
    for field in getattr(serializer, "fields", {}).values():
        field = getattr(field, "child", field)
        if isinstance(field, Base64BytesField) and field.max_bytes is not None:
            return True
        if isinstance(field, serializers.BaseSerializer) and _has_size_capped_field(field):
            return True
    return False


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus the answers every operation can give whatever its own
    annotations say, so that a client (and a schema-driven fuzzer) finds each status it can get:

    - 401 on every view that authenticates (a bad or revoked Bearer token is refused even on an
      AllowAny view), 404 wherever the path names an object, 400 wherever there is input to
      validate (a body, or query parameters), 413 where a body field has a size cap, 429 with
      Retry-After where the view is throttled, 503 where Redis must answer (the token denylist,
      rate counters);
    - the error envelope as the body of each 4xx/5xx that documents none.
    """

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        parameters = operation.get("parameters", [])
        wanted = []
        if operation.get("requestBody") or any(p.get("in") == "query" for p in parameters):
            wanted.append("400")
        if self.view.get_authenticators():
            wanted.append("401")
        if any(p.get("in") == "path" for p in parameters):
            wanted.append("404")
        if operation.get("requestBody") and _has_size_capped_field(self.get_request_serializer()):
            wanted.append("413")
        if self.view.get_throttles():
            wanted.append("429")
        if self.view.get_authenticators() or self.view.get_throttles():
            wanted.append("503")  # the denylist fails closed, a throttle cannot count
        for code in wanted:
            responses.setdefault(code, {"description": _GENERIC_ERRORS[code]})
        if "429" in responses:
            responses["429"].setdefault("headers", {}).update(_RETRY_AFTER_HEADER)
        envelope = self.resolve_serializer(ErrorEnvelopeSerializer, "response").ref
        for code, response in responses.items():
            if code[0] in "45" and "content" not in response:
                response["content"] = {"application/json": {"schema": envelope}}
        operation["responses"] = dict(sorted(responses.items()))
        return operation


class Base64BytesFieldExtension(OpenApiSerializerFieldExtension):
    """Base64BytesField as OpenAPI's base64 string: `format: byte`, and in requests the rule a
    schema can state (`minLength: 1` where an empty value is refused)."""

    target_class = "messenger.core.fields.Base64BytesField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "format": "byte"}
        if direction == "request" and not self.target.allow_empty:
            schema["minLength"] = 1
        return schema
