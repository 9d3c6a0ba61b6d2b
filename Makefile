# fund-ledger: every target sets up what it needs on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
PYTEST := $(BIN)/python -m pytest

.PHONY: demo test test-unit test-integration test-kafka lint services pg-start pg-stop kafka-start kafka-stop stop bench bench-large bench-curve soak fuzz clean serve service-stop browser

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The main job on the embedded default (SQLite): one region, one year.
demo: $(STAMP)
	$(BIN)/fund-ledger demo

## The whole suite, servers (and the headless browser for the page's test) included.
test: $(STAMP) $(BENCH_STAMP) services browser lint
	$(PYTEST) tests -q

## Debian's chromium and its driver (and CJK fonts) for tests/api/test_browser.py: installed if missing.
BROWSER_PACKAGES := chromium chromium-driver fonts-noto-cjk
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -d /usr/share/fonts/opentype/noto ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing $(BROWSER_PACKAGES) (Debian packages)"; \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BROWSER_PACKAGES) >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BROWSER_PACKAGES) >/dev/null)); \
	else echo "need Debian's $(BROWSER_PACKAGES): sudo apt-get install $(BROWSER_PACKAGES)"; exit 1; fi

## The service on 127.0.0.1: PostgreSQL, Kafka, the consumer, the live projector and the HTTP
## service, supervised; the demo's books if the ledger is empty; prints the page's URL and a token.
serve: $(STAMP) services
	deploy/service/serve.sh start

service-stop:
	deploy/service/serve.sh stop

test-unit: $(STAMP)
	$(PYTEST) tests/unit -q

test-integration: $(STAMP) services
	$(PYTEST) tests/integration -q

lint: $(STAMP)
	$(BIN)/ruff check $(wildcard ledger adapters projections consumers cli api tests bench deploy/service)
	$(BIN)/mypy

services: pg-start kafka-start

pg-start:
	deploy/postgres/start.sh

pg-stop:
	deploy/postgres/stop.sh

kafka-start:
	deploy/kafka/start.sh

kafka-stop:
	deploy/kafka/stop.sh

stop: service-stop kafka-stop pg-stop

## A long fuzzing run over the whole message path (make test runs a bounded one).
FUZZ_EXAMPLES ?= 20000
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 $(PYTEST) tests/fuzz -q

## Benchmarks (slow; figures go to docs/benchmarks.md). They install the `bench` extra (matplotlib),
## and write their files (messages with birth dates and employers, made up) for their owner alone.

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) services
	umask 077 && $(BIN)/python -m bench.run
	umask 077 && $(BIN)/python -m bench.api

## Year-end interest at 10,000, 100,000 and 1,000,000 accounts, with a kill -9 and restart at the
## largest (about an hour and a half on 2 cores; figures go to docs/benchmarks.md), then the curve's
## point at 1,000,000 accounts (about two hours more, profiles included), even when an interest target was missed.
bench-large: $(BENCH_STAMP) services
	umask 077; $(BIN)/python -m bench.interest large --write; status=$$?; \
	$(BIN)/python -m bench.curve --sizes 1000000 --write && exit $$status

## The curve: ingest, replay, as-of latency and interest (rates and peak RSS) against the number of
## accounts, one fresh database per size (10,000 and 100,000: about 20 minutes on 2 cores); the
## points are merged by size into docs/curve.json, drawn in docs/curve.svg, tabled in docs/benchmarks.md.
SIZES ?= 10000,100000
bench-curve: $(BENCH_STAMP) pg-start
	umask 077 && $(BIN)/python -m bench.curve --sizes $(SIZES) --write

clean:
	rm -rf .run $(VENV) .pytest_cache .mypy_cache .ruff_cache
