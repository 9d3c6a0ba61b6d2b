# fund-ledger: every target sets up what it needs on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

.PHONY: demo test test-unit test-integration test-kafka lint services pg-start pg-stop kafka-start kafka-stop stop bench bench-large soak fuzz clean

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

## The whole suite, servers included.
test: $(STAMP) services lint
	$(PYTEST) tests -q

test-unit: $(STAMP)
	$(PYTEST) tests/unit -q

test-integration: $(STAMP) services
	$(PYTEST) tests/integration -q

lint: $(STAMP)
	$(BIN)/ruff check $(wildcard ledger adapters projections consumers cli tests bench)
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

stop: kafka-stop pg-stop

## A long fuzzing run over the whole message path (make test runs a bounded one).
FUZZ_EXAMPLES ?= 20000
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 $(PYTEST) tests/fuzz -q

## Benchmarks (slow; figures go to docs/benchmarks.md).
bench: $(STAMP) services
	$(BIN)/python -m bench.run

## Year-end interest at 10,000, 100,000 and 1,000,000 accounts, with a kill -9 and restart at the
## largest (about an hour and a half on 2 cores; figures go to docs/benchmarks.md).
bench-large: $(STAMP) services
	$(BIN)/python -m bench.interest large --write

clean:
	rm -rf .run $(VENV) .pytest_cache .mypy_cache .ruff_cache
