"""schemathesis hooks (SCHEMATHESIS_HOOKS=tests.fuzz.hooks, set by tests/fuzz/run.py).

A generated request names random ids, so without help every operation with an id in its path
would stop at 404 and never run its own logic. Before each call, `before_call` puts seeded ids
(tests/fuzz/seed.py) into the path and into the id fields of the body, as the caller (alice)
would: her contacts, her group, messages she may read, her media, envelopes queued for her.

Only values that are already valid are replaced (a UUID by another UUID, in a component the
fuzzer generated as valid), so a negative case stays negative and a positive one positive; one
case in ten keeps its random id, so the 404 paths run too. An operation that deletes or gives
away its object (DELETE, leaving a group, transferring ownership, acking an envelope, logging
out) gets a fresh object created for it first, so the seeded ones survive the run.
"""

from __future__ import annotations

import itertools
import json
import os
import string
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from random import Random
from types import SimpleNamespace
from typing import Any

import schemathesis
from django.contrib.auth.password_validation import (
    CommonPasswordValidator,
    NumericPasswordValidator,
    UserAttributeSimilarityValidator,
)
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase

from tests.fuzz.seed import Client, latest_token, queue_envelope, register, send_message, upload_media

FIXTURES: dict[str, Any] = json.loads(open(os.environ["FUZZ_FIXTURES"]).read())  # noqa: SIM115
BASE = FIXTURES["base"]
USERS = FIXTURES["users"]
ALICE, BOB, DAVE, ERIN = USERS["alice"], USERS["bob"], USERS["dave"], USERS["erin"]
_local = threading.local()
_spares = itertools.cycle(FIXTURES["spares"])
_lock = threading.Lock()
_current = threading.local()
# Our own generator: hypothesis warns when a hook draws from the global one.
random = Random(os.environ.get("FUZZ_SEED"))  # run.py passes --seed on: a run can be repeated


def client(user: dict[str, Any]) -> Client:
    """One HTTP session per user and worker thread."""
    clients = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    if user["id"] not in clients:
        clients[user["id"]] = Client(BASE, user["access"])
    return clients[user["id"]]


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _positive(case: Any, location: ParameterLocation) -> bool:
    return case.meta is None or not case.meta.is_negative_at(location)


# --- fresh objects for operations that consume theirs -------------------------------------------


def live_media() -> list[str]:
    """A fresh upload of alice's: a seeded one may be gone (the stateful phase deletes what it
    learns of, and phases overlap across workers)."""
    return [upload_media(client(ALICE))]


def bob_in(group_id: Any) -> str:
    """Bob, made a member of the group first if alice may (the new owner must be a member)."""
    client(ALICE).call(
        "POST", f"/groups/{group_id}/members", json={"user_id": BOB["id"]}, expect=(201, 400, 403, 404, 409)
    )
    return BOB["id"]


def fresh_group() -> str:
    return client(ALICE).call("POST", "/groups", json={"name": "fresh", "member_ids": [BOB["id"]]})["id"]


def fresh_incoming_contact() -> str:
    """A pending request from a spare user to alice (the spare's earlier contact removed first)."""
    with _lock:
        spare = next(_spares)
    spare_client = client(spare)
    previous = spare.get("contact")
    if previous:
        for side in (client(ALICE), spare_client):
            side.call("DELETE", f"/contacts/{previous}", expect=(204, 403, 404))
    contact = spare_client.call(
        "POST", "/contacts", json={"user_id": ALICE["id"]}, expect=(200, 201, 403, 409)
    )
    spare["contact"] = contact.get("id") if contact else None
    return spare["contact"] or FIXTURES["contacts"]["pending_incoming"]


def fresh_session() -> dict[str, str]:
    return Client(BASE).call(
        "POST", "/auth/login", json={"login": ALICE["username"], "password": ALICE["password"]}
    )


_sessions: dict[str, dict[str, str]] = {}  # case id -> the fresh session logging out


@schemathesis.auth(refresh_interval=None)
class BearerAuth:
    """Alice's access token on every request; a logout gets a fresh session of its own (logging
    out revokes the access token presented), whose refresh token before_call puts in the body."""

    def get(self, case: Any, ctx: Any) -> str:
        if case.method.upper() == "POST" and case.path.endswith("/auth/logout"):
            session = _sessions[case.id] = fresh_session()
            return session["access"]
        return ALICE["access"]

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def fresh_refresh_token(case: Any) -> str:
    session = (_sessions.pop(case.id, None) if case is not None else None) or fresh_session()
    return session["refresh"]


def verification_token() -> str:
    """A live email-verification token: a new user's, from the email the server wrote them."""
    user = register(BASE, "verify")
    token = latest_token(Path(FIXTURES["mail_dir"]), r"verify-email\?token=([^\s\"&<]+)", to=user["email"])
    return token or "missing"


_ALPHABET = string.ascii_letters + string.digits + "_"


def _fresh(value: str, alphabet: str = _ALPHABET) -> str:
    return "".join(random.choice(alphabet) for _ in value)


