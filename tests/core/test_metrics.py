"""/metrics: who may read it (METRICS_ALLOWED, METRICS_TOKEN), and that what happens in the app
moves the series an operator reads there: messages and their fan-out, delivery to sockets, close
codes, throttles, relay queues, the outbox and Celery tasks. Read as Prometheus reads it: the
exposition parsed with prometheus_client's parser (one process here: no multiprocess directory).
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from celery import shared_task
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from groups.services import group_create
from notifications.models import OutboundEmail
from tests.groups.helpers import message_body
from tests.messaging.helpers import send_body
from tests.support.django_process import start_django
from tests.support.gateway import closed_with, connect, next_frame_of, rest, socket_for

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-the-tests-0123456789abcdef"


def scrape(**extra) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of one GET /metrics (from loopback by default)."""
    response = Client().get("/metrics", **extra)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before, after, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


# --- requests (core.metrics.RequestMetricsMiddleware) --------------------------------------------


def test_each_request_moves_the_three_request_series_the_dashboards_read(user, client_for):
    before = scrape()
    assert client_for(user).get("/api/v1/auth/me").status_code == 200
    assert Client().get("/api/v1/auth/me").status_code == 401
    assert Client().generic("BREW", "/api/v1/auth/me").status_code in (401, 405)
    after = scrape()

    assert moved(before, after, "django_http_requests_total_by_method_total", method="GET") >= 2
    # Any method a client makes up is one label, not one series each.
    assert moved(before, after, "django_http_requests_total_by_method_total", method="<invalid method>") == 1
    assert moved(before, after, "django_http_responses_total_by_status_total", status="200") >= 1
    assert moved(before, after, "django_http_responses_total_by_status_total", status="401") >= 1
    latency = "django_http_requests_latency_seconds_by_view_method_count"
    assert moved(before, after, latency, view="auth-me", method="GET") == 2


# --- access -----------------------------------------------------------------------------------


