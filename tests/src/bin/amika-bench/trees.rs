//! Test data trees and the raw floors: plain `btrfs` and `unshare` with no daemon between.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use amika_tests::Daemon;

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

/// A scratch path in the pool's staging area.
fn scratch(daemon: &Daemon, name: &str) -> std::path::PathBuf {
    daemon.pool().join("staging").join(name)
}

/// Times `btrfs subvolume snapshot` (`-r` when `readonly`) of `tree`, `RUNS` times.
pub fn time_raw_snapshots(daemon: &Daemon, tree: &Path, readonly: bool, name: &str) -> Figure {
    let flags: &[&str] = if readonly {
        &["snapshot", "-r"]
    } else {
        &["snapshot"]
    };
    let samples = (0..RUNS)
        .map(|i| {
            let target = scratch(daemon, &format!("floor-{i}"));
            let started = Instant::now();
            let made = subvolume(flags, &[tree, &target]);
            let elapsed = started.elapsed();
            assert!(
                made,
                "btrfs subvolume snapshot of {} failed",
                tree.display()
            );
            subvolume(&["delete"], &[&target]);
            elapsed
        })
        .collect();
    Figure::new(name, samples)
}

/// Times a snapshot of `tree` plus `unshare ... --root=CLONE /bin/true`, `RUNS` times.
pub fn time_raw_boot(daemon: &Daemon, tree: &Path, name: &str) -> Figure {
    let samples = (0..RUNS)
        .map(|i| {
            let target = scratch(daemon, &format!("floor-boot-{i}"));
            let started = Instant::now();
            let snap = subvolume(&["snapshot"], &[tree, &target]);
            let run = Command::new("unshare")
                .args(["--fork", "--pid", "--mount", "--uts", "--ipc"])
                .arg(format!("--root={}", target.display()))
                .arg("/bin/true")
                .status()
                .expect("run unshare");
            let elapsed = started.elapsed();
            assert!(
                snap && run.success(),
                "floor commands failed on {}",
                tree.display()
            );
            subvolume(&["delete"], &[&target]);
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
