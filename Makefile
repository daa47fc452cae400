# The README's two commands: `make run` and `make test`. Each sets up what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test lint check worker beat clean fuzz

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

# The server on the embedded default (or on whatever DATABASE_URL/REDIS_URL/... say), HTTP and
# WebSocket through one ASGI process. uvicorn, not daphne: daphne queues a whole request body in
# memory before the app reads it (+2.6 GiB for a 200 MiB upload, bench/results/upload_memory.txt),
# uvicorn grows ~4 MiB. Django has no lifespan protocol, hence --lifespan off. DEBUG=1 because
# this is a developer's server.
run: setup
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) -m uvicorn messenger.asgi:application --host $(HOST) --port $(PORT) \
		--ws websockets --lifespan off

# The whole test suite, against whatever the environment configures (embedded by default).
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

worker: setup
	$(VENV)/bin/celery -A messenger worker --loglevel=INFO

beat: setup
	$(VENV)/bin/celery -A messenger beat --loglevel=INFO

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache

# schemathesis, every check, over every operation of a real-mode server (PostgreSQL + Redis on
# loopback; database FUZZ_DATABASE, default messenger_fuzz, recreated). A few minutes; stops itself.
fuzz: setup
	$(PY) -m tests.fuzz.run $(FUZZ_ARGS)
