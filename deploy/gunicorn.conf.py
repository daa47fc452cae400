"""gunicorn settings of the REST processes (deploy/k8s: web and relay; `gunicorn -c deploy/gunicorn.conf.py`).

Metrics: prometheus-client's multiprocess mode (core/metrics.py). Every worker writes
its samples under PROMETHEUS_MULTIPROC_DIR, which deploy/run-with-metrics.sh empties before
gunicorn starts; a worker that exits is marked dead here, so its live gauges stop counting.

Graceful shutdown: on SIGTERM gunicorn stops accepting, lets in-flight requests finish for up
to graceful_timeout, then exits (k8s' terminationGracePeriodSeconds is longer than this).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
timeout = 60
accesslog = "-"
# The path without its query string (%(U)s, not the request line): query strings carry search
# terms and signatures. The request id is nginx's (deploy/nginx/), the one the app logs under; the
# worker's pid last (which of the workers served it).
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms %({x-request-id}i)s pid=%(p)s'


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
