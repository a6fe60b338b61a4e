//! Test data trees and the raw floors: plain `btrfs` or `zfs` and `unshare`, with no daemon
//! between.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use amika_tests::{Backend, Daemon};

use crate::figure::{Figure, RUNS};

/// Bytes of incompressible data: xorshift output no filesystem can compress or deduplicate.
struct Noise(u64);

impl Noise {
    fn fill(&mut self, buf: &mut [u8]) {
        for word in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            word.copy_from_slice(&self.0.to_le_bytes()[..word.len()]);
        }
    }
}

/// Writes `total` bytes of incompressible data as 1 MiB files under `dir`.
pub fn fill_tree(dir: &Path, total: u64) {
    let chunk = 1 << 20;
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut buf = vec![0u8; chunk];
    for i in 0..total.div_ceil(chunk as u64) {
        noise.fill(&mut buf);
        let sub = dir.join(format!("d{}", i / 64));
        std::fs::create_dir_all(&sub).expect("create subdir");
        std::fs::write(sub.join(format!("f{i}")), &buf).expect("write file");
    }
}

/// Size of each file in the many-small-files trees.
const SMALL_FILE: usize = 16 << 10;

/// Writes up to `total` bytes as 16 KiB files, 64 to a directory, 64 directories to a parent.
/// Stops at half of `total` when that half took longer than `half_budget`. Returns the bytes
/// written.
pub fn fill_small_files(dir: &Path, total: u64, half_budget: Duration) -> u64 {
    let started = Instant::now();
    let mut noise = Noise(0x2545_f491_4f6c_dd1d);
    let mut buf = vec![0u8; SMALL_FILE];
    let files = total / SMALL_FILE as u64;
    for i in 0..files {
        if i == files / 2 && i > 0 && started.elapsed() > half_budget {
            return i * SMALL_FILE as u64;
        }
        let sub = dir.join(format!("a{}/b{}", i / 4096, i / 64 % 64));
        if i % 64 == 0 {
            std::fs::create_dir_all(&sub).expect("create subdir");
        }
        noise.fill(&mut buf);
        std::fs::write(sub.join(format!("f{i}")), &buf).expect("write file");
    }
    files * SMALL_FILE as u64
}

/// Runs `btrfs -q subvolume ARGS`; returns whether it succeeded.
fn subvolume(args: &[&str], paths: &[&Path]) -> bool {
    Command::new("btrfs")
        .args(["-q", "subvolume"])
        .args(args)
        .args(paths)
        .status()
        .expect("run btrfs")
        .success()
}

/// Runs `zfs ARGS`; returns whether it succeeded.
fn zfs(args: &[&str]) -> bool {
    Command::new("zfs")
        .args(args)
        .status()
        .expect("run zfs")
        .success()
}

/// The dataset of a tree in a ZFS daemon's pool.
fn dataset_of(daemon: &Daemon, tree: &Path) -> String {
    let rel = tree
        .strip_prefix(daemon.pool())
        .expect("a tree in the pool");
    format!(
        "{}/{}",
        daemon.dataset().expect("a ZFS daemon"),
        rel.display()
    )
}

/// A copy of a tree made the raw way, with the filesystem's own command and no daemon.
enum RawCopy {
    /// A btrfs snapshot subvolume.
    Subvolume(PathBuf),
    /// A ZFS clone, writable.
    Clone(String),
    /// A ZFS snapshot, read-only.
    Snapshot(String),
}

/// Copies `tree` as copy number `n`: a btrfs snapshot (`-r` when `readonly`), or on ZFS a
/// clone of the tree's `@sealed` snapshot, or when `readonly` a snapshot of the tree. Returns
/// the copy and where it is mounted (none for a ZFS snapshot), or `None` on failure.
fn raw_copy(daemon: &Daemon, tree: &Path, n: usize, readonly: bool) -> Option<(RawCopy, PathBuf)> {
    let target = daemon.pool().join("staging").join(format!("floor-{n}"));
    match daemon.backend() {
        Backend::Btrfs => {
            let flags: &[&str] = match readonly {
                true => &["snapshot", "-r"],
                false => &["snapshot"],
            };
            subvolume(flags, &[tree, &target]).then(|| (RawCopy::Subvolume(target.clone()), target))
        }
        Backend::Zfs if readonly => {
            let snapshot = format!("{}@floor-{n}", dataset_of(daemon, tree));
            zfs(&["snapshot", &snapshot]).then(|| (RawCopy::Snapshot(snapshot), PathBuf::new()))
        }
        Backend::Zfs => {
            let origin = format!("{}@sealed", dataset_of(daemon, tree));
            let clone = dataset_of(daemon, &target);
            zfs(&["clone", &origin, &clone]).then_some((RawCopy::Clone(clone), target))
        }
    }
}

/// Removes a raw copy. zfs-fuse leaves a dataset mounted when asked to destroy it and may
/// call it busy for a moment after the unmount, hence the unmount and the retries.
fn remove(copy: RawCopy) {
    match copy {
        RawCopy::Subvolume(path) => {
            subvolume(&["delete"], &[&path]);
        }
        RawCopy::Snapshot(name) => {
            zfs(&["destroy", &name]);
        }
        RawCopy::Clone(name) => {
            for _ in 0..50 {
                zfs(&["unmount", &name]);
                if zfs(&["destroy", &name]) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            panic!("cannot destroy the floor's clone {name}");
        }
    }
}

/// Times the raw copy of `tree` (read-only when `readonly`), `RUNS` times.
pub fn time_raw_snapshots(daemon: &Daemon, tree: &Path, readonly: bool, name: &str) -> Figure {
    let samples = (0..RUNS)
        .map(|i| {
            let started = Instant::now();
            let copy = raw_copy(daemon, tree, i, readonly);
            let elapsed = started.elapsed();
            let (copy, _) = copy.unwrap_or_else(|| panic!("copying {} failed", tree.display()));
            remove(copy);
            elapsed
        })
        .collect();
    Figure::new(name, samples)
}

/// Times a writable raw copy of `tree` plus `unshare ... --root=COPY /bin/true`, `RUNS` times,
/// each run after `pause` with nothing happening.
pub fn time_raw_boot(daemon: &Daemon, tree: &Path, name: &str, pause: Duration) -> Figure {
    let samples = (0..RUNS)
        .map(|i| {
            std::thread::sleep(pause);
            let started = Instant::now();
            let copy = raw_copy(daemon, tree, i, false);
            let (copy, root) = copy.unwrap_or_else(|| panic!("copying {} failed", tree.display()));
            let run = Command::new("unshare")
                .args(["--fork", "--pid", "--mount", "--uts", "--ipc"])
                .arg(format!("--root={}", root.display()))
                .arg("/bin/true")
                .status()
                .expect("run unshare");
            let elapsed = started.elapsed();
            assert!(
                run.success(),
                "unshare failed in a copy of {}",
                tree.display()
            );
            remove(copy);
            elapsed
        })
        .collect();
    Figure::new(name, samples)
}

/// The tree of an object in one pool area (`images`, `sandboxes`, `snapshots`).
pub fn tree_of(daemon: &Daemon, area: &str, shown: &serde_json::Value) -> std::path::PathBuf {
    let id = shown["id"].as_str().expect("an id in the JSON");
    daemon.pool().join(area).join(id)
}
