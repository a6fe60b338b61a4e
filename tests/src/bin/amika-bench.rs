//! `amika-bench`: the figures users compare, each beside a baseline measured in the same run.
//!
//! Runs against a real daemon on a fresh pool (root required). Figures:
//! - creating a sandbox from a 1 MiB and from a 1 GiB image through `amika-ctl`, beside the
//!   raw floor of a `btrfs subvolume snapshot` of the same image tree;
//! - creating a sandbox from the `minimal` preset and running its first `exec true`, beside
//!   the floor of a snapshot plus `unshare --fork --pid --mount --uts --ipc --root=CLONE
//!   /bin/true`.
//!
//! - capturing a running sandbox (`full`) beside a plain read-only `btrfs subvolume snapshot`
//!   of the same tree, and the freeze window the daemon reports;
//! - `scrub` captures after 1, 16 and 64 MiB of changes, to show scrub time against the size
//!   of what changed.
//!
//! Prints a table; `--json PATH` also writes the figures as JSON.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use amika_tests::Daemon;

const RUNS: usize = 20;

struct Figure {
    name: String,
    samples: Vec<Duration>,
}

impl Figure {
    fn sorted(&self) -> Vec<Duration> {
        let mut s = self.samples.clone();
        s.sort();
        s
    }

    fn median(&self) -> Duration {
        let s = self.sorted();
        s[s.len() / 2]
    }

    fn p90(&self) -> Duration {
        let s = self.sorted();
        s[(s.len() * 9 / 10).min(s.len() - 1)]
    }

    fn max(&self) -> Duration {
        *self.sorted().last().expect("samples")
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Writes `total` bytes of incompressible data as 1 MiB files under `dir`.
fn fill_tree(dir: &Path, total: u64) {
    std::fs::create_dir_all(dir).expect("create tree dir");
    let chunk = 1 << 20;
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut buf = vec![0u8; chunk];
    for i in 0..total.div_ceil(chunk as u64) {
        for word in buf.chunks_mut(8) {
            // xorshift: cheap bytes that no filesystem can compress or deduplicate away.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        let sub = dir.join(format!("d{}", i / 64));
        std::fs::create_dir_all(&sub).expect("create subdir");
        std::fs::write(sub.join(format!("f{i}")), &buf).expect("write file");
    }
}

fn time_creates(daemon: &Daemon, image: &str) -> Figure {
    let mut samples = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let name = format!("{image}-{i}");
        let started = Instant::now();
        daemon.ctl_ok(&[
            "-o", "json", "sandbox", "create", "--name", &name, "--image", image,
        ]);
        samples.push(started.elapsed());
    }
    for i in 0..RUNS {
        daemon.ctl_ok(&["sandbox", "delete", "--force", &format!("{image}-{i}")]);
    }
    Figure {
        name: format!("sandbox create via amika-ctl ({image} image)"),
        samples,
    }
}

fn time_raw_snapshots(daemon: &Daemon, image: &str) -> Figure {
    let image_json = daemon.ctl_json(&["image", "show", image]);
    let tree = daemon
        .pool()
        .join("images")
        .join(image_json["id"].as_str().expect("id"));
    let scratch = daemon.pool().join("staging");
    let mut samples = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let target = scratch.join(format!("floor-{i}"));
        let started = Instant::now();
        let status = Command::new("btrfs")
            .args(["-q", "subvolume", "snapshot"])
            .arg(&tree)
            .arg(&target)
            .status()
            .expect("run btrfs");
        samples.push(started.elapsed());
        assert!(status.success(), "btrfs subvolume snapshot failed");
        let _ = Command::new("btrfs")
            .args(["-q", "subvolume", "delete"])
            .arg(&target)
            .status();
    }
    Figure {
        name: format!("floor: btrfs subvolume snapshot ({image} image)"),
        samples,
    }
}

fn time_boot_and_exec(daemon: &Daemon) -> Figure {
    let mut samples = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let name = format!("boot-{i}");
        let started = Instant::now();
        daemon.ctl_ok(&[
            "-o", "json", "sandbox", "create", "--name", &name, "--preset", "minimal",
        ]);
        daemon.exec_ok(&name, &["true"]);
        samples.push(started.elapsed());
        daemon.ctl_ok(&["sandbox", "delete", "--force", &name]);
    }
    Figure {
        name: "sandbox create + first exec true (minimal)".into(),
        samples,
    }
}

