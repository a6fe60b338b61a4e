//! `amika-bench`: the figures users compare, each beside a baseline measured in the same run.
//!
//! Runs against a real daemon on a fresh 8 GiB pool (root required). Figures:
//! - creating a sandbox from a 1 MiB and from a 1 GiB image through `amika-ctl`, beside the
//!   raw floor of a `btrfs subvolume snapshot` of the same image tree;
//! - creating a sandbox and running its first `exec true`, from the `minimal` preset and from
//!   snapshots of a `minimal` sandbox holding no extra data, a 10 MiB and a 2 GiB tree of
//!   16 KiB files: through the API directly and through `amika-ctl`, beside the floor of a
//!   snapshot plus `unshare --fork --pid --mount --uts --ipc --root=CLONE /bin/true`;
//! - capturing a running sandbox (`full`) beside a plain read-only snapshot of the same tree,
//!   the freeze window the daemon reports, and `scrub` captures after 1, 16 and 64 MiB of
//!   changes;
//! - density: time and memory per sandbox with 200 running, and the daemon's own memory;
//! - `sandbox list` with 1,000 sandboxes present, beside the same list with none;
//! - 50 creates sent at once, beside 50 sent one after another;
//! - `systemd-nspawn` and LXC on the same tree, where installed;
//! - on ZFS, a second daemon on a dataset of the ZFS test pool: create from the 10 MiB
//!   snapshot plus the first exec beside `zfs clone` plus `unshare`, and the `full` capture
//!   beside a plain `zfs snapshot`, each also compared with the btrfs figure of this run;
//! - with `--favordynmods`, last: the 10 MiB snapshot boots again on a daemon that turned on
//!   the kernel's `favordynmods` cgroup option, beside the same figures without it. The host
//!   keeps the option until it reboots, which is why it is not the default.
//!
//! Prints a table; `--json PATH` also writes the figures as JSON.

mod boot;
mod capture;
mod figure;
mod others;
mod scale;
mod trees;

use std::time::Duration;

use amika_tests::{Backend, Daemon};
use serde_json::{json, Map, Value};

use figure::{ms, ratio, Fact, Figure};

/// Everything one run measured.
#[derive(Default)]
struct Report {
    figures: Vec<Figure>,
    ratios: Vec<(String, f64)>,
    facts: Vec<Fact>,
    notes: Vec<String>,
}

impl Report {
    /// The figure named `name`, measured earlier in this run.
    fn figure(&self, name: &str) -> &Figure {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no figure named {name:?}"))
    }

    /// Records the ratio of two figures' medians.
    fn ratio(&mut self, key: &str, a: &Figure, b: &Figure) {
        self.ratios.push((key.to_owned(), ratio(a, b)));
    }

    fn print(&self) {
        println!(
            "{:<60} {:>9} {:>9} {:>9}",
            "figure (ms)", "median", "p90", "max"
        );
        for f in &self.figures {
            let (median, p90, max) = (ms(f.median()), ms(f.p90()), ms(f.max()));
            println!("{:<60} {median:>9.2} {p90:>9.2} {max:>9.2}", f.name);
        }
        println!();
        for (key, value) in &self.ratios {
            println!("{key}: {value:.2}x");
        }
        println!();
        for f in &self.facts {
            println!("{}: {:.2} {}", f.key, f.value, f.unit);
        }
        for note in &self.notes {
            println!("{note}");
        }
    }

    fn json(&self) -> Value {
        let ratios: Map<String, Value> = self
            .ratios
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let facts: Map<String, Value> = self
            .facts
            .iter()
            .map(|f| (f.key.clone(), json!(f.value)))
            .collect();
        json!({
            "figures": self.figures.iter().map(Figure::json).collect::<Vec<_>>(),
            "ratios": ratios,
            "facts": facts,
            "notes": self.notes,
        })
    }
}

