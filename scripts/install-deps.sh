#!/bin/sh
# Installs the Debian 12 packages amika needs to build, run and test.
# btrfs-progs: mkfs.btrfs for the embedded pool; libbtrfsutil-dev and libclang-dev: the btrfs
# bindings; busybox-static: the minimal preset; zstd: compressed image tests; systemd:
# systemd-analyze and systemd-socket-activate for the unit tests (they work without systemd as
# PID 1); passwd and util-linux: groupadd, useradd and setpriv for the access tests; git: the
# daemon's repository checkouts, and `git daemon` for the clone-by-URL tests; zfs-fuse: a ZFS
# in user space for the ZFS half of the integration tests, unless the host already has ZFS
# (zfsutils-linux). zfs-fuse is in Debian's contrib component, which is added when missing.
set -eu
installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
packages="btrfs-progs libbtrfsutil-dev libclang-dev pkg-config busybox-static zstd util-linux"
packages="$packages systemd passwd debootstrap git"
if ! installed zfsutils-linux; then
    packages="$packages zfs-fuse"
    contrib=/etc/apt/sources.list.d/debian-contrib.sources
    if ! grep -qs '^Components:.*contrib' /etc/apt/sources.list.d/*.sources &&
        ! grep -qs '^deb .* contrib' /etc/apt/sources.list /etc/apt/sources.list.d/*.list; then
        . /etc/os-release
        echo "adding Debian's contrib component for zfs-fuse: $contrib"
        cat >"$contrib" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: $VERSION_CODENAME
Components: contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    fi
fi
missing=""
for p in $packages; do
    installed "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
for tool in systemd-analyze systemd-socket-activate groupadd useradd setpriv git zfs zpool; do
    if ! which "$tool" >/dev/null; then
        echo "$tool is missing after installing the packages above" >&2
        exit 1
    fi
done