def _unschemable_password_rules_fail(body: dict[str, Any]) -> bool:
    """Django's password rules no JSON schema can state: not a common password, not too similar to
    the username or email (the schema states the length and "not all digits")."""
    user = SimpleNamespace(
        username=body.get("username"), email=body.get("email"), full_name=body.get("full_name")
    )
    try:
        CommonPasswordValidator().validate(body["password"])
        NumericPasswordValidator().validate(body["password"])  # Unicode digits: "[^0-9]" lets them by
        # The validator reads the attributes only: a namespace stands in for the unsaved user.
        UserAttributeSimilarityValidator(("username", "email", "full_name")).validate(body["password"], user)  # type: ignore[arg-type]
    except Exception:
        return True
    return False


def fix_registration(body: dict[str, Any]) -> dict[str, Any]:
    """A schema-valid registration the server can accept: fresh username and email (taken ones are
    state, not schema) of the same lengths, and a password that is neither common nor similar."""
    body = dict(body)
    if isinstance(body.get("username"), str):
        body["username"] = _fresh(body["username"])
    if isinstance(body.get("email"), str) and "@" in body["email"]:
        local, _, domain = body["email"].rpartition("@")
        body["email"] = (
            f"{_fresh(local.ljust(8, 'x')[: max(len(local), min(8, 254 - len(domain) - 1))], string.ascii_lowercase)}@{domain}"
        )
    if isinstance(body.get("password"), str) and _unschemable_password_rules_fail(body):
        body["password"] = "Zq-" + _fresh("x" * max(5, len(body["password"]) - 3))
    return body


# --- per operation: path ids, then body ids ------------------------------------------------------

PathMap = Callable[[], dict[str, str]]
G = FIXTURES["group"]

PATHS: dict[tuple[str, str], PathMap] = {
    ("GET", "/contacts/{contact_id}"): lambda: {"contact_id": FIXTURES["contacts"]["accepted"]},
    ("PATCH", "/contacts/{contact_id}"): lambda: {"contact_id": fresh_incoming_contact()},
    ("DELETE", "/contacts/{contact_id}"): lambda: {"contact_id": fresh_incoming_contact()},
    ("GET", "/groups/{group_id}"): lambda: {"group_id": G},
    ("PATCH", "/groups/{group_id}"): lambda: {"group_id": G},
    ("DELETE", "/groups/{group_id}"): lambda: {"group_id": fresh_group()},
    ("POST", "/groups/{group_id}/members"): lambda: {"group_id": FIXTURES["admin_group"]},
    ("PATCH", "/groups/{group_id}/members/{user_id}"): lambda: {
        "group_id": fresh_group(),
        "user_id": BOB["id"],
    },
    ("DELETE", "/groups/{group_id}/members/{user_id}"): lambda: {
        "group_id": fresh_group(),
        "user_id": BOB["id"],
    },
    ("GET", "/groups/{group_id}/messages"): lambda: {"group_id": G},
    ("POST", "/groups/{group_id}/messages"): lambda: {"group_id": G},
    ("POST", "/groups/{group_id}/transfer-ownership"): lambda: {"group_id": fresh_group()},
    ("GET", "/invitations/verify/{token}"): lambda: {"token": FIXTURES["invitation_token"]},
    ("GET", "/keys/{user_id}"): lambda: {"user_id": BOB["id"]},
    ("GET", "/media/{media_id}"): lambda: {"media_id": FIXTURES["media"][0]},
    ("DELETE", "/media/{media_id}"): lambda: {"media_id": upload_media(client(ALICE))},
    ("POST", "/media/{media_id}/complete"): lambda: {"media_id": FIXTURES["media"][0]},
    ("GET", "/media/{media_id}/download"): lambda: {"media_id": FIXTURES["media"][0]},
    ("GET", "/media/{media_id}/thumbnail"): lambda: {"media_id": FIXTURES["media"][0]},
    ("DELETE", "/messages/{message_id}"): lambda: {"message_id": send_message(client(ALICE), BOB["id"])},
    ("PUT", "/messages/{message_id}/read"): lambda: {
        "message_id": random.choice(FIXTURES["messages"]["received"])
    },
    ("GET", "/messages/conversation/{user_id}"): lambda: {"user_id": BOB["id"]},
    ("PUT", "/messages/conversation/{user_id}/read"): lambda: {"user_id": BOB["id"]},
    ("DELETE", "/relay/{message_id}"): lambda: {"message_id": queue_envelope(client(BOB), ALICE["id"])},
    ("GET", "/relay/pending/{user_id}"): lambda: {"user_id": ALICE["id"]},
    ("GET", "/users/{user_id}"): lambda: {"user_id": BOB["id"]},
    ("PUT", "/users/{user_id}"): lambda: {"user_id": ALICE["id"]},
    ("PATCH", "/users/{user_id}"): lambda: {"user_id": ALICE["id"]},
}

