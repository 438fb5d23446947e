# Auterity — the two commands a newcomer needs are `make run` and `make test`.

CARGO ?= cargo
NEXTEST_PROFILE ?= default
export AUTERITY_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
export AUTERITY_TEST_REDIS_URL ?= redis://127.0.0.1:6379
export AUTERITY_TEST_NATS_URL ?= nats://127.0.0.1:4222

.PHONY: run build test fmt lint unit crash bench clean

## Build everything (release) and start the platform on embedded defaults (SQLite in ./auterity-data).
run: build
	./target/release/auterity serve

build:
	$(CARGO) build --release -p auterity
	@if [ -n "$$CARGO_TARGET_DIR" ] && [ "$$CARGO_TARGET_DIR" != "target" ]; then \
		mkdir -p target/release && cp "$$CARGO_TARGET_DIR/release/auterity" target/release/auterity; fi

## Format check, clippy with warnings denied, and every test (SQLite, PostgreSQL, Redis, NATS).
test: fmt lint unit crash

fmt:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) build --locked -p auterity
	$(CARGO) nextest run --workspace --locked --profile $(NEXTEST_PROFILE)

## The engine's crash test: 200 runs, kill -9 five times, on SQLite, PostgreSQL and two PG workers.
crash:
	$(CARGO) nextest run -p auterity --locked --profile $(NEXTEST_PROFILE) --run-ignored only -E 'test(/crash_/)'

## Load benchmarks (see docs/benchmarks.md).
bench: build
	bash bench/auth_read.sh

clean:
	$(CARGO) clean
