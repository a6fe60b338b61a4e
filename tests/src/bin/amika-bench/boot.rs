//! Create-and-first-exec figures: from the `minimal` preset, and from snapshots of a
//! `minimal` sandbox carrying no extra data, a 10 MiB tree and a 2 GiB tree of small files.

use std::time::{Duration, Instant};

use amika_tests::{raw_request, Daemon};

use crate::figure::{Figure, RUNS};
use crate::trees;

/// Times `sandbox create --preset minimal` plus the first `exec true`, through `amika-ctl`.
pub fn time_preset_boot(daemon: &Daemon) -> Figure {
    let samples = (0..RUNS)
        .map(|i| {
            let name = format!("boot-{i}");
            let started = Instant::now();
            daemon.ctl_ok(&[
                "-o", "json", "sandbox", "create", "--name", &name, "--preset", "minimal",
            ]);
            daemon.exec_ok(&name, &["true"]);
            let elapsed = started.elapsed();
            daemon.ctl_ok(&["sandbox", "delete", "--force", &name]);
            elapsed
        })
        .collect();
    Figure::new("sandbox create + first exec true (minimal)", samples)
}

/// A snapshot to boot from and what it holds.
pub struct Base {
    /// Snapshot name.
    pub snapshot: String,
    /// Short label for figure names: `minimal`, `10 MiB`, `2 GiB`.
    pub label: String,
    /// Bytes of data added to the `minimal` tree.
    pub data_bytes: u64,
    /// Seconds spent writing that data.
    pub write_secs: f64,
    sandbox: String,
}

/// Creates a `minimal` sandbox, writes `bytes` of 16 KiB files straight into its tree from the
/// host, and captures it (`full`) as snapshot `name`. Writing stops at half the size when the
/// first half took longer than `half_budget`; `data_bytes` says what was written.
pub fn make_base(daemon: &Daemon, name: &str, bytes: u64, half_budget: Duration) -> Base {
    let sandbox = format!("{name}-src");
    let shown = daemon.ctl_json(&[
        "sandbox", "create", "--name", &sandbox, "--preset", "minimal",
    ]);
    let tree = trees::tree_of(daemon, "sandboxes", &shown);
    assert!(
        tree.join("bin").exists(),
        "{} is not the sandbox's root tree",
        tree.display()
    );
    let started = Instant::now();
    let written = match bytes {
        0 => 0,
        _ => trees::fill_small_files(&tree.join("bench-data"), bytes, half_budget),
    };
    let write_secs = started.elapsed().as_secs_f64();
    daemon.snapshot(&sandbox, name, "full");
    Base {
        snapshot: name.to_owned(),
        label: label(written),
        data_bytes: written,
        write_secs,
        sandbox,
    }
}

fn label(bytes: u64) -> String {
    match bytes {
        0 => "no data".into(),
        b if b >= 1 << 30 => format!("{} GiB", b >> 30),
        b => format!("{} MiB", b >> 20),
    }
}

/// Deletes the sandbox a base was captured from; the snapshot stays.
pub fn drop_source(daemon: &Daemon, base: &Base) {
    daemon.ctl_ok(&["sandbox", "delete", "--force", &base.sandbox]);
}

/// The idle floor and the idle create-and-exec of `base`, both after `pause` of quiet.
pub fn time_idle_pair(daemon: &Daemon, base: &Base, pause: Duration) -> [Figure; 2] {
    let shown = daemon.ctl_json(&["snapshot", "show", &base.snapshot]);
    let tree = trees::tree_of(daemon, "snapshots", &shown);
    let name = format!(
        "floor: snapshot + unshare /bin/true ({}), after {} ms idle",
        base.label,
        pause.as_millis()
    );
    let floor = trees::time_raw_boot(daemon, &tree, &name, pause);
    [floor, time_idle_boot(daemon, base, pause)]
}

/// Times create through the API plus the first exec through `amika-ctl`, each run after
/// `pause` with nothing happening, as someone typing commands sees it; the back-to-back runs
/// of [`time_snapshot_boot`] find some kernel locks still warm from the run before.
fn time_idle_boot(daemon: &Daemon, base: &Base, pause: Duration) -> Figure {
    let samples = (0..RUNS)
        .map(|i| {
            let name = format!("{}-idle-{i}", base.snapshot);
            let body = serde_json::json!({"name": name, "snapshot": base.snapshot}).to_string();
            std::thread::sleep(pause);
            let started = Instant::now();
            let (status, reply) = raw_request(&daemon.socket(), "POST", "/v1/sandboxes", &body);
            assert_eq!(status, 201, "create from {} failed: {reply}", base.snapshot);
            daemon.exec_ok(&name, &["true"]);
            let elapsed = started.elapsed();
            daemon.ctl_ok(&["sandbox", "delete", "--force", &name]);
            elapsed
        })
        .collect();
    Figure::new(idle_name(&base.label, pause), samples)
}

/// The name of the [`time_idle_boot`] figure of the base labelled `label`.
pub fn idle_name(label: &str, pause: Duration) -> String {
    format!(
        "API create + ctl exec true ({label}), after {} ms idle",
        pause.as_millis()
    )
}

/// Boot figures for one base: the raw floor, create through the API, create through the API
/// plus the first exec through `amika-ctl`, and the whole path through `amika-ctl`.
pub fn time_snapshot_boot(daemon: &Daemon, base: &Base) -> [Figure; 4] {
    let shown = daemon.ctl_json(&["snapshot", "show", &base.snapshot]);
    let tree = trees::tree_of(daemon, "snapshots", &shown);
    let label = &base.label;
    let floor = trees::time_raw_boot(
        daemon,
        &tree,
        &format!("floor: snapshot + unshare /bin/true ({label})"),
        Duration::ZERO,
    );

    let mut api = Vec::with_capacity(RUNS);
    let mut api_exec = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let name = format!("{}-api-{i}", base.snapshot);
        let body = serde_json::json!({"name": name, "snapshot": base.snapshot}).to_string();
        let started = Instant::now();
        let (status, reply) = raw_request(&daemon.socket(), "POST", "/v1/sandboxes", &body);
        api.push(started.elapsed());
        assert_eq!(status, 201, "create from {} failed: {reply}", base.snapshot);
        daemon.exec_ok(&name, &["true"]);
        api_exec.push(started.elapsed());
        daemon.ctl_ok(&["sandbox", "delete", "--force", &name]);
    }

    let ctl = (0..RUNS)
        .map(|i| {
            let name = format!("{}-ctl-{i}", base.snapshot);
            let started = Instant::now();
            daemon.ctl_ok(&[
                "-o",
                "json",
                "sandbox",
                "create",
                "--name",
                &name,
                "--snapshot",
                &base.snapshot,
            ]);
            daemon.exec_ok(&name, &["true"]);
            let elapsed = started.elapsed();
            daemon.ctl_ok(&["sandbox", "delete", "--force", &name]);
            elapsed
        })
        .collect();

    [
        floor,
        Figure::new(format!("API create from snapshot ({label})"), api),
        Figure::new(format!("API create + ctl exec true ({label})"), api_exec),
        Figure::new(format!("ctl create --snapshot + exec true ({label})"), ctl),
    ]
}