# Body fields holding ids: what alice would send there.
BODY_IDS: dict[tuple[str, str], dict[str, Callable[[], Any]]] = {
    ("POST", "/contacts"): {"user_id": lambda: random.choice(FIXTURES["strangers"])},
    ("POST", "/groups"): {"member_ids": lambda: [BOB["id"]]},
    ("POST", "/groups/{group_id}/members"): {"user_id": lambda: ERIN["id"]},
    ("POST", "/groups/{group_id}/transfer-ownership"): {
        "user_id": lambda: bob_in(_current.case.path_parameters.get("group_id"))
    },
    ("POST", "/messages/send"): {
        "recipient_id": lambda: BOB["id"],
        "attachment_ids": live_media,
    },
    ("POST", "/groups/{group_id}/messages"): {"attachment_ids": live_media},
    ("PUT", "/messages/conversation/{user_id}/read"): {
        "up_to_id": lambda: FIXTURES["messages"]["received"][-1]
    },
    ("POST", "/relay/queue"): {"recipient_id": lambda: BOB["id"]},
    # Inviting your own address is a 400 (`cannot_invite_self`), a rule of who calls.
    ("POST", "/invitations/send"): {"email": lambda: f"invitee-{uuid.uuid4().hex[:12]}@example.com"},
    ("POST", "/auth/refresh"): {"refresh": lambda: fresh_refresh_token(None)},
    ("POST", "/auth/logout"): {"refresh": lambda: fresh_refresh_token(_current.case)},
}


ALWAYS_REAL = {"attachment_ids", "member_ids"}


def _replaceable(value: Any, name: str) -> bool:
    if name == "refresh":
        return isinstance(value, str)
    if name == "email":
        return isinstance(value, str) and value.lower() == ALICE["email"].lower()
    if isinstance(value, list):
        return all(_is_uuid(item) for item in value)
    return _is_uuid(value)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    _current.case = case
    path = case.path.removeprefix("/api/v1")
    key = (case.method.upper(), path)
    keep_random = random.random() < 0.1
    # The stateful phase follows links: its ids are real already, and its checks
    # (ensure_resource_availability, use_after_free) must see the very id a response named.
    stateful = case.meta is not None and case.meta.phase.name == TestPhase.STATEFUL
    # There an id the checks follow (ensure_resource_availability) must lead somewhere.
    keep_random = keep_random and not stateful
    mapper = None if stateful else PATHS.get(key)
    if (
        path == "/sync"
        and case.query.get("since")
        and isinstance(case.query["since"], str)
        and _positive(case, ParameterLocation.QUERY)
    ):
        # A well-formed token ahead of the stream is refused: only one the server issued is valid.
        case.query = {**case.query, "since": FIXTURES["sync_token"]}
    cursor = FIXTURES["cursors"].get(path)
    if cursor and isinstance(case.query.get("cursor"), str) and _positive(case, ParameterLocation.QUERY):
        # Cursors are opaque: only one the server handed out is valid, whatever the schema's type.
        case.query = {**case.query, "cursor": cursor}
    if (
        mapper
        and not keep_random
        and _positive(case, ParameterLocation.PATH)
        and all(_is_uuid(value) or name == "token" for name, value in case.path_parameters.items())
    ):
        case.path_parameters = {**case.path_parameters, **mapper()}
    if (
        key == ("GET", "/media/{media_id}/download")
        and "sig" in case.query
        and _positive(case, ParameterLocation.QUERY)
        and not keep_random
        and FIXTURES["media_download_sig"]
    ):
        case.query = {**case.query, "sig": FIXTURES["media_download_sig"]}
    fields = BODY_IDS.get(key)
    if fields and isinstance(case.body, dict) and _positive(case, ParameterLocation.BODY):
        body = dict(case.body)
        for name, make in fields.items():
            # Attachments and members must exist (a 400 naming them otherwise, a rule of state):
            # always real ones. Other ids keep a random one in ten (their 404 paths).
            if name in body and _replaceable(body[name], name) and (name in ALWAYS_REAL or not keep_random):
                body[name] = make()
        if key == ("POST", "/groups/{group_id}/messages") and isinstance(
            body.get("encrypted_session_keys"), dict
        ):
            # One wrapped key per current member (a rule of state: the stateful phase may have
            # added one), for a group alice can see; any other gets its 404 anyway.
            group_id = case.path_parameters.get("group_id")
            group = client(ALICE).call("GET", f"/groups/{group_id}", expect=(200, 400, 404))
            members = (
                [m["user"]["id"] for m in group["members"]] if group and "members" in group else [ALICE["id"]]
            )
            # Keys are user ids (a rule OpenAPI 3.0 cannot state: it has no `propertyNames`).
            body["encrypted_session_keys"] = dict.fromkeys(members, "AAAA")
        case.body = body
    if isinstance(case.body, dict) and case.media_type == "application/json":
        # Assigning the body makes schemathesis judge the case by what is sent: a multipart value
        # it meant to break can reach the wire valid (seen: a `pattern` mutation of file_name).
        case.body = dict(case.body)
    if (
        key == ("POST", "/auth/register")
        and isinstance(case.body, dict)
        and _positive(case, ParameterLocation.BODY)
    ):
        case.body = fix_registration(case.body)
    if (
        key == ("POST", "/auth/verify-email")
        and isinstance(case.body, dict)
        and isinstance(case.body.get("token"), str)
        and _positive(case, ParameterLocation.BODY)
    ):
        case.body = {**case.body, "token": verification_token()}
