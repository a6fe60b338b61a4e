//! The ZFS side of the harness: the shared test pool, one dataset per test daemon, what a user
//! would see in `zfs list`, and a cleanup that leaves no dataset or mount behind.
//!
//! The pool (`amika-test`, or `AMIKA_TEST_ZPOOL`) is made by `scripts/zfs-test-pool.sh`,
//! which `make test` runs; a test run started some other way runs it on first use.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The user property amikad puts on a tree deleted while clones still depend on it.
const DELETED: &str = "amika:deleted";

/// The pool every ZFS test dataset lives in.
pub fn pool() -> String {
    std::env::var("AMIKA_TEST_ZPOOL").unwrap_or_else(|_| "amika-test".into())
}

/// Runs `zfs ARGS`; returns stdout on success, else stderr as the error.
pub fn zfs(args: &[&str]) -> Result<String, String> {
    let out = Command::new("zfs")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run zfs: {e}; install zfs-fuse (make deps)"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Makes sure the test pool is imported, running the script that makes it when it is not.
/// A pool that still cannot be had is a failure with the reason, never a skipped test.
pub fn ensure_pool() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let imported = Command::new("zpool")
            .args(["list", "-H", "-o", "name", &pool()])
            .output()
            .is_ok_and(|o| o.status.success());
        if imported {
            return Ok(());
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/zfs-test-pool.sh");
        let out = Command::new(&script)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed:\n{}{}",
                script.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = ready {
        panic!("the ZFS test pool is not available: {e}");
    }
}

/// Creates `dataset` mounted at `mountpoint`, as a user preparing amikad's dataset would.
pub fn create_dataset(dataset: &str, mountpoint: &Path) {
    ensure_pool();
    let option = format!("mountpoint={}", mountpoint.display());
    if let Err(e) = zfs(&["create", "-o", &option, dataset]) {
        panic!("cannot create the test dataset {dataset}: {e}");
    }
}

/// Creates `dataset` with no mount point (it inherits the test pool's `none`).
pub fn create_unmounted_dataset(dataset: &str) {
    ensure_pool();
    if let Err(e) = zfs(&["create", dataset]) {
        panic!("cannot create the test dataset {dataset}: {e}");
    }
}

/// Ids of the live trees in `dataset/area`: what amikad lists, without the trees it keeps
/// only for their clones.
pub fn trees(dataset: &str, area: &str) -> Vec<String> {
    let parent = format!("{dataset}/{area}");
    let columns = format!("name,{DELETED}");
    let Ok(out) = zfs(&[
        "list",
        "-H",
        "-o",
        &columns,
        "-t",
        "filesystem",
        "-r",
        &parent,
    ]) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = out
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .filter(|(_, deleted)| *deleted != "on")
        .filter_map(|(name, _)| name.strip_prefix(&format!("{parent}/")))
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids
}

/// Every dataset and snapshot under `dataset` that is not part of a live tree: trees kept
/// only for their clones, and capture snapshots. Names are relative to `dataset`.
pub fn hidden(dataset: &str) -> Vec<String> {
    let columns = format!("name,{DELETED}");
    let out = zfs(&["list", "-H", "-o", &columns, "-t", "all", "-r", dataset])
        .unwrap_or_else(|e| panic!("cannot list {dataset}: {e}"));
    let prefix = format!("{dataset}/");
    let mut found: Vec<String> = out
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .filter(|(name, deleted)| *deleted == "on" || name.contains("@capture-"))
        .filter_map(|(name, _)| name.strip_prefix(&prefix))
        .map(str::to_owned)
        .collect();
    found.sort();
    found
}

/// Destroys `dataset` and everything in it, after killing whatever still runs on it.
/// Reports (without panicking, as it runs in `Drop`) anything it could not remove.
pub fn destroy_dataset(dataset: &str) {
    kill_processes_on(dataset);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // zfs-fuse destroys nothing mounted, and needs a moment after an unmount.
        let _ = zfs(&["unmount", dataset]);
        match zfs(&["destroy", "-r", dataset]) {
            Ok(_) => return,
            Err(e) if e.contains("does not exist") => return,
            Err(e) if Instant::now() > deadline => {
                eprintln!("test dataset {dataset} left behind: {e}");
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Kills the processes whose root is a dataset of `dataset`: sandboxes a failed test left
/// running, which would keep their datasets busy for good. Only the root mount counts, so a
/// sandbox of another test that is booting (and briefly sees every host mount) is spared.
fn kill_processes_on(dataset: &str) {
    let own = std::fs::read_link("/proc/self/ns/mnt").ok();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let proc = entry.path();
        if std::fs::read_link(proc.join("ns/mnt")).ok() == own {
            continue;
        }
        let mounts = std::fs::read_to_string(proc.join("mountinfo")).unwrap_or_default();
        let on_ours = mounts.lines().any(|line| {
            let (fields, rest) = line.split_once(" - ").unwrap_or((line, ""));
            let root = fields.split(' ').nth(4) == Some("/");
            let source = rest.split(' ').nth(1).unwrap_or_default();
            root && source.starts_with(&format!("{dataset}/"))
        });
        if on_ours {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}
