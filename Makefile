# The README's two commands: `make run` and `make test`. Each sets up what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Developer commands (run, worker, beat, demo, check) run with DEBUG on unless the environment
# says otherwise: with DEBUG off the production guard (messenger/settings/base.py) refuses the
# development SECRET_KEY. HOST and PORT go along: links in emails (FRONTEND_URL) default to them.
DEV := DEBUG=$${DEBUG:-1} HOST=$(HOST) PORT=$(PORT)

.PHONY: setup run test lint check worker beat demo clean reset bench bench-smoke fuzz faults faults-smoke soak

# pip shows its progress bar: a cold install takes a minute or more and should not look hung.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(VENV)/bin/python || { echo "make: creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "make: installing requirements-dev.txt into $(VENV) (the first time takes a minute or two)"
	$(VENV)/bin/pip install --disable-pip-version-check --progress-bar on -r requirements-dev.txt
	@touch $@

setup: $(VENV)/.installed

# The server on the embedded default (or on whatever DATABASE_URL/REDIS_URL/... say), HTTP and
# WebSocket through one ASGI process. uvicorn, not daphne: daphne queues a whole request body in
# memory before the app reads it (+2.6 GiB for a 200 MiB upload, bench/results/upload_memory.txt),
# uvicorn grows ~4 MiB. Django has no lifespan protocol, hence --lifespan off. websockets-sansio:
# uvicorn's supported implementation of the websockets library (the legacy one is deprecated).
# With a broker (REDIS_URL or CELERY_BROKER_URL) tasks are queued, not run in the request: the
# Procfile's worker and beat then run alongside the server under honcho, so one command is a
# whole real-mode server. Without one, a single process (tasks run eagerly in it).
# Concurrency: every uvicorn process serves HTTP on ASGI_HTTP_THREADS threads (8; messenger/asgi.py),
# REST and /ws/ on one port. With REDIS_URL (the channel layer shared between processes) there are
# WEB_WORKERS processes (2: both cores of a small machine); without it one (the in-memory layer
# and tickets live in one process). Several processes count their metrics together in
# PROMETHEUS_MULTIPROC_DIR: $VAR_DIR/metrics/ (var/) unless set, emptied at each start (as deploy/ does).
WEB_WORKERS ?= $(if $(REDIS_URL),2,1)
run: setup
	@echo "make: applying migrations"
	$(DEV) $(PY) manage.py migrate --noinput
	@# With DEBUG off whitenoise serves only what is collected (STATIC_ROOT, var/static/): the web
	@# client, the admin's and Swagger UI's assets. With DEBUG on it finds them in place; collecting
	@# anyway keeps both modes alike (a second or two, nothing when unchanged).
	$(DEV) $(PY) manage.py collectstatic --noinput -v0
	@echo "make: serving http://$(HOST):$(PORT)/ (the web client; API docs /api/docs/, admin /admin/, WebSocket /ws/); Ctrl-C stops it"
	@if [ -n "$${REDIS_URL:-}$${CELERY_BROKER_URL:-}" ]; then \
		echo "make: a broker is configured: a Celery worker and beat run too (honcho, Procfile)"; \
		mkdir -p var; \
		if [ "$(WEB_WORKERS)" -gt 1 ] && [ -z "$${REDIS_URL:-}" ]; then \
			echo "make: WEB_WORKERS=$(WEB_WORKERS) needs REDIS_URL (sockets and tickets shared between processes)"; exit 2; \
		fi; \
		if [ "$(WEB_WORKERS)" -gt 1 ] && [ -z "$${PROMETHEUS_MULTIPROC_DIR:-}" ]; then \
			export PROMETHEUS_MULTIPROC_DIR="$${VAR_DIR:-$(CURDIR)/var}/metrics"; \
			mkdir -p "$$PROMETHEUS_MULTIPROC_DIR"; find "$$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete; \
		fi; \
		echo "make: $(WEB_WORKERS) server process(es), $${ASGI_HTTP_THREADS:-8} HTTP threads each"; \
		$(DEV) MESSENGER_PORT=$(PORT) WEB_WORKERS=$(WEB_WORKERS) PY=$(PY) CELERY=$(VENV)/bin/celery \
			exec $(VENV)/bin/honcho --no-colour --env /dev/null -f Procfile start; \
	else \
		$(DEV) exec $(PY) -m uvicorn messenger.asgi:application --host $(HOST) --port $(PORT) \
			--ws websockets-sansio --ws-per-message-deflate false --lifespan off; \
	fi

