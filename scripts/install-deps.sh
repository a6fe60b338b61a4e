#!/bin/sh
# Installs the Debian 12 packages amika needs to build, run and test.
# btrfs-progs: mkfs.btrfs for the embedded pool; libbtrfsutil-dev and libclang-dev: the btrfs
# bindings; busybox-static: the minimal preset; zstd: compressed image tests; systemd:
# systemd-analyze and systemd-socket-activate for the unit tests (they work without systemd as
# PID 1); passwd and util-linux: groupadd, useradd and setpriv for the access tests; git: the
# daemon's repository checkouts, and `git daemon` for the clone-by-URL tests.
set -eu
packages="btrfs-progs libbtrfsutil-dev libclang-dev pkg-config busybox-static zstd util-linux"
packages="$packages systemd passwd debootstrap git"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
for tool in systemd-analyze systemd-socket-activate groupadd useradd setpriv git; do
    if ! which "$tool" >/dev/null; then
        echo "$tool is missing after installing the packages above" >&2
        exit 1
    fi
done
