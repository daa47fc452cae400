"""The API's JSON parser: DRF's, made safe against bodies built to crash it.

DRF's JSONParser turns a ValueError into a 400 and lets everything else escape as a 500:
`"[" * 60000 + "]" * 60000` raises RecursionError inside the decoder. One more rule, answered
`400 parse_error` like any other body that is not JSON: nesting deeper than MAX_JSON_DEPTH. No
request of this API nests past 4 levels, and a deep but parseable document (a few hundred
levels, under the decoder's recursion limit) would reach recursive code later (validation,
error rendering, copying).

Lone surrogates and NUL characters in strings parse, and are refused by the fields (DRF's
CharField validators, the UUID and base64 fields), each with its own error.

The check walks the parsed document iteratively (no recursion), once, after parsing.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32


def json_depth_exceeded(data: Any, *, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether `data` (a parsed JSON document) nests arrays/objects deeper than `max_depth`."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            if depth > max_depth:
                return True
            stack.extend((item, depth + 1) for item in value)
    return False


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.") from None
        if json_depth_exceeded(data):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        return data