# The whole test suite, against whatever the environment configures (embedded by default).
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# What CI checks besides the tests: style, the import contracts, the types, Django's system checks, and
# that no model change lacks its migration.
check: lint
	$(DEV) $(PY) manage.py check
	$(DEV) $(PY) manage.py makemigrations --check --dry-run

# The benchmark (bench/README.md): starts its own servers on loopback against PostgreSQL and Redis
# (messenger_bench, created if missing), both topologies, a few minutes; writes
# bench/results/<date>.md. Run it alone on the machine. BENCH_ARGS adds options, e.g.
# BENCH_ARGS="--sockets 10000" or "--only send,history".
bench: setup
	$(PY) bench/run.py --topology both $(BENCH_ARGS)

# Every workload for about a second on small groups, no targets judged, nothing written: fails
# only when a workload cannot run. CI runs it so the benchmark cannot rot.
bench-smoke: setup
	$(PY) bench/run.py --smoke --topology both --sockets 40 $(BENCH_ARGS)

# Fault injection under load (bench/README.md, "Faults"): each run starts its own PostgreSQL, two
# Redis, moto's S3 and the app (gunicorn, two uvicorn, Celery worker and beat) on loopback, never
# touching the machine's own; about 2 minutes a scenario. FAULT=kill-asgi (etc.) runs one, default
# all; writes bench/results/faults-<date>.md. Root for the spool-full scenario's tmpfs.
faults: setup
	$(PY) -m bench.faults run $(or $(FAULT),all) $(FAULTS_ARGS)

# CI's short variant: kill an ASGI process, then stop PostgreSQL 8 s, in one cluster, under two
# minutes; fails when anything acknowledged is lost or doubled, or a 5xx is not a 503 + Retry-After.
faults-smoke: setup
	$(PY) -m bench.faults smoke

# 30 minutes of the same load, no fault, every process's memory and open fds sampled (a PNG beside
# the figures); SOAK_MINUTES=5 for a quicker look.
soak: setup
	$(PY) -m bench.faults soak --minutes $(or $(SOAK_MINUTES),30)

# Celery runs the queued tasks (emails, thumbnails) once REDIS_URL or CELERY_BROKER_URL is set
# (`make run` starts both then; these run one alone, e.g. a second worker).
worker: setup
	$(DEV) exec $(VENV)/bin/celery -A messenger worker --loglevel=INFO

# Its schedule file sits with the database and the key, in VAR_DIR (settings' default: var/).
beat: setup
	@mkdir -p "$${VAR_DIR:-var}"
	$(DEV) exec $(VENV)/bin/celery -A messenger beat --loglevel=INFO --schedule "$${VAR_DIR:-var}/celerybeat-schedule"

# Demo users, contacts, conversations, a group and an attachment; prints the logins.
demo: setup
	$(DEV) $(PY) manage.py migrate --noinput
	$(DEV) $(PY) manage.py demo

# Build artefacts only; the development database and media under var/ stay (see `make reset`).
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache .mypy_cache

# Deletes the development database and media (var/) after asking; CONFIRM=1 skips the question.
reset:
	@if [ "$(CONFIRM)" != "1" ]; then \
		printf "make reset deletes var/ (the development SQLite database and uploaded media). Continue? [y/N] "; \
		read answer; [ "$$answer" = "y" ] || [ "$$answer" = "Y" ] || { echo "make: nothing deleted"; exit 1; }; \
	fi
	rm -rf var
	@echo "make: var/ deleted; the next make run starts from an empty database"

# schemathesis, every check, over every operation of a real-mode server (PostgreSQL + Redis on
# loopback; database FUZZ_DATABASE, default messenger_fuzz, recreated). A few minutes; stops itself.
fuzz: setup
	$(PY) -m tests.fuzz.run $(FUZZ_ARGS)