fn time_raw_boot(daemon: &Daemon) -> Figure {
    let image = daemon.ctl_json(&["image", "show", "minimal"]);
    let tree = daemon
        .pool()
        .join("images")
        .join(image["id"].as_str().expect("id"));
    let mut samples = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let target = daemon
            .pool()
            .join("staging")
            .join(format!("floor-boot-{i}"));
        let started = Instant::now();
        let snap = Command::new("btrfs")
            .args(["-q", "subvolume", "snapshot"])
            .arg(&tree)
            .arg(&target)
            .status()
            .expect("run btrfs");
        let run = Command::new("unshare")
            .args(["--fork", "--pid", "--mount", "--uts", "--ipc"])
            .arg(format!("--root={}", target.display()))
            .arg("/bin/true")
            .status()
            .expect("run unshare");
        samples.push(started.elapsed());
        assert!(snap.success() && run.success(), "floor commands failed");
        let _ = Command::new("btrfs")
            .args(["-q", "subvolume", "delete"])
            .arg(&target)
            .status();
    }
    Figure {
        name: "floor: btrfs snapshot + unshare /bin/true (minimal)".into(),
        samples,
    }
}

/// The sandbox the capture figures use: running, with a secret injected.
fn capture_source(daemon: &Daemon) -> String {
    let out = daemon.ctl_with_input(
        &[
            "secret",
            "set",
            "bench-token",
            "--env",
            "BENCH_TOKEN",
            "--file",
            ".bench/token",
            "--value-stdin",
        ],
        b"bench-secret-value-0123456789abcdef",
    );
    assert!(out.status.success(), "storing the bench secret failed");
    daemon.ctl_ok(&[
        "sandbox",
        "create",
        "--name",
        "capture-src",
        "--secret",
        "bench-token",
    ]);
    "capture-src".into()
}

fn snapshot_once(daemon: &Daemon, sandbox: &str, name: &str, mode: &str) -> Duration {
    let started = Instant::now();
    daemon.snapshot(sandbox, name, mode);
    let elapsed = started.elapsed();
    daemon.ctl_ok(&["snapshot", "delete", name]);
    elapsed
}

fn time_captures(daemon: &Daemon, sandbox: &str) -> Figure {
    let samples = (0..RUNS)
        .map(|i| snapshot_once(daemon, sandbox, &format!("full-{i}"), "full"))
        .collect();
    Figure {
        name: "snapshot create --mode full (running sandbox)".into(),
        samples,
    }
}

fn time_raw_captures(daemon: &Daemon, sandbox: &str) -> Figure {
    let shown = daemon.ctl_json(&["sandbox", "show", sandbox]);
    let tree = daemon
        .pool()
        .join("sandboxes")
        .join(shown["id"].as_str().expect("id"));
    let mut samples = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let target = daemon
            .pool()
            .join("staging")
            .join(format!("floor-capture-{i}"));
        let started = Instant::now();
        let status = Command::new("btrfs")
            .args(["-q", "subvolume", "snapshot", "-r"])
            .arg(&tree)
            .arg(&target)
            .status()
            .expect("run btrfs");
        samples.push(started.elapsed());
        assert!(status.success());
        let _ = Command::new("btrfs")
            .args(["-q", "subvolume", "delete"])
            .arg(&target)
            .status();
    }
    Figure {
        name: "floor: btrfs subvolume snapshot -r (same tree)".into(),
        samples,
    }
}

/// Freeze windows the daemon logged, in microseconds.
fn freeze_windows(daemon: &Daemon) -> Figure {
    let samples = daemon
        .log()
        .lines()
        .filter_map(|l| l.split("frozen_us=").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_micros)
        .collect();
    Figure {
        name: "freeze window of those captures (daemon log)".into(),
        samples,
    }
}