def test_loopback_reads_metrics_by_default_and_no_one_else_learns_it_exists():
    samples = scrape(REMOTE_ADDR="127.0.0.1")
    assert any(name == "django_http_requests_total_by_method_total" for name, _ in samples)
    assert scrape(REMOTE_ADDR="::1")

    unknown = Client().get("/no-such-page", REMOTE_ADDR="203.0.113.9")
    for kwargs in (
        {"REMOTE_ADDR": "203.0.113.9"},
        {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "127.0.0.1"},
    ):
        response = Client().get("/metrics", **kwargs)
        assert response.status_code == 404
        assert response.content == unknown.content
    # Not a way in either: a token when only loopback is allowed, or a write from loopback.
    assert (
        Client().get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code
        == 404
    )
    assert Client().post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_with_a_token_only_its_bearer_reads_metrics(settings):
    settings.METRICS_ALLOWED = {"token"}
    settings.METRICS_TOKEN = TOKEN
    assert scrape(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    for header in ("", f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer "):
        response = Client().get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=header)
        assert response.status_code == 404, header
    # loopback alone no longer suffices
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_prometheus_scrapes_plain_http_where_the_api_redirects_to_https(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/api/v1/auth/me", REMOTE_ADDR="127.0.0.1").status_code == 301
    assert scrape(REMOTE_ADDR="127.0.0.1")


def test_none_closes_metrics_to_everyone(settings):
    settings.METRICS_ALLOWED = {"none"}
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_a_token_setting_needs_a_long_token():
    settings_of_a_server = {"DEBUG": "1", "METRICS_ALLOWED": "token"}
    refused = start_django(**settings_of_a_server, METRICS_TOKEN="short")
    assert refused.returncode != 0 and "METRICS_TOKEN of 32+ characters" in refused.stderr
    assert start_django(**settings_of_a_server, METRICS_TOKEN=TOKEN).stdout.strip() == "started"


# --- what the app records ------------------------------------------------------------------------


def test_a_sent_message_counts_once_with_its_fanout_and_a_retry_does_not(
    user, other_user, client_for, django_capture_on_commit_callbacks
):
    before = scrape()
    body = send_body(other_user)
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(user).post("/api/v1/messages/send", body, format="json").status_code == 201
        assert client_for(user).post("/api/v1/messages/send", body, format="json").status_code == 200  # retry
    after = scrape()
    assert moved(before, after, "messenger_messages_sent_total", kind="direct") == 1
    assert moved(before, after, "messenger_message_fanout_recipients_count", kind="direct") == 1
    assert moved(before, after, "messenger_message_fanout_recipients_sum", kind="direct") == 1


def test_a_refused_message_counts_nothing(user, client_for, django_capture_on_commit_callbacks):
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post("/api/v1/messages/send", send_body(user), format="json")  # to self
    assert response.status_code == 400
    assert value(scrape(), "messenger_messages_sent_total", kind="direct") == value(
        before, "messenger_messages_sent_total", kind="direct"
    )


def test_a_group_message_fans_out_to_the_other_members(
    make_user, client_for, django_capture_on_commit_callbacks
):
    owner, ann, bob = make_user(), make_user(), make_user()
    group = group_create(creator_id=owner.pk, name="Team", member_ids=[ann.pk, bob.pk])
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(
            f"/api/v1/groups/{group.pk}/messages", message_body(group), format="json"
        )
    assert response.status_code == 201, response.content
    after = scrape()
    assert moved(before, after, "messenger_messages_sent_total", kind="group") == 1
    assert moved(before, after, "messenger_message_fanout_recipients_sum", kind="group") == 2
    # within the bucket le=2, not le=1
    assert moved(before, after, "messenger_message_fanout_recipients_bucket", kind="group", le="2.0") == 1
    assert value(after, "messenger_message_fanout_recipients_bucket", kind="group", le="1.0") == value(
        before, "messenger_message_fanout_recipients_bucket", kind="group", le="1.0"
    )


def test_throttled_requests_count_by_scope(user, client_for, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "message_send": "1/m"}
    before = scrape()
    client = client_for(user)
    statuses = [
        client.post("/api/v1/messages/send", send_body(user), format="json").status_code for _ in range(3)
    ]
    assert statuses[1:] == [429, 429]
    after = scrape()
    assert moved(before, after, "messenger_throttled_total", scope="message_send") == 2


def test_relay_queue_depth_and_refusals(user, other_user, client_for, settings):
    settings.RELAY_MAX_PENDING_PER_RECIPIENT = 2
    client = client_for(user)
    body = {"recipient_id": str(other_user.pk), "payload": "Y2lwaGVy"}
    before = scrape()
    statuses = [client.post("/api/v1/relay/queue", body, format="json").status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    after = scrape()
    assert moved(before, after, "messenger_relay_queue_refused_total") == 1
    # depths 1 then 2 were observed: 3 in all, the second at the cap (fill 1.0, above 0.95)
    assert moved(before, after, "messenger_relay_queue_depth_sum") == 3
    assert moved(before, after, "messenger_relay_queue_fill_ratio_count") == 2
    assert moved(before, after, "messenger_relay_queue_fill_ratio_bucket", le="0.95") == 1


def test_the_relay_queue_depth_comes_with_the_write(user, other_user, client_for, monkeypatch):
    """The store's write already knows the depth: no second read per queued envelope."""
    from relay.store import get_store

    store = get_store()
    counts: list[object] = []
    real_count = store.count
    monkeypatch.setattr(store, "count", lambda **kwargs: counts.append(kwargs) or real_count(**kwargs))
    body = {"recipient_id": str(other_user.pk), "payload": "Y2lwaGVy"}
    before = scrape()
    for _ in range(2):
        assert client_for(user).post("/api/v1/relay/queue", body, format="json").status_code == 201
    assert moved(before, scrape(), "messenger_relay_queue_depth_sum") == 3  # depths 1 and 2
    assert counts == []


def test_the_outbox_shows_pending_and_failed_emails():
    def email(status: str) -> None:
        OutboundEmail.objects.create(
            to_email="a@example.com", template="t", subject="s", body_text="b", status=status
        )

    for status in ("pending", "pending", "failed", "sent"):
        email(status)
    samples = scrape()
    assert value(samples, "messenger_outbox_emails", status="pending") == 2
    assert value(samples, "messenger_outbox_emails", status="failed") == 1
    assert ("messenger_outbox_emails", (("status", "sent"),)) not in samples


@shared_task(name="tests.metrics_ok")
def _ok() -> int:
    return 1


@shared_task(name="tests.metrics_broken")
def _broken() -> None:
    raise RuntimeError("broken on purpose")


_runs: list[int] = []


@shared_task(name="tests.metrics_retried", bind=True, max_retries=3)
def _retried(self) -> str:
    _runs.append(1)
    if len(_runs) == 1:
        raise self.retry(countdown=0, exc=RuntimeError("again"))
    return "second time lucky"


def test_celery_task_outcomes_are_counted_by_task():
    before = scrape()
    assert _ok.apply().get() == 1
    # throw=False: the tests' eager tasks otherwise raise before Celery signals the outcome
    assert _broken.apply(throw=False).failed()
    _runs.clear()
    _retried.apply(throw=False)
    assert len(_runs) == 2
    after = scrape()

    def runs(task: str, outcome: str) -> float:
        return moved(before, after, "messenger_celery_tasks_total", task=task, outcome=outcome)

    assert runs("tests.metrics_ok", "success") == 1
    assert runs("tests.metrics_broken", "failure") == 1
    assert runs("tests.metrics_broken", "success") == 0
    assert runs("tests.metrics_retried", "retry") == 1
    assert runs("tests.metrics_retried", "success") == 1


def test_a_celery_worker_serves_its_metrics_on_metrics_port(settings):
    import httpx
    from celery.signals import worker_init

    from core.metrics import _start_exporter
    from tests.s3 import free_port

    settings.METRICS_PORT = free_port()
    # Connected to what `celery worker` (and beat's beat_init) sends as it starts; called here
    # alone, as Django's fixup among the other receivers wants a real worker.
    assert any(receiver is _start_exporter for _, receiver in worker_init.receivers)
    server = _start_exporter()
    try:
        assert _ok.apply().get() == 1
        response = httpx.get(f"http://127.0.0.1:{settings.METRICS_PORT}/metrics", trust_env=False, timeout=5)
        assert response.status_code == 200
        assert 'messenger_celery_tasks_total{outcome="success",task="tests.metrics_ok"}' in response.text
    finally:
        server.shutdown()
        server.server_close()


# --- sockets ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_sockets_open_close_codes_and_delivery_to_a_socket(user, other_user):
    before = await sync_to_async(scrape)()
    refused = await connect()
    await refused.send_json_to({"type": "ping", "data": {}})  # before auth: refused with 4401
    assert await closed_with(refused) == 4401
    await refused.disconnect()

    socket = await socket_for(other_user)
    try:
        during = await sync_to_async(scrape)()
        assert value(during, "messenger_websockets_open") - value(before, "messenger_websockets_open") == 1
        response = await rest(user, "post", "/api/v1/messages/send", send_body(other_user))
        assert response.status_code == 201
        await next_frame_of(socket, "message.new")
    finally:
        await socket.disconnect()
    after = await sync_to_async(scrape)()

    assert moved(before, after, "messenger_websocket_server_closes_total", code="4401") == 1
    assert value(after, "messenger_websockets_open") == value(before, "messenger_websockets_open")
    delivered = "messenger_delivery_latency_seconds_count"
    assert moved(before, after, delivered, event="message.new") == 1
