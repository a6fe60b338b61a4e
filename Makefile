# The one task runner: the README's commands and CI both call these targets.

PREFIX ?= /usr/local
STATE_DIR ?= /var/lib/amika
SOCKET ?= /run/amika/amikad.sock
LOG ?= /var/log/amikad.log

.PHONY: deps build lint test install start up stop clean bench

deps:
	./scripts/install-deps.sh

build:
	cargo build --release --bins

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# Unit tests, then integration tests against real daemons on real pools (needs root).
test: deps lint
	cargo build --workspace --bins
	cargo test --workspace

install: build
	install -d $(PREFIX)/bin
	install -m 0755 target/release/amikad target/release/amika-ctl $(PREFIX)/bin/

# Starts the installed daemon in the background on its embedded default pool and waits
# until it answers.
start:
	@if $(PREFIX)/bin/amika-ctl --socket $(SOCKET) status >/dev/null 2>&1; then \
		echo "amikad is already running"; \
	else \
		setsid $(PREFIX)/bin/amikad --state-dir $(STATE_DIR) --socket $(SOCKET) \
			</dev/null >>$(LOG) 2>&1 & \
		for i in $$(seq 1 100); do \
			$(PREFIX)/bin/amika-ctl --socket $(SOCKET) status >/dev/null 2>&1 && break; \
			sleep 0.2; \
		done; \
		$(PREFIX)/bin/amika-ctl --socket $(SOCKET) status || { tail -n 20 $(LOG); exit 1; }; \
	fi

# The README's first command: packages, build, install, start.
up: deps install start

stop:
	-pkill -TERM -x amikad

clean:
	cargo clean

# Benchmarks against a real daemon on a fresh pool; prints figures beside their baselines.
bench: deps
	cargo build --release --workspace --bins
	target/release/amika-bench --json target/bench.json
