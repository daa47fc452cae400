"""The privacy proof of issue 18: the plaintexts a browser typed appear nowhere the server keeps
anything.

`assert_plaintexts_absent` looks, at the moment it is called, in:

- a data-only `pg_dump` of the test database (every table, every row);
- every object of the given S3 buckets (their bytes, as boto3 reads them), and their keys;
- every key of the Redis database (its name, and its value whatever its type: strings, lists,
  sets, sorted sets with their members, hashes' fields and values, streams' entries); that is
  the run's prefix (cache, channel layer, relay, presence, the Celery queue) and everything else
  in the DB (the broker's bookkeeping, other runs' leftovers);
- the files given: the server's and the worker's logs, and the emails the worker wrote.

What it searches for, for each plaintext (a str is taken as its UTF-8 bytes):

- the bytes themselves (an object, a log line, a Redis value, a text column);
- their lowercase hex: pg_dump writes a bytea column (encrypted_content, session keys, key
  bundles) as `\\x` + hex, so plaintext stored in a bytea would be invisible to a byte search;
- the JSON-escaped text (`\\u00e9`, `\\n`, `\\"`), both with non-ASCII escaped and not: the JSON
  logs, JSON columns and JSON in Redis write a string that way;
- pg_dump's COPY escaping of the text (`\\n`, `\\t`, `\\\\`).

What it does not search for: any other encoding of a plaintext (base64, URL-encoding, UTF-16,
compressed bodies, a plaintext split across two log lines or two S3 parts). Stored ciphertext is
opaque bytes, so what must not be there is the plaintext itself in whatever form a store writes
text; a client that base64-encoded a plaintext into a bytea field is still caught by the hex
form, since the server decodes base64 fields before storing them. Short plaintexts match by
accident: use ones of 12 bytes or more, unique to the test (a uuid in each).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIN_PLAINTEXT_BYTES = 12


@dataclass(frozen=True)
class Finding:
    place: str  # where, e.g. "pg_dump: table public.messaging_message, line 812"
    plaintext: str  # the plaintext's repr, shortened
    form: str  # which form matched: "bytes", "hex", "json", "copy"

    def __str__(self) -> str:
        return f"{self.plaintext} ({self.form}) in {self.place}"


def searched_forms(plaintext: str | bytes) -> dict[str, bytes]:
    """Each form of `plaintext` searched for, by name (see the module docstring)."""
    raw = plaintext.encode() if isinstance(plaintext, str) else plaintext
    forms = {"bytes": raw, "hex": raw.hex().encode()}
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return forms  # bytes that are not text: no text escapes
    forms["json"] = json.dumps(text)[1:-1].encode()
    forms["json-utf8"] = json.dumps(text, ensure_ascii=False)[1:-1].encode()
    copy_escaped = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    forms["copy"] = copy_escaped.encode()
    # One entry per distinct byte string: a plain ASCII text is its own JSON form.
    distinct: dict[bytes, str] = {}
    for name, form in forms.items():
        distinct.setdefault(form, name)
    return {name: form for form, name in distinct.items()}


class _Needles:
    def __init__(self, plaintexts: Iterable[str | bytes]) -> None:
        self.forms: list[tuple[str, str, bytes]] = []
        for plaintext in plaintexts:
            raw = plaintext.encode() if isinstance(plaintext, str) else plaintext
            if len(raw) < MIN_PLAINTEXT_BYTES:
                raise ValueError(
                    f"{plaintext!r} is shorter than {MIN_PLAINTEXT_BYTES} bytes: it could match by accident"
                )
            label = repr(plaintext) if len(repr(plaintext)) <= 60 else repr(plaintext)[:57] + "..."
            self.forms += [(label, name, form) for name, form in searched_forms(plaintext).items()]

    def search(self, haystack: bytes, place: str) -> Iterator[Finding]:
        for label, name, form in self.forms:
            if form in haystack:
                yield Finding(place=place, plaintext=label, form=name)


def pg_dump(database_url: str) -> bytes:
    """A data-only, plain-text dump of the database (COPY blocks, one row a line)."""
    result = subprocess.run(
        ["pg_dump", "--data-only", "--no-owner", "--no-privileges", f"--dbname={database_url}"],
        capture_output=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"pg_dump failed ({result.returncode}): {result.stderr.decode(errors='replace')}"
        )
    return result.stdout


def _search_dump(dump: bytes, needles: _Needles) -> Iterator[Finding]:
    table = "(before any table)"
    for number, line in enumerate(dump.split(b"\n"), start=1):
        if line.startswith(b"COPY "):
            table = line.split(b" ")[1].decode(errors="replace")
            continue
        yield from needles.search(line, f"pg_dump: table {table}, line {number}")


def _search_s3(s3_client: Any, buckets: Iterable[str], needles: _Needles) -> Iterator[Finding]:
    for bucket in buckets:
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                key = item["Key"]
                yield from needles.search(key.encode(), f"s3://{bucket}: the key {key!r}")
                body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
                yield from needles.search(body, f"s3://{bucket}/{key}")


def redis_value_parts(client: Any, key: bytes) -> list[bytes]:
    """Everything a key holds, as byte strings (members, fields and values, stream entries)."""
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        value = client.get(key)
        return [] if value is None else [value]
    if kind == "list":
        return list(client.lrange(key, 0, -1))
    if kind == "set":
        return list(client.smembers(key))
    if kind == "zset":
        return [member for member, _score in client.zrange(key, 0, -1, withscores=True)]
    if kind == "hash":
        return [part for field, value in client.hgetall(key).items() for part in (field, value)]
    if kind == "stream":
        return [
            part
            for _id, entry in client.xrange(key, "-", "+")
            for field, value in entry.items()
            for part in (field, value)
        ]
    return []  # "none": expired between SCAN and TYPE


def _search_redis(redis_url: str, needles: _Needles) -> Iterator[Finding]:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(count=1000):
            name = key.decode(errors="replace")
            yield from needles.search(key, f"redis: the key name {name!r}")
            for part in redis_value_parts(client, key):
                yield from needles.search(part, f"redis: the value of {name!r}")
    finally:
        client.close()


def _search_files(paths: Iterable[Path], needles: _Needles) -> Iterator[Finding]:
    for path in paths:
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
            yield from needles.search(line, f"{path}, line {number}")


def where_plaintexts_appear(
    plaintexts: Iterable[str | bytes],
    *,
    database_url: str | None = None,
    s3_client: Any = None,
    buckets: Iterable[str] = (),
    redis_url: str | None = None,
    files: Iterable[Path] = (),
) -> list[Finding]:
    """Every place one of `plaintexts` appears in (see the module docstring for what is searched)."""
    needles = _Needles(plaintexts)
    findings: list[Finding] = []
    if database_url:
        findings += _search_dump(pg_dump(database_url), needles)
    if s3_client is not None:
        findings += _search_s3(s3_client, buckets, needles)
    if redis_url:
        findings += _search_redis(redis_url, needles)
    findings += _search_files(files, needles)
    return findings


def assert_plaintexts_absent(
    plaintexts: list[str | bytes],
    *,
    database_url: str | None = None,
    s3_client: Any = None,
    buckets: Iterable[str] = (),
    redis_url: str | None = None,
    files: Iterable[Path] = (),
) -> None:
    """Fails naming every place (table and dump line, bucket and key, Redis key, file and line)
    where one of `plaintexts` appears, and in which form. Each store is searched only when given:
    the browser tests pass all of them through `MessengerApp.assert_plaintexts_absent`
    (tests/browser/conftest.py). Plaintexts must be at least MIN_PLAINTEXT_BYTES long."""
    if not plaintexts:
        raise ValueError("no plaintexts to look for: the proof would prove nothing")
    findings = where_plaintexts_appear(
        plaintexts,
        database_url=database_url,
        s3_client=s3_client,
        buckets=buckets,
        redis_url=redis_url,
        files=files,
    )
    if findings:
        listing = "\n".join(f"  - {finding}" for finding in findings[:50])
        more = f"\n  ... and {len(findings) - 50} more" if len(findings) > 50 else ""
        raise AssertionError(f"plaintext found where the server keeps data:\n{listing}{more}")