/// Image creates beside their snapshot floors, and the `minimal` preset boot beside its own.
fn image_figures(daemon: &Daemon, report: &mut Report) {
    let work = tempfile::tempdir_in("/var/tmp").expect("temp dir");
    eprintln!("preparing a 1 MiB and a 1 GiB image...");
    for (name, size) in [("small", 1u64 << 20), ("large", 1u64 << 30)] {
        let dir = work.path().join(name);
        trees::fill_tree(&dir, size);
        daemon.ctl_ok(&["image", "import", name, dir.to_str().expect("utf-8 path")]);
    }
    drop(work);
    settle();

    let mut pairs = Vec::new();
    for image in ["small", "large"] {
        let tree = trees::tree_of(
            daemon,
            "images",
            &daemon.ctl_json(&["image", "show", image]),
        );
        let label = format!("floor: btrfs subvolume snapshot ({image} image)");
        let floor = trees::time_raw_snapshots(daemon, &tree, false, &label);
        let create = time_image_creates(daemon, image);
        pairs.push((floor, create));
    }
    let [(small_floor, small), (large_floor, large)] =
        <[_; 2]>::try_from(pairs).ok().expect("two images");
    report.ratio("create_large_over_small", &large, &small);
    report.ratio("create_over_floor_small", &small, &small_floor);
    report.ratio("create_over_floor_large", &large, &large_floor);
    report
        .figures
        .extend([small_floor, small, large_floor, large]);

    let minimal = trees::tree_of(
        daemon,
        "images",
        &daemon.ctl_json(&["image", "show", "minimal"]),
    );
    let floor = trees::time_raw_boot(
        daemon,
        &minimal,
        "floor: snapshot + unshare /bin/true (minimal)",
        Duration::ZERO,
    );
    let boot = boot::time_preset_boot(daemon);
    report.ratio("boot_and_exec_over_floor", &boot, &floor);
    report.figures.extend([floor, boot]);

    let (figures, notes) = others::compare(daemon, &minimal);
    report.figures.extend(figures);
    report.notes.extend(notes);
}

fn time_image_creates(daemon: &Daemon, image: &str) -> Figure {
    let names: Vec<String> = (0..figure::RUNS).map(|i| format!("{image}-{i}")).collect();
    let samples = names
        .iter()
        .map(|name| {
            figure::timed(|| {
                daemon.ctl_ok(&[
                    "-o", "json", "sandbox", "create", "--name", name, "--image", image,
                ]);
            })
        })
        .collect();
    scale::delete_all(daemon, &names);
    Figure::new(
        format!("sandbox create via amika-ctl ({image} image)"),
        samples,
    )
}

/// Boots from snapshots with no data, 10 MiB and 2 GiB of small files.
fn snapshot_figures(daemon: &Daemon, report: &mut Report) {
    let sizes = [
        ("snap-min", 0),
        ("snap-10m", 10 << 20),
        ("snap-2g", 2 << 30),
    ];
    let mut per_base = Vec::new();
    for (name, bytes) in sizes {
        eprintln!("preparing snapshot {name}...");
        let base = boot::make_base(daemon, name, bytes, Duration::from_secs(60));
        if bytes > 0 {
            let key = format!("write_secs_{}", base.label.replace(' ', "").to_lowercase());
            report.facts.push(figure::fact(key, base.write_secs, "s"));
        }
        if bytes > 0 && base.data_bytes < bytes {
            report.notes.push(format!(
                "{name}: writing {} MiB of small files was too slow; measured with {}",
                bytes >> 20,
                base.label
            ));
        }
        settle();
        let figures = boot::time_snapshot_boot(daemon, &base);
        if bytes == 10 << 20 {
            let [floor, idle] = boot::time_idle_pair(daemon, &base, IDLE_PAUSE);
            report.ratio("idle_boot_api_exec_over_idle_floor_10mib", &idle, &floor);
            report.figures.extend([floor, idle]);
        }
        boot::drop_source(daemon, &base);
        per_base.push(figures);
    }
    let [min, small, large] = <[_; 3]>::try_from(per_base).ok().expect("three bases");
    report.ratio("snapshot_boot_ctl_over_floor", &min[3], &min[0]);
    report.ratio("snapshot_boot_api_exec_over_floor", &min[2], &min[0]);
    report.ratio("snapshot_boot_ctl_large_over_10mib", &large[3], &small[3]);
    report.ratio(
        "snapshot_boot_api_exec_large_over_10mib",
        &large[2],
        &small[2],
    );
    report.ratio("snapshot_create_api_large_over_10mib", &large[1], &small[1]);
    report.ratio("snapshot_boot_ctl_large_over_floor", &large[3], &large[0]);
    for figures in [min, small, large] {
        report.figures.extend(figures);
    }
}

