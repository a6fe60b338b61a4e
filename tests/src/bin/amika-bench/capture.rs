//! Capture figures: `full` snapshots of a running sandbox, their freeze windows, and `scrub`
//! captures after growing amounts of change.

use std::time::Duration;

use amika_tests::Daemon;

use crate::figure::{timed, Figure, RUNS};

/// Makes the running sandbox the capture figures use, with a secret injected.
pub fn capture_source(daemon: &Daemon) -> String {
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
    let elapsed = timed(|| {
        daemon.snapshot(sandbox, name, mode);
    });
    daemon.ctl_ok(&["snapshot", "delete", name]);
    elapsed
}

/// Times `snapshot create --mode full` of `sandbox`.
pub fn time_captures(daemon: &Daemon, sandbox: &str) -> Figure {
    let samples = (0..RUNS)
        .map(|i| snapshot_once(daemon, sandbox, &format!("full-{i}"), "full"))
        .collect();
    Figure::new("snapshot create --mode full (running sandbox)", samples)
}

/// Freeze windows the daemon has logged so far, in microseconds.
pub fn logged_freezes(daemon: &Daemon) -> Vec<Duration> {
    daemon
        .log()
        .lines()
        .filter_map(|l| l.split("frozen_us=").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_micros)
        .collect()
}

/// Freeze windows logged after the first `earlier` ones.
pub fn freeze_windows(daemon: &Daemon, earlier: usize) -> Figure {
    let samples = logged_freezes(daemon).split_off(earlier);
    Figure::new("freeze window of those captures (daemon log)", samples)
}

/// Times `scrub` captures after 1, 16 and 64 MiB of changes.
pub fn time_scrubs(daemon: &Daemon, sandbox: &str) -> Vec<Figure> {
    [1u64, 16, 64]
        .iter()
        .map(|mib| {
            let write = format!("head -c {} /dev/urandom > ~/changed-{mib}", mib << 20);
            daemon.exec_ok(sandbox, &["sh", "-c", &write]);
            let samples = (0..RUNS)
                .map(|i| snapshot_once(daemon, sandbox, &format!("scrub-{mib}-{i}"), "scrub"))
                .collect();
            daemon.exec_ok(sandbox, &["sh", "-c", &format!("rm ~/changed-{mib}")]);
            Figure::new(
                format!("snapshot create --mode scrub, {mib} MiB changed"),
                samples,
            )
        })
        .collect()
}
