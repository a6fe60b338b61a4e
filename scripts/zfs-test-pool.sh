#!/bin/sh
# Makes the ZFS pool that the integration tests and the bench use: starts zfs-fuse when no ZFS
# answers, then imports or creates the pool on a sparse file. Safe to run again and from
# several test processes at once. Each test makes its own dataset in this pool and destroys it.
#   AMIKA_TEST_ZPOOL        pool name (default amika-test)
#   AMIKA_TEST_ZPOOL_DIR    directory of its image file (default /var/tmp/amika-zfs)
#   AMIKA_TEST_ZPOOL_SIZE   size of a new image, sparse (default 8G)
set -eu
pool=${AMIKA_TEST_ZPOOL:-amika-test}
dir=${AMIKA_TEST_ZPOOL_DIR:-/var/tmp/amika-zfs}
size=${AMIKA_TEST_ZPOOL_SIZE:-8G}
image="$dir/$pool.img"

for tool in zfs zpool flock; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool is missing: run scripts/install-deps.sh (make deps) first" >&2
        exit 1
    fi
done

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9

# zpool answers once ZFS runs: the kernel module, or the zfs-fuse daemon.
if ! zpool list >/dev/null 2>&1; then
    if ! command -v zfs-fuse >/dev/null; then
        echo "no ZFS is running and zfs-fuse is not installed: run scripts/install-deps.sh" >&2
        exit 1
    fi
    echo "starting zfs-fuse"
    # A pid file left by a zfs-fuse that was killed stops a new one from starting.
    if [ -f /run/zfs-fuse.pid ] && ! kill -0 "$(cat /run/zfs-fuse.pid)" 2>/dev/null; then
        rm -f /run/zfs-fuse.pid
    fi
    # Without the lock's descriptor: the daemon would hold the lock for as long as it runs.
    zfs-fuse -p /run/zfs-fuse.pid 9>&-
    tries=0
    until zpool list >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -ge 100 ]; then
            echo "zfs-fuse did not answer within 10 s" >&2
            exit 1
        fi
        sleep 0.1
    done
fi

if zpool list -H -o name "$pool" >/dev/null 2>&1; then
    exit 0
fi
# The pool exists on its image but is not imported (ZFS was restarted without its cache).
if [ -f "$image" ] && zpool import -d "$dir" "$pool" >/dev/null 2>&1; then
    echo "imported ZFS pool $pool from $image"
    exit 0
fi
rm -f "$image"
truncate -s "$size" "$image"
zpool create -f -m none "$pool" "$image"
echo "created ZFS pool $pool on $image ($size, sparse)"
