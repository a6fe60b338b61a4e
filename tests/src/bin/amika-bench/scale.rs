//! Scale figures: memory and time per sandbox with many running, `sandbox list` with 1,000
//! present, and concurrent creates.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use amika_tests::{raw_request, Daemon};

use crate::figure::{fact, ms, timed, Fact, Figure, RUNS};

/// Parallel client threads for bulk set-up and clean-up.
const WORKERS: usize = 4;

/// A `kB` field of a `/proc` file such as `status` (`VmRSS`) or `smaps_rollup` (`Pss`).
fn proc_kib(pid: i64, file: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Creates `name` from the `minimal` preset through the API; returns the time and the reply.
fn api_create(daemon: &Daemon, name: &str) -> (Duration, u16, String) {
    let body = serde_json::json!({"name": name, "preset": "minimal"}).to_string();
    let started = Instant::now();
    let (status, reply) = raw_request(&daemon.socket(), "POST", "/v1/sandboxes", &body);
    (started.elapsed(), status, reply)
}

/// Runs `job` over `items` on [`WORKERS`] threads.
fn in_parallel(items: &[String], job: impl Fn(&str) + Sync) {
    let chunk = items.len().div_ceil(WORKERS).max(1);
    std::thread::scope(|scope| {
        for part in items.chunks(chunk) {
            let job = &job;
            scope.spawn(move || part.iter().for_each(|n| job(n)));
        }
    });
}

/// Deletes the named sandboxes on parallel clients.
pub fn delete_all(daemon: &Daemon, names: &[String]) {
    in_parallel(names, |name| {
        daemon.ctl_ok(&["sandbox", "delete", "--force", name]);
    });
}

/// Times `sandbox list` through `amika-ctl`.
pub fn time_list(daemon: &Daemon, name: &str) -> Figure {
    let samples = (0..RUNS)
        .map(|_| {
            timed(|| {
                daemon.ctl_ok(&["-o", "json", "sandbox", "list"]);
            })
        })
        .collect();
    Figure::new(name, samples)
}

/// Starts `count` sandboxes one after another through `amika-ctl` and measures time and
/// memory per sandbox. Returns their names, the per-create figure and the facts.
pub fn density(daemon: &Daemon, count: usize) -> (Vec<String>, Figure, Vec<Fact>) {
    let daemon_pid = i64::from(daemon.pid());
    let rss_before = proc_kib(daemon_pid, "status", "VmRSS");
    let names: Vec<String> = (0..count).map(|i| format!("dense-{i}")).collect();
    let started = Instant::now();
    let samples = names
        .iter()
        .map(|name| {
            timed(|| {
                daemon.ctl_ok(&["sandbox", "create", "--name", name, "--preset", "minimal"]);
            })
        })
        .collect();
    let total = started.elapsed();
    let rss_after = proc_kib(daemon_pid, "status", "VmRSS");

    let list = daemon.ctl_json(&["sandbox", "list"]);
    let pids: Vec<i64> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with("dense-")))
        .filter_map(|s| s["pid"].as_i64())
        .collect();
    assert_eq!(
        pids.len(),
        count,
        "every dense sandbox should be running with a pid"
    );
    let init_rss: u64 = pids.iter().map(|p| proc_kib(*p, "status", "VmRSS")).sum();
    let init_pss: u64 = pids
        .iter()
        .map(|p| proc_kib(*p, "smaps_rollup", "Pss"))
        .sum();

    let n = count as f64;
    let growth = rss_after as f64 - rss_before as f64;
    let per_sandbox = (init_rss as f64 + growth) / n;
    let facts = vec![
        fact("density_sandboxes", n, ""),
        fact("density_total_s", total.as_secs_f64(), "s"),
        fact("density_ms_per_sandbox", ms(total) / n, "ms"),
        fact(
            "density_init_rss_kib_per_sandbox",
            init_rss as f64 / n,
            "KiB",
        ),
        fact(
            "density_init_pss_kib_per_sandbox",
            init_pss as f64 / n,
            "KiB",
        ),
        fact("density_daemon_growth_kib_per_sandbox", growth / n, "KiB"),
        fact(
            "density_kib_per_sandbox_init_rss_plus_daemon",
            per_sandbox,
            "KiB",
        ),
        fact("daemon_rss_before_mib", rss_before as f64 / 1024.0, "MiB"),
        fact("daemon_rss_after_mib", rss_after as f64 / 1024.0, "MiB"),
    ];
    let figure = Figure::new(
        format!("ctl sandbox create, {count} in a row (minimal)"),
        samples,
    );
    (names, figure, facts)
}

/// Adds sandboxes through the API on parallel clients until `names` holds `total`.
pub fn fill_to(daemon: &Daemon, names: &mut Vec<String>, total: usize) {
    let more: Vec<String> = (names.len()..total).map(|i| format!("dense-{i}")).collect();
    in_parallel(&more, |name| {
        let (_, status, reply) = api_create(daemon, name);
        assert_eq!(status, 201, "create {name} failed: {reply}");
    });
    names.extend(more);
}

/// What the concurrent-create run saw.
pub struct Concurrent {
    /// Sequential creates through the API: the baseline.
    pub sequential: Figure,
    /// Each create's latency when all were sent at once.
    pub concurrent: Figure,
    /// Facts: wall times, successes, failures.
    pub facts: Vec<Fact>,
    /// Failure replies, for the report.
    pub failures: Vec<String>,
}

/// Sends `count` creates one after another, then `count` at once on as many threads.
pub fn concurrent_creates(daemon: &Daemon, count: usize) -> Concurrent {
    let seq_names: Vec<String> = (0..count).map(|i| format!("seq-{i}")).collect();
    let seq_started = Instant::now();
    let sequential = seq_names
        .iter()
        .map(|name| {
            let (elapsed, status, reply) = api_create(daemon, name);
            assert_eq!(status, 201, "sequential create {name} failed: {reply}");
            elapsed
        })
        .collect();
    let seq_wall = seq_started.elapsed();
    delete_all(daemon, &seq_names);

    let barrier = Barrier::new(count);
    let started = Instant::now();
    let results: Vec<(Duration, u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    api_create(daemon, &format!("par-{i}"))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let wall = started.elapsed();

    let ok: Vec<String> = (0..count)
        .filter(|i| results[*i].1 == 201)
        .map(|i| format!("par-{i}"))
        .collect();
    let failures: Vec<String> = results
        .iter()
        .filter(|r| r.1 != 201)
        .map(|r| format!("{} {}", r.1, r.2.trim()))
        .collect();
    let locked = failures
        .iter()
        .filter(|f| f.contains("database is locked"))
        .count();
    delete_all(daemon, &ok);

    let facts = vec![
        fact("concurrent_creates", count as f64, ""),
        fact("concurrent_created_201", ok.len() as f64, ""),
        fact("concurrent_failed", failures.len() as f64, ""),
        fact("concurrent_database_locked", locked as f64, ""),
        fact("concurrent_wall_ms", ms(wall), "ms"),
        fact("sequential_wall_ms", ms(seq_wall), "ms"),
        fact(
            "concurrent_wall_over_sequential_wall",
            ms(wall) / ms(seq_wall),
            "x",
        ),
    ];
    let samples = results.iter().map(|r| r.0).collect();
    Concurrent {
        sequential: Figure::new(format!("API create, {count} one after another"), sequential),
        concurrent: Figure::new(format!("API create, {count} at once (each)"), samples),
        facts,
        failures,
    }
}