/// Capture figures on one running sandbox, which is deleted afterwards.
fn capture_figures(daemon: &Daemon, report: &mut Report) {
    let source = capture::capture_source(daemon);
    let tree = trees::tree_of(
        daemon,
        "sandboxes",
        &daemon.ctl_json(&["sandbox", "show", &source]),
    );
    let floor = trees::time_raw_snapshots(
        daemon,
        &tree,
        true,
        "floor: btrfs subvolume snapshot -r (same tree)",
    );
    let earlier = capture::logged_freezes(daemon).len();
    let capture = capture::time_captures(daemon, &source);
    report.ratio("capture_full_over_floor", &capture, &floor);
    report
        .figures
        .extend([floor, capture, capture::freeze_windows(daemon, earlier)]);
    report.figures.extend(capture::time_scrubs(daemon, &source));
    daemon.ctl_ok(&["sandbox", "delete", "--force", &source]);
}

/// The create-and-first-exec figures from a 10 MiB snapshot and the `full` capture, on a
/// daemon of its own on ZFS, each beside its ZFS floor and beside the btrfs figure of this
/// run. Skipped, with a note, when the ZFS test pool is not there.
fn zfs_figures(report: &mut Report) {
    let pool = amika_tests::zfs::pool();
    let available = std::process::Command::new("zpool")
        .args(["list", "-H", "-o", "name", &pool])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        report.notes.push(format!(
            "ZFS rows skipped: ZFS pool {pool} is not imported (scripts/zfs-test-pool.sh makes it)"
        ));
        return;
    }
    let daemon = Daemon::start_on_with_env(Backend::Zfs, &[("AMIKA_LOG", "info")]);
    daemon.ctl_ok(&[
        "sandbox", "create", "--name", "warm-up", "--preset", "minimal",
    ]);
    daemon.ctl_ok(&["sandbox", "delete", "--force", "warm-up"]);

    eprintln!("preparing snapshot zsnap-10m on ZFS...");
    let base = boot::make_base(&daemon, "zsnap-10m", 10 << 20, Duration::from_secs(60));
    settle();
    let mut boots = boot::time_snapshot_boot(&daemon, &base);
    boot::drop_source(&daemon, &base);

    let source = capture::capture_source(&daemon);
    let tree = trees::tree_of(
        &daemon,
        "sandboxes",
        &daemon.ctl_json(&["sandbox", "show", &source]),
    );
    let floor = trees::time_raw_snapshots(&daemon, &tree, true, "floor: zfs snapshot (same tree)");
    let earlier = capture::logged_freezes(&daemon).len();
    let capture = capture::time_captures(&daemon, &source);
    let freezes = capture::freeze_windows(&daemon, earlier);
    daemon.ctl_ok(&["sandbox", "delete", "--force", &source]);

    for f in boots.iter_mut() {
        f.name = format!("zfs: {}", f.name);
    }
    report.ratio("zfs_snapshot_boot_ctl_over_floor", &boots[3], &boots[0]);
    report.ratio(
        "zfs_snapshot_boot_api_exec_over_floor",
        &boots[2],
        &boots[0],
    );
    let btrfs_boot = report.figure("ctl create --snapshot + exec true (10 MiB)");
    let zfs_over_btrfs = ratio(&boots[3], btrfs_boot);
    report
        .ratios
        .push(("zfs_over_btrfs_snapshot_boot_ctl".into(), zfs_over_btrfs));
    let mut captures = [floor, capture, freezes];
    for f in captures.iter_mut() {
        f.name = format!("zfs: {}", f.name);
    }
    report.ratio("zfs_capture_full_over_floor", &captures[1], &captures[0]);
    let btrfs_capture = report.figure("snapshot create --mode full (running sandbox)");
    let zfs_over_btrfs = ratio(&captures[1], btrfs_capture);
    report
        .ratios
        .push(("zfs_over_btrfs_capture_full".into(), zfs_over_btrfs));
    report.figures.extend(boots);
    report.figures.extend(captures);
}

