"""drf-spectacular hooks."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
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
# A string without a NUL character: what every DRF CharField accepts, as a JSON schema pattern.
NO_NUL_PATTERN = "^[^\\x00]*$"
_RETRY_AFTER_HEADER = {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before trying again."}
}


def _has_size_capped_field(serializer: Any) -> bool:
    """Whether a request serializer holds a Base64BytesField with a cap (a 413 past it)."""
    from core.fields import Base64BytesField

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
        if operation.get("requestBody") and getattr(
            force_instance(self.get_request_serializer()), "request_schema", None
        ):
            operation["requestBody"]["required"] = True  # `{}` is refused, so no body at all is too
        if operation.get("requestBody") and _has_size_capped_field(self.get_request_serializer()):
            wanted.append("413")
        if self.view.get_throttles():
            wanted.append("429")
        if self.view.get_authenticators() or self.view.get_throttles():
            wanted.append("503")  # the denylist fails closed, a throttle cannot count
        for parameter in parameters:
            # Every `?limit=` is a page size: a positive integer (0, -1 or `abc` is a 400), and a
            # larger one than the list allows is cut to its maximum (not an error).
            if parameter.get("in") == "query" and parameter.get("name") == "limit":
                parameter["schema"].setdefault("minimum", 1)
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

    def _map_serializer_field(self, field: Any, direction: str, bypass_extensions: bool = False) -> dict:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction != "request":
            return schema
        if (
            isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and not {"pattern", "format", "enum"} & set(schema)
            and not any(isinstance(v, RegexValidator) for v in field.validators)  # its own pattern
        ):
            # DRF refuses a NUL character in every CharField (`null_characters_not_allowed`). A
            # field that allows "" gets drf-spectacular's `oneOf` [this, maxLength 0]: "" must
            # match only the second branch, hence `+` there.
            schema["pattern"] = NO_NUL_PATTERN.replace("*", "+") if field.allow_blank else NO_NUL_PATTERN
        if isinstance(field, serializers.FileField) and not field.allow_empty_file:
            schema["minLength"] = 1  # an empty file is refused (`empty`)
        return schema

    def _map_serializer(self, serializer: Any, direction: str, bypass_extensions: bool = False) -> dict:
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        # A body whose fields are all optional but which must not be empty (`{}` is a 400): its
        # serializer class states the rule its `validate` applies as `request_schema`, e.g.
        # `{"minProperties": 1}`.
        extra = getattr(force_instance(serializer), "request_schema", None)
        if direction == "request" and extra:
            schema.update(extra)
        return schema


class Base64BytesFieldExtension(OpenApiSerializerFieldExtension):
    """Base64BytesField as OpenAPI's base64 string: `format: byte`, and in requests the rule a
    schema can state (`minLength: 1` where an empty value is refused)."""

    target_class = "core.fields.Base64BytesField"
    match_subclasses = True  # groups' and accounts' (KeyBytesField) subclasses too

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "format": "byte"}
        if direction != "request":
            return schema
        sizes = getattr(self.target, "sizes", ())  # accounts' KeyBytesField: exact decoded sizes
        if sizes:
            schema["pattern"] = "^(?:" + "|".join(_base64_of(size) for size in sorted(set(sizes))) + ")$"
            return schema
        # The canonical encoding the field insists on, and the length past which it answers 413.
        schema["pattern"] = _CANONICAL_BASE64
        if not self.target.allow_empty:
            schema["minLength"] = 1
        limit = self.target._limit()
        if limit is not None:
            schema["maxLength"] = 4 * -(-limit // 3)
        return schema


# Standard base64 exactly as an encoder writes it (Base64BytesField refuses other spellings): whole
# quantums, then an optional last one with its unused bits zero and its padding.
_LAST_OF_ONE = "[A-Za-z0-9+/][AQgw]=="
_LAST_OF_TWO = "[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]="
_CANONICAL_BASE64 = f"^(?:[A-Za-z0-9+/]{{4}})*(?:{_LAST_OF_ONE}|{_LAST_OF_TWO})?$"


def _base64_of(size: int) -> str:
    """A pattern for the canonical base64 of exactly `size` bytes."""
    quantums, rest = divmod(size, 3)
    return f"[A-Za-z0-9+/]{{{4 * quantums}}}" + {0: "", 1: _LAST_OF_ONE, 2: _LAST_OF_TWO}[rest]
