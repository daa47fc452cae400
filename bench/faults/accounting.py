"""The checks a reviewer reads after each run, computed from the ledger and from the servers'
own state: /sync of every user concerned, the outbox table and the emails the mail sink holds,
the media table and the bucket's objects.

- Messages: every send that got a 2xx or a `message.sent` is in /sync of each user of its
  audience exactly once; per sender and reader, in the order acknowledged (each sender waits
  for one acknowledgement before its next send); no client_message_id stored twice.
- Every 5xx answer was a 503 with Retry-After.
- Emails: each invitation answered 201 has one outbox row, sent, and exactly one email in the sink.
- Media: every row's object (and thumbnail) is in the bucket, every object has its row; every
  upload answered 201 has its row.
- Relay: every envelope queued (201) reached the recipient's socket (or is still pending).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.faults.load import FEATURES, Answer, Ledger, World, headers_for

SYNC_PAGE = 500


@dataclass
class Accounting:
    sent: int = 0
    acknowledged: int = 0
    delivered: int = 0  # (message, reader) pairs found in /sync
    expected: int = 0  # (message, reader) pairs that must be there
    lost: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    stored_unacknowledged: int = 0  # sends never acknowledged (run ended) that /sync has anyway
    live_deliveries: int = 0
    live_missed: int = 0  # (message, device) pairs never on that device's socket: /sync's job
    live_duplicates: int = 0  # a message handed twice to one socket
    answers: int = 0
    server_errors: int = 0  # 5xx answers
    not_503: list[str] = field(default_factory=list)
    no_retry_after: int = 0
    no_answer: int = 0  # refused or cut connections, timeouts
    emails_invited: int = 0
    emails_sent_once: int = 0
    emails_problems: list[str] = field(default_factory=list)
    email_max_delay: float = 0.0
    media_uploaded: int = 0
    media_rows: int = 0
    media_objects: int = 0
    media_problems: list[str] = field(default_factory=list)
    media_purged: int = 0  # rows the purge removed at the end (every upload: none was attached)
    media_left_after_purge: int = 0  # rows + objects still there after it: must be 0
    relay_queued: int = 0
    relay_delivered: int = 0
    relay_lost: int = 0
    relay_duplicates: int = 0
    relay_offline_queued: int = 0  # to a recipient with no socket: still pending at the end?
    relay_offline_kept: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.duplicates
            or self.out_of_order
            or self.not_503
            or self.no_retry_after
            or self.emails_problems
            or self.media_problems
            or self.problems
        )


async def sync_all(client: httpx.AsyncClient, world: World, user: int, since: str) -> list[dict]:
    items: list[dict] = []
    deadline = time.monotonic() + 120
    while True:
        response = await client.get(
            "/api/v1/sync", params={"since": since, "limit": SYNC_PAGE}, headers=headers_for(world, user)
        )
        if response.status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"/sync kept failing: {response.status_code} {response.text[:200]}")
            await asyncio.sleep(1)
            continue
        page = response.json()
        items += page["items"]
        since = page["next_since"]
        if not page["has_more"]:
            return items


async def sync_tokens(client: httpx.AsyncClient, world: World) -> dict[int, str]:
    tokens = {}
    for user in range(len(world.ids)):
        response = await client.get("/api/v1/sync", headers=headers_for(world, user))
        response.raise_for_status()
        tokens[user] = response.json()["next_since"]
    return tokens


def check_answers(result: Accounting, answers: list[Answer]) -> None:
    result.answers = len(answers)
    for answer in answers:
        if answer.status == 0:
            result.no_answer += 1
        elif 400 <= answer.status < 500 and answer.status != 429:
            # The load sends only valid requests: a 4xx is the server refusing what it should take.
            result.problems.append(f"unexpected {answer.status} on {answer.what} at {answer.t:.1f}s")
        elif answer.status >= 500:
            result.server_errors += 1
            if answer.status != 503:
                result.not_503.append(f"{answer.status} {answer.what} at {answer.t:.1f}s")
            elif not answer.retry_after:
                result.no_retry_after += 1


async def check_messages(
    result: Accounting, client: httpx.AsyncClient, world: World, ledger: Ledger, since: dict[int, str]
) -> None:
    index_of = {user_id: index for index, user_id in enumerate(world.ids)}
    readers = sorted({index_of[u] for send in ledger.sends for u in send.audience})
    result.sent = len(ledger.sends)
    acked = [send for send in ledger.sends if send.id]
    result.acknowledged = len(acked)
    result.live_deliveries = sum(sum(counts.values()) for counts in ledger.live.values())
    for device, counts in ledger.live.items():
        reader_id = device.split("#")[0]
        result.live_duplicates += sum(count - 1 for count in counts.values() if count > 1)
        online_from = ledger.first_hello.get(device, 0.0) + 1.0  # sent before its socket was up
        result.live_missed += sum(
            1
            for send in acked
            if reader_id in send.audience
            and send.acked_at is not None  # every send in `acked` has it
            and send.acked_at > online_from
            and send.id not in counts
        )
    unacked_cmids = {send.client_message_id for send in ledger.sends if not send.id}
    stored_unacked: set[str] = set()
    for reader in readers:
        reader_id = world.ids[reader]
        items = [
            item["data"]
            for item in await sync_all(client, world, reader, since[reader])
            if item["type"] in ("message.new", "group.message.new")
        ]
        ids = [item["id"] for item in items]
        counts = Counter(ids)
        result.duplicates += sum(count - 1 for count in counts.values() if count > 1)
        by_cmid: dict[str, set[str]] = defaultdict(set)
        for item in items:
            if item.get("client_message_id"):
                by_cmid[item["client_message_id"]].add(item["id"])
        result.duplicates += sum(len(stored) - 1 for stored in by_cmid.values() if len(stored) > 1)
        stored_unacked |= unacked_cmids & set(by_cmid)
        position = {message_id: index for index, message_id in enumerate(ids)}
        mine = [send for send in acked if reader_id in send.audience]
        result.expected += len(mine)
        present = [send for send in mine if send.id in position]
        result.delivered += len(present)
        result.lost += len(mine) - len(present)
        for send in mine:
            if send.id not in position:
                result.problems.append(f"lost: {send.channel} {send.id} for reader {reader}")
        by_sender: dict[str, list[int]] = defaultdict(list)
        for send in present:
            by_sender[send.sender].append(position[send.id])
        for positions in by_sender.values():
            result.out_of_order += sum(1 for a, b in itertools.pairwise(positions) if b < a)
    result.stored_unacknowledged = len(stored_unacked)


def mail_counts(mail_dir: Path) -> Counter:
    counts: Counter = Counter()
    if not mail_dir.exists():
        return counts
    for path in mail_dir.iterdir():
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("To: "):
                counts[line[4:].strip()] += 1
    return counts


async def check_emails(
    result: Accounting, database_url: str, mail_dir: Path, ledger: Ledger, wait_seconds: float = 90.0
) -> None:
    import psycopg

    invited = set(ledger.invitations)
    result.emails_invited = len(invited)
    deadline = time.monotonic() + wait_seconds
    while True:
        with psycopg.connect(database_url) as connection:
            rows = connection.execute(
                "SELECT to_email, status, extract(epoch FROM sent_at - created_at) "
                "FROM notifications_outbound_email WHERE to_email LIKE 'invitee-%%'"
            ).fetchall()
        pending = [row for row in rows if row[1] != "sent"]
        if not pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    sink = mail_counts(mail_dir)
    rows_by_address = Counter(row[0] for row in rows)
    status = {row[0]: row[1] for row in rows}
    result.email_max_delay = max((float(row[2]) for row in rows if row[2] is not None), default=0.0)
    for address in invited:
        if rows_by_address[address] != 1:
            result.emails_problems.append(f"{address}: {rows_by_address[address]} outbox rows")
        elif status[address] != "sent":
            result.emails_problems.append(f"{address}: outbox row {status[address]}")
        elif sink[address] != 1:
            result.emails_problems.append(f"{address}: {sink[address]} emails in the sink")
        else:
            result.emails_sent_once += 1
    for address in set(rows_by_address) - invited:  # a 5xx or a cut answer whose row committed
        if sink[address] > 1:
            result.emails_problems.append(f"{address} (not acknowledged): {sink[address]} emails")


def check_media(result: Accounting, database_url: str, bucket_keys: set[str], ledger: Ledger) -> None:
    import psycopg

    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT id::text, object_key, thumbnail_key, state FROM media").fetchall()
    result.media_uploaded = len(ledger.uploads)
    result.media_rows = len(rows)
    result.media_objects = len(bucket_keys)
    row_keys = set()
    ids = {row[0] for row in rows}
    for media_id, object_key, thumbnail_key, state in rows:
        row_keys.add(object_key)
        if state == "ready" and object_key not in bucket_keys:
            result.media_problems.append(f"row {media_id}: no object")
        if thumbnail_key:
            row_keys.add(thumbnail_key)
            if thumbnail_key not in bucket_keys:
                result.media_problems.append(f"row {media_id}: no thumbnail object")
    for key in sorted(bucket_keys - row_keys):
        result.media_problems.append(f"object {key}: no row")
    for media_id in ledger.uploads:
        if media_id not in ids:
            result.media_problems.append(f"upload {media_id} answered 201: no row")


async def check_relay(result: Accounting, client: httpx.AsyncClient, world: World, ledger: Ledger) -> None:
    from bench.faults.load import RELAY_OFFLINE

    pending: set[str] = set()
    url = f"/api/v1/relay/pending/{world.ids[RELAY_OFFLINE]}"
    params: dict[str, str] = {}
    while True:
        response = await client.get(url, params=params, headers=headers_for(world, RELAY_OFFLINE))
        response.raise_for_status()
        page = response.json()
        pending.update(envelope["id"] for envelope in page["results"])
        if not page.get("next"):
            break
        params = {"cursor": httpx.URL(page["next"]).params["cursor"]}
    result.relay_offline_queued = len(ledger.relay_offline)
    result.relay_offline_kept = len(set(ledger.relay_offline) & pending)
    result.relay_queued = len(ledger.relay_queued)
    result.relay_delivered = sum(1 for envelope in ledger.relay_queued if ledger.relay_received[envelope])
    result.relay_lost = result.relay_queued - result.relay_delivered
    # Re-pushed until acked (the ack in flight when a socket drops): the client dedupes by id.
    result.relay_duplicates = sum(count - 1 for count in ledger.relay_received.values() if count > 1)


@dataclass
class FeatureWindow:
    feature: str
    ok_during: int
    total_during: int
    down_after: float | None  # seconds after the fault ended until it answered again; None: never failed
    never_recovered: bool = False

    @property
    def kept_working(self) -> str:
        if self.total_during == 0:
            return "n/a"
        return f"{self.ok_during}/{self.total_during}"


INSTANT_FAULT_WINDOW_SECONDS = 10.0


def feature_windows(answers: list[Answer], start: float, end: float) -> list[FeatureWindow]:
    """Per feature: its answers while the fault lasted (an instant fault, a kill: the 10 s after
    it), and how long after the fault ended it took to answer again after its last failure."""
    windows = []
    window_end = max(end, start + INSTANT_FAULT_WINDOW_SECONDS)
    for feature in FEATURES:
        mine = [a for a in answers if a.feature == feature]
        during = [a for a in mine if start <= a.t <= window_end]
        failures = [a.t for a in mine if a.t >= start and not a.ok]
        down_after: float | None = None
        never = False
        if failures:
            last = max(failures)
            recovered = [a.t for a in mine if a.ok and a.t > last]
            if recovered:
                down_after = max(0.0, min(recovered) - end)
            else:
                never = True
        windows.append(FeatureWindow(feature, sum(a.ok for a in during), len(during), down_after, never))
    return windows


PURGE = """
from datetime import timedelta
from media.services import media_purge_unattached
print(media_purge_unattached(older_than=timedelta(0)))
"""


def check_purge(
    result: Accounting, env: dict[str, str], database_url: str, list_objects: Callable[[], set[str]]
) -> None:
    """The unattached-media purge (beat's task, run now with no age limit) removes every row and
    its objects: nothing stored by a failed or cut upload is left behind for good."""
    import psycopg

    from bench.run import manage

    result.media_purged = int(manage(env, "shell", "-c", PURGE).strip().splitlines()[-1])
    with psycopg.connect(database_url) as connection:
        counted = connection.execute("SELECT count(*) FROM media").fetchone()
        assert counted is not None
        rows = counted[0]
    objects = list_objects()
    result.media_left_after_purge = rows + len(objects)
    if result.media_left_after_purge:
        result.media_problems.append(f"after the purge: {rows} rows, {len(objects)} objects left")
