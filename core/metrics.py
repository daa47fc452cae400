"""Prometheus metrics: the application's own, recorded by one-line calls where things happen,
and `/metrics`, which exposes them with django-prometheus's (requests, database, cache).

Multi-process: prometheus-client's multiprocess mode. When PROMETHEUS_MULTIPROC_DIR is set
(before this module is imported: deploy/ sets it in the environment of every container), each
process of a pod (gunicorn's workers, Celery's prefork children) writes its samples to files in
that directory and `/metrics` merges them, so one scrape of a pod sees all of its processes.
The directory must be emptied when the pod's main process starts (deploy/ does it in the
container command) and gunicorn marks exited workers dead (deploy/gunicorn.conf.py). Unset (the
embedded mode, tests), each process counts in memory and answers for itself.

The access rule (METRICS_ALLOWED, METRICS_TOKEN) is in `metrics_view`: anyone else gets the 404
of an unknown path, so the endpoint is not revealed.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# --- the metric objects -------------------------------------------------------------------------

MESSAGES_SENT = Counter(
    "messenger_messages_sent_total",
    "Messages stored and published (a retry with the same client_message_id is not counted).",
    ["kind"],  # direct | group
)
FANOUT_RECIPIENTS = Histogram(
    "messenger_message_fanout_recipients",
    "Users a sent message is delivered to (the recipient; a group's members but the sender).",
    ["kind"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
DELIVERY_SECONDS = Histogram(
    "messenger_delivery_latency_seconds",
    "From the transaction's commit (the publish) to the socket's send of the event, per socket.",
    ["event"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SOCKETS_OPEN = Gauge(
    "messenger_websockets_open",
    "WebSockets accepted and not yet closed.",
    multiprocess_mode="livesum",
)
SOCKETS_CLOSED_BY_SERVER = Counter(
    "messenger_websocket_server_closes_total",
    "Sockets the server closed, by close code (4401: authentication refused or access ended; "
    "4429: past the frame rate limit).",
    ["code"],
)
RELAY_QUEUE_DEPTH = Histogram(
    "messenger_relay_queue_depth",
    "The recipient's pending envelopes right after one is queued.",
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 7500, 9000, 10000, 25000, 100000),
)
RELAY_QUEUE_FILL = Histogram(
    "messenger_relay_queue_fill_ratio",
    "The recipient's pending envelopes over RELAY_MAX_PENDING_PER_RECIPIENT, right after a queue.",
    buckets=(0.1, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95, 1.0),
)
RELAY_REFUSED = Counter(
    "messenger_relay_queue_refused_total",
    "Envelopes refused because the recipient's queue was at its cap (429).",
)
THROTTLED = Counter(
    "messenger_throttled_total",
    "Requests (and socket frames sharing a REST counter) refused by a rate limit, by scope.",
    ["scope"],
)
CELERY_TASKS = Counter(
    "messenger_celery_tasks_total",
    "Celery task runs by task name and outcome (success, failure, retry).",
    ["task", "outcome"],
)

# --- recording ----------------------------------------------------------------------------------


def message_sent(kind: str, *, recipients: int) -> None:
    """A message was stored: counted once its transaction commits (a rollback counts nothing)."""

    def record() -> None:
        MESSAGES_SENT.labels(kind).inc()
        FANOUT_RECIPIENTS.labels(kind).observe(recipients)

    transaction.on_commit(record)


# The key a layer message carries from the publisher (core.events) to the consumer.
COMMITTED_AT = "committed_at"


def stamp_committed(message: dict[str, Any]) -> dict[str, Any]:
    """Called as the commit's callback sends the event: the wall clock, as the socket may be
    served by another process (or host) than the one that committed."""
    return {**message, COMMITTED_AT: time.time()}


# Event type -> its labelled DELIVERY_SECONDS child. `labels()` checks and hashes its arguments
# under a lock on each call: per delivered frame (a thousand for one group message) that was
# as much CPU as the observation. The types are the publishers' few constants.
_delivery_by_type: dict[str, Any] = {}


def delivered(message: dict[str, Any]) -> None:
    """A socket sent the event of `message` (a layer message built by the publisher)."""
    committed_at = message.get(COMMITTED_AT)
    if committed_at is None:
        return
    event_type = str(message.get("event", {}).get("type", "unknown"))
    child = _delivery_by_type.get(event_type)
    if child is None:
        child = _delivery_by_type[event_type] = DELIVERY_SECONDS.labels(event_type)
    child.observe(max(0.0, time.time() - committed_at))


def relay_queued(*, depth: int) -> None:
    RELAY_QUEUE_DEPTH.observe(depth)
    cap = settings.RELAY_MAX_PENDING_PER_RECIPIENT
    if cap > 0:
        RELAY_QUEUE_FILL.observe(depth / cap)


def throttled(scope: str | None) -> None:
    THROTTLED.labels(scope or "unknown").inc()


# --- Celery task outcomes -------------------------------------------------------------------------


def _task_name(sender: Any) -> str:
    return str(getattr(sender, "name", sender) or "unknown")


def _on_task_success(sender: Any = None, **kwargs: Any) -> None:
    CELERY_TASKS.labels(_task_name(sender), "success").inc()


def _on_task_failure(sender: Any = None, **kwargs: Any) -> None:
    CELERY_TASKS.labels(_task_name(sender), "failure").inc()


def _on_task_retry(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
    # task_retry's sender is the task object too; its request names it as well.
    CELERY_TASKS.labels(_task_name(sender), "retry").inc()


def _start_exporter(**kwargs: Any) -> Any:
    """A worker or beat has no HTTP server of its own: METRICS_PORT gives it one, in its main
    process (all interfaces: Prometheus reaches a pod by its address; deploy/k8s lets only the
    monitoring namespace in). Returns the server (tests shut it down), or None."""
    port = getattr(settings, "METRICS_PORT", 0)
    if not port:
        return None
    from prometheus_client import start_http_server

    server, _ = start_http_server(port, registry=scrape_registry())
    logger.info("Metrics on :%s/metrics", port)
    return server


def connect_celery_signals() -> None:
    from celery.signals import beat_init, task_failure, task_retry, task_success, worker_init

    task_success.connect(_on_task_success, weak=False, dispatch_uid="metrics_task_success")
    task_failure.connect(_on_task_failure, weak=False, dispatch_uid="metrics_task_failure")
    task_retry.connect(_on_task_retry, weak=False, dispatch_uid="metrics_task_retry")
    worker_init.connect(_start_exporter, weak=False, dispatch_uid="metrics_worker_exporter")
    beat_init.connect(_start_exporter, weak=False, dispatch_uid="metrics_beat_exporter")


# --- values read at scrape time -------------------------------------------------------------------

# (name, help, reader): apps register what they own (notifications: its outbox) at startup.
_scrape_gauges: list[tuple[str, str, list[str], Callable[[], Iterable[tuple[list[str], float]]]]] = []


def register_scrape_gauge(
    name: str, documentation: str, labels: list[str], read: Callable[[], Iterable[tuple[list[str], float]]]
) -> None:
    """A gauge read when /metrics is scraped (a count in the database, say): one process
    answers it, so it is not summed over processes."""
    if any(existing[0] == name for existing in _scrape_gauges):
        return
    _scrape_gauges.append((name, documentation, labels, read))


def scrape_gauge_names() -> list[str]:
    """The names of the gauges read at scrape time (deploy/check_monitoring.py lists them)."""
    return [name for name, *_ in _scrape_gauges]


class _ScrapeGauges:
    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, documentation, labels, read in _scrape_gauges:
            family = GaugeMetricFamily(name, documentation, labels=labels)
            try:
                for values, value in read():
                    family.add_metric(values, value)
            except Exception:  # a scrape must still answer when the database does not
                logger.exception("Could not read %s", name)
                continue
            yield family


_scrape_collector = _ScrapeGauges()
if not MULTIPROCESS:
    REGISTRY.register(_scrape_collector)


def scrape_registry() -> CollectorRegistry:
    """What /metrics exposes: every process's samples in the multiprocess mode, else this one's."""
    if not MULTIPROCESS:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(_scrape_collector)
    return registry


# --- /metrics ---------------------------------------------------------------------------------------


def _from_loopback(request: HttpRequest) -> bool:
    # The TCP peer, not X-Forwarded-For: deploy/'s nginx, itself on loopback, answers 404 for
    # /metrics so nothing from outside reaches it through the proxy.
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _has_token(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


def metrics_allowed(request: HttpRequest) -> bool:
    allowed = settings.METRICS_ALLOWED
    return ("loopback" in allowed and _from_loopback(request)) or ("token" in allowed and _has_token(request))


def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD") or not metrics_allowed(request):
        raise Http404()  # as for any unknown path: the endpoint is not revealed
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


# --- Requests ---------------------------------------------------------------------------------------

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"})


class RequestMetricsMiddleware:
    """The three request series the dashboards and alerts read (deploy/grafana, deploy/prometheus),
    under django-prometheus's names and labels: requests by method, responses by status, latency
    by view and method.

    In place of django-prometheus's Before/After middleware pair, which updates fourteen series a
    request (body sizes, charsets, transports, per-view counters nobody reads): 60-160 us of CPU
    a request measured on this machine, 2-6 % of a send (issue 15). Placed first, it times
    everything the other middleware do. A request that raised is a 500 response by the time it
    gets here (Django turns each middleware's exceptions into responses).
    """

    def __init__(self, get_response: Any) -> None:
        from django_prometheus.middleware import Metrics

        self.get_response = get_response
        metrics = Metrics.get_instance()  # the registered series: one set per process
        self.by_method = metrics.requests_by_method
        self.by_status = metrics.responses_by_status
        self.latency = metrics.requests_latency_by_view_method

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        method = request.method if request.method in _KNOWN_METHODS else "<invalid method>"
        self.by_method.labels(method=method).inc()
        response: HttpResponse = self.get_response(request)
        self.by_status.labels(status=str(response.status_code)).inc()
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match is not None else None) or "<unnamed view>"
        self.latency.labels(view=view, method=method).observe(time.perf_counter() - started)
        return response
