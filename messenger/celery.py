"""The Celery application: `celery -A messenger worker` (and `beat` for the periodic tasks)."""

import os

from celery import Celery
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings")

app = Celery("messenger")
# Every CELERY_* Django setting configures the app (CELERY_BROKER_URL -> broker_url, ...).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _use_django_logging(**kwargs: object) -> None:
    """Worker and beat log through settings.LOGGING (LOG_FORMAT, the request id, redaction), not
    Celery's own format: connecting this signal is what stops Celery from replacing it."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@worker_ready.connect
def _register_channel_layer(**kwargs: object) -> None:
    """Workers publish events too but have no readiness probe: each registers its channel layer
    at start like the web processes do (core.layer_shards), and logs an ERROR when its
    shard list is not the running processes'."""
    import logging

    from django.conf import settings

    from core.health import NotReady, check_channel_layer_shards

    if settings.REDIS_URL:
        try:
            check_channel_layer_shards()
        except NotReady:
            pass  # logged, with the fingerprints, where it was found
        except Exception as exc:  # Redis unreachable: the worker's broker connection says more
            logging.getLogger(__name__).warning(
                "channel layer registration failed: %s", exc.__class__.__name__
            )


# The request id of whatever enqueued a task (a request, a socket frame, another task) goes in
# the task's headers, and the worker logs the task under it: one id from the click to the email.
_TASK_CONTEXT: dict[str, object] = {}


@before_task_publish.connect
def _carry_request_id(headers: dict | None = None, **kwargs: object) -> None:
    from core.logging import request_id_var, user_id_var

    if headers is not None and request_id_var.get():
        headers.setdefault("request_id", request_id_var.get())
        if user_id_var.get():
            headers.setdefault("user_id", user_id_var.get())


@task_prerun.connect
def _adopt_request_id(task_id: str | None = None, task: object = None, **kwargs: object) -> None:
    from core.logging import request_id_var, user_id_var

    request = getattr(task, "request", None)
    request_id = getattr(request, "request_id", None)
    if request_id and task_id:  # eager tasks run inside the request's context already
        _TASK_CONTEXT[task_id] = (
            request_id_var.set(str(request_id)),
            user_id_var.set(str(getattr(request, "user_id", None) or "") or None),
        )


@task_postrun.connect
def _drop_request_id(task_id: str | None = None, **kwargs: object) -> None:
    from core.logging import request_id_var, user_id_var

    tokens = _TASK_CONTEXT.pop(task_id, None) if task_id else None
    if tokens is not None:
        user_id_var.reset(tokens[1])
        request_id_var.reset(tokens[0])