fn time_scrubs(daemon: &Daemon, sandbox: &str) -> Vec<Figure> {
    [1u64, 16, 64]
        .iter()
        .map(|mib| {
            let write = format!("head -c {} /dev/urandom > ~/changed-{mib}", mib << 20);
            daemon.exec_ok(sandbox, &["sh", "-c", &write]);
            let samples = (0..RUNS)
                .map(|i| snapshot_once(daemon, sandbox, &format!("scrub-{mib}-{i}"), "scrub"))
                .collect();
            daemon.exec_ok(sandbox, &["sh", "-c", &format!("rm ~/changed-{mib}")]);
            Figure {
                name: format!("snapshot create --mode scrub, {mib} MiB changed"),
                samples,
            }
        })
        .collect()
}

fn main() {
    let json_out = std::env::args().skip_while(|a| a != "--json").nth(1);
    let daemon = Daemon::start_with(&[("AMIKA_LOG", "info")], "4G");
    let work = tempfile::tempdir_in("/var/tmp").expect("temp dir");

    eprintln!("preparing a 1 MiB and a 1 GiB image...");
    for (name, size) in [("small", 1u64 << 20), ("large", 1u64 << 30)] {
        let dir = work.path().join(name);
        fill_tree(&dir, size);
        daemon.ctl_ok(&["image", "import", name, dir.to_str().expect("utf-8 path")]);
    }

    // Build the preset before measuring anything that uses it.
    daemon.ctl_ok(&[
        "sandbox", "create", "--name", "warm-up", "--preset", "minimal",
    ]);
    daemon.ctl_ok(&["sandbox", "delete", "--force", "warm-up"]);

    let mut figures = vec![
        time_raw_snapshots(&daemon, "small"),
        time_creates(&daemon, "small"),
        time_raw_snapshots(&daemon, "large"),
        time_creates(&daemon, "large"),
        time_raw_boot(&daemon),
        time_boot_and_exec(&daemon),
    ];
    let source = capture_source(&daemon);
    figures.push(time_raw_captures(&daemon, &source));
    figures.push(time_captures(&daemon, &source));
    figures.push(freeze_windows(&daemon));
    figures.extend(time_scrubs(&daemon, &source));

    println!(
        "{:<56} {:>9} {:>9} {:>9}",
        "figure (ms, n=20)", "median", "p90", "max"
    );
    for f in &figures {
        println!(
            "{:<56} {:>9.2} {:>9.2} {:>9.2}",
            f.name,
            ms(f.median()),
            ms(f.p90()),
            ms(f.max())
        );
    }
    let ratio = |a: &Figure, b: &Figure| ms(a.median()) / ms(b.median());
    let size_ratio = ratio(&figures[3], &figures[1]);
    let floor_small = ratio(&figures[1], &figures[0]);
    let floor_large = ratio(&figures[3], &figures[2]);
    println!("create 1 GiB / create 1 MiB (median): {size_ratio:.2}x");
    println!("create / floor, 1 MiB image: {floor_small:.2}x; 1 GiB image: {floor_large:.2}x");
    let boot_ratio = ratio(&figures[5], &figures[4]);
    println!("create + first exec / floor: {boot_ratio:.2}x");
    let capture_ratio = ratio(&figures[7], &figures[6]);
    println!("capture (full) / read-only snapshot floor: {capture_ratio:.2}x");

    if let Some(path) = json_out {
        let rows: Vec<_> = figures
            .iter()
            .map(|f| {
                serde_json::json!({
                    "figure": f.name,
                    "median_ms": ms(f.median()),
                    "p90_ms": ms(f.p90()),
                    "max_ms": ms(f.max()),
                    "runs": f.samples.len(),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "figures": rows,
            "ratios": {
                "create_large_over_small": size_ratio,
                "create_over_floor_small": floor_small,
                "create_over_floor_large": floor_large,
                "boot_and_exec_over_floor": boot_ratio,
                "capture_full_over_floor": capture_ratio,
            }
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("json"))
            .expect("write the JSON report");
    }
}
