# Stemma: `make demo` runs the main job, `make test` runs the tests. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Development defaults; production sets DEBUG=0 and a real SECRET_KEY (see README).
export DEBUG ?= 1
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup system-deps contract-tools demo demo-data serve test lint format migrate web worker-attribution worker-shard worker-io beat

setup: system-deps $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

system-deps:
	@bash scripts/system-deps.sh

# The npm dev tools that check the API contract (Spectral, openapi-typescript, TypeScript), pinned by
# tools/node/package-lock.json; the tests that use them skip without them, except under CI.
NODE_TOOLS_STAMP := tools/node/node_modules/.installed-$(shell sha1sum tools/node/package-lock.json | cut -c1-12)
contract-tools: $(NODE_TOOLS_STAMP)

$(NODE_TOOLS_STAMP): tools/node/package.json tools/node/package-lock.json
	SCARF_ANALYTICS=false npm ci --prefix tools/node --no-audit --no-fund --loglevel=error
	@touch $@

demo: demo-data serve

# The demo label: synthesized catalog -> fingerprints and index -> generated clips attributed ->
# last month's usage closed into statements and a payout batch. Every step is safe to re-run.
demo-data: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_build
	$(BIN)/python manage.py index_catalog --label demo
	$(BIN)/python manage.py demo_clips --label demo --partner melodia
	$(BIN)/python manage.py demo_royalties --label demo --partner melodia

serve: setup
	@echo "Stemma is at http://$(HOST):$(PORT)/  (sign in as demo / stemma-demo)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The production processes: deploy/ (compose, systemd) runs these same commands; tests/test_deploy.py checks.
migrate: setup
	$(BIN)/python manage.py migrate --noinput

web: setup
	$(BIN)/gunicorn config.wsgi:application -c python:config.gunicorn --bind $(HOST):$(PORT) --workers $${WEB_WORKERS:-3} --access-logfile -

worker-attribution: setup
	$(BIN)/celery -A config worker -Q attribution --concurrency=$${CONCURRENCY:-2} -n attribution@%h

# One index shard's worker pool (INDEX_SHARD_QUEUES=1, docs/scaling.md "Index shards"): SHARD=k serves
# the queue attribution-shard-k, and maps shard k of every sharded label's index and nothing else.
worker-shard: setup
	$(BIN)/celery -A config worker -Q attribution-shard-$${SHARD:-0} --concurrency=$${CONCURRENCY:-2} -n shard$${SHARD:-0}@%h

worker-io: setup
	$(BIN)/celery -A config worker -Q io --concurrency=$${CONCURRENCY:-4} -n io@%h

beat: setup
	$(BIN)/celery -A config beat
