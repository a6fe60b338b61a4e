# The one task runner: the README's commands and CI both call these targets.

PREFIX ?= /usr/local
STATE_DIR ?= /var/lib/amika
SOCKET ?= /run/amika/amikad.sock
LOG ?= /var/log/amikad.log
PID_FILE ?= /run/amika/amikad.pid
SYSTEMD_DIR ?= /etc/systemd/system
CONF_DIR ?= /etc/amika

# systemd is the init system when this directory exists (the test sd_booted makes).
HAVE_SYSTEMD := $(shell test -d /run/systemd/system && echo yes)

# Flags for a daemon started without systemd: only the settings given to make on its command
# line or in the environment, so that /etc/amika/amikad.toml decides the rest.
given = $(filter-out file default,$(origin $(1)))
DAEMON_FLAGS := $(if $(call given,STATE_DIR),--state-dir $(STATE_DIR)) \
	$(if $(call given,SOCKET),--socket $(SOCKET))

.PHONY: deps build lint test install uninstall start up stop clean bench

deps:
	./scripts/install-deps.sh

build:
	cargo build --release --bins

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# Unit tests, then integration tests against real daemons on real pools (needs root): a
# loop-backed btrfs pool per test, and for the tests of storage a ZFS dataset too, in the pool
# that zfs-test-pool.sh keeps (starting zfs-fuse when no ZFS runs).
test: deps lint
	./scripts/zfs-test-pool.sh
	cargo build --workspace --bins
	cargo test --workspace

# The binaries, the systemd units (ExecStart pointed at PREFIX), an example configuration,
# and the group whose members may use the daemon.
install: build
	install -d $(PREFIX)/bin
	install -m 0755 target/release/amikad target/release/amika-ctl $(PREFIX)/bin/
	install -d $(SYSTEMD_DIR)
	sed 's|^ExecStart=/usr/local/bin/amikad|ExecStart=$(PREFIX)/bin/amikad|' \
		systemd/amikad.service >$(SYSTEMD_DIR)/amikad.service
	chmod 0644 $(SYSTEMD_DIR)/amikad.service
	install -m 0644 systemd/amikad.socket $(SYSTEMD_DIR)/amikad.socket
	install -d -m 0755 $(CONF_DIR)
	install -m 0644 systemd/amikad.toml.example $(CONF_DIR)/amikad.toml.example
	getent group amika >/dev/null || groupadd --system amika
	if [ "$(HAVE_SYSTEMD)" = yes ]; then systemctl daemon-reload; fi

# Stops the daemon and removes what install put in place. The state directory, the pool and
# a configuration file written by hand stay; so does the group while it has members.
uninstall: stop
	if [ "$(HAVE_SYSTEMD)" = yes ]; then \
		systemctl disable amikad.socket amikad.service 2>/dev/null || true; \
	fi
	rm -f $(PREFIX)/bin/amikad $(PREFIX)/bin/amika-ctl
	rm -f $(SYSTEMD_DIR)/amikad.service $(SYSTEMD_DIR)/amikad.socket
	rm -f $(CONF_DIR)/amikad.toml.example
	-rmdir $(CONF_DIR) 2>/dev/null
	if [ "$(HAVE_SYSTEMD)" = yes ]; then systemctl daemon-reload; fi
	if getent group amika >/dev/null && [ -z "$$(getent group amika | cut -d: -f4)" ]; then \
		groupdel amika || echo "kept group amika: it is still some user's primary group"; \
	fi

# Starts the installed daemon and waits until it answers: under systemd through its units,
# otherwise detached in the background (the command returns once the socket serves).
start:
	@if [ "$(HAVE_SYSTEMD)" = yes ]; then \
		systemctl daemon-reload && systemctl enable --now amikad.socket amikad.service; \
	elif $(PREFIX)/bin/amika-ctl --socket $(SOCKET) status >/dev/null 2>&1; then \
		echo "amikad is already running"; \
	else \
		$(PREFIX)/bin/amikad --daemonize --pid-file $(PID_FILE) --log-file $(LOG) \
			$(DAEMON_FLAGS) || { tail -n 20 $(LOG); exit 1; }; \
	fi
	$(PREFIX)/bin/amika-ctl --socket $(SOCKET) status

# The README's first command: packages, build, install, start.
up: deps install start

stop:
	@if [ "$(HAVE_SYSTEMD)" = yes ] && systemctl is-active --quiet amikad.service amikad.socket; then \
		systemctl stop amikad.socket amikad.service; \
	elif [ -f $(PID_FILE) ]; then \
		pid=$$(cat $(PID_FILE)); \
		if [ "$$(cat /proc/$$pid/comm 2>/dev/null)" = amikad ]; then \
			kill -TERM "$$pid"; \
		else \
			echo "amikad (pid $$pid in $(PID_FILE)) is not running"; \
		fi; \
	else \
		echo "no amikad unit is active and there is no $(PID_FILE)"; \
	fi

clean:
	cargo clean

# Benchmarks against a real daemon on a fresh pool; prints figures beside their baselines.
# The ZFS rows need the test pool; without ZFS the bench says so and skips them.
# BENCH_FLAGS=--favordynmods adds rows with the kernel's favordynmods cgroup option turned on,
# which the host then keeps until it reboots.
bench: deps
	./scripts/zfs-test-pool.sh || echo "no ZFS test pool: the bench skips its ZFS rows"
	cargo build --release --workspace --bins
	target/release/amika-bench --json target/bench.json $(BENCH_FLAGS)