/// Density, the list with 1,000 sandboxes, and concurrent creates.
fn scale_figures(daemon: &Daemon, report: &mut Report) {
    let empty = scale::time_list(daemon, "ctl -o json sandbox list (0 sandboxes)");
    eprintln!("starting 200 sandboxes...");
    let (mut names, dense, facts) = scale::density(daemon, 200);
    report.facts.extend(facts);
    eprintln!("filling to 1,000 sandboxes...");
    scale::fill_to(daemon, &mut names, 1000);
    let full = scale::time_list(daemon, "ctl -o json sandbox list (1,000 sandboxes)");
    report.ratio("list_1000_over_0", &full, &empty);
    eprintln!("deleting 1,000 sandboxes...");
    scale::delete_all(daemon, &names);
    report.figures.extend([dense, empty, full]);

    eprintln!("50 concurrent creates...");
    let run = scale::concurrent_creates(daemon, 50);
    report.facts.extend(run.facts);
    report.notes.extend(
        run.failures
            .iter()
            .map(|f| format!("concurrent create failed: {f}")),
    );
    report.figures.extend([run.sequential, run.concurrent]);
}

/// The quiet before each run of the idle boot figures: long enough for the kernel's cgroup
/// lock to go cold, as between two commands typed by a person.
const IDLE_PAUSE: Duration = Duration::from_millis(300);

/// With `--favordynmods`: the 10 MiB snapshot boots on a daemon of its own that turned the
/// option on, beside the same figures measured without it earlier in this run.
fn dynmods_figures(report: &mut Report) {
    let daemon = Daemon::start_full(
        Backend::Btrfs,
        &[("AMIKA_LOG", "info")],
        &["--cgroup-favordynmods"],
        "4G",
    );
    let log = daemon.log();
    if !log.contains("favordynmods turned on") && !log.contains("favordynmods already on") {
        report.notes.push(format!(
            "favordynmods rows skipped: the daemon could not turn the option on:\n{log}"
        ));
        return;
    }
    daemon.ctl_ok(&[
        "sandbox", "create", "--name", "warm-up", "--preset", "minimal",
    ]);
    daemon.ctl_ok(&["sandbox", "delete", "--force", "warm-up"]);
    let base = boot::make_base(&daemon, "dyn-10m", 10 << 20, Duration::from_secs(60));
    settle();
    let mut figures: Vec<Figure> = boot::time_snapshot_boot(&daemon, &base).into();
    figures.extend(boot::time_idle_pair(&daemon, &base, IDLE_PAUSE));
    for f in figures.iter_mut() {
        f.name = format!("favordynmods: {}", f.name);
    }
    let idle = boot::idle_name("10 MiB", IDLE_PAUSE);
    let pairs = [
        (
            "favordynmods_over_default_ctl_boot_10mib",
            3,
            "ctl create --snapshot + exec true (10 MiB)",
        ),
        (
            "favordynmods_over_default_api_exec_10mib",
            2,
            "API create + ctl exec true (10 MiB)",
        ),
        (
            "favordynmods_over_default_idle_boot_10mib",
            5,
            idle.as_str(),
        ),
    ];
    for (key, index, default) in pairs {
        let value = ratio(&figures[index], report.figure(default));
        report.ratios.push((key.to_owned(), value));
    }
    report.ratio(
        "favordynmods_ctl_boot_over_floor_10mib",
        &figures[3],
        &figures[0],
    );
    report.ratio(
        "favordynmods_api_exec_over_floor_10mib",
        &figures[2],
        &figures[0],
    );
    report.ratio(
        "favordynmods_idle_boot_over_idle_floor_10mib",
        &figures[5],
        &figures[4],
    );
    report.figures.extend(figures);
}

/// Writes back dirty data so that the next figures do not pay for the previous set-up.
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

fn main() {
    let json_out = std::env::args().skip_while(|a| a != "--json").nth(1);
    let favordynmods = std::env::args().any(|a| a == "--favordynmods");
    let daemon = Daemon::start_with(&[("AMIKA_LOG", "info")], "8G");

    // Build the preset before measuring anything that uses it.
    daemon.ctl_ok(&[
        "sandbox", "create", "--name", "warm-up", "--preset", "minimal",
    ]);
    daemon.ctl_ok(&["sandbox", "delete", "--force", "warm-up"]);

    let mut report = Report::default();
    image_figures(&daemon, &mut report);
    snapshot_figures(&daemon, &mut report);
    capture_figures(&daemon, &mut report);
    zfs_figures(&mut report);
    scale_figures(&daemon, &mut report);
    if favordynmods {
        dynmods_figures(&mut report);
    }
    report.print();

    if let Some(path) = json_out {
        let text = serde_json::to_string_pretty(&report.json()).expect("json");
        std::fs::write(&path, text).expect("write the JSON report");
    }
}
