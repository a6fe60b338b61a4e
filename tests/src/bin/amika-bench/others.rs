//! The same boot by other container tools, where they are installed. Nothing is installed
//! for the bench; a tool that is missing or fails is reported as skipped with the reason.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use amika_tests::Daemon;

use crate::figure::{Figure, RUNS};

/// The full path of `tool` on `PATH`, if any.
fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
}

fn reason(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .last()
        .unwrap_or("no message")
        .trim()
        .to_owned();
    format!("exited with {}: {line}", out.status)
}

/// Times `command` (built fresh per run) `RUNS` times after one trial run that must succeed.
fn time_tool(name: &str, command: impl Fn() -> Command) -> Result<Figure, String> {
    let trial = command().output().map_err(|e| format!("cannot run: {e}"))?;
    if !trial.status.success() {
        return Err(reason(&trial));
    }
    let samples = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let out = command().output().expect("run the tool");
            assert!(out.status.success(), "{name} failed: {}", reason(&out));
            started.elapsed()
        })
        .collect();
    Ok(Figure::new(name, samples))
}

/// `systemd-nspawn --ephemeral` and `lxc-execute` running `/bin/true` in a copy of the
/// `minimal` tree. Returns the figures measured and a note per tool skipped.
pub fn compare(daemon: &Daemon, minimal_tree: &Path) -> (Vec<Figure>, Vec<String>) {
    let mut figures = Vec::new();
    let mut notes = Vec::new();
    let copy = daemon.pool().join("staging").join("other-tools");
    let copied = Command::new("btrfs")
        .args(["-q", "subvolume", "snapshot"])
        .arg(minimal_tree)
        .arg(&copy)
        .status()
        .is_ok_and(|s| s.success());
    assert!(copied, "copying the minimal tree for other tools failed");

    match which("systemd-nspawn") {
        None => notes.push("systemd-nspawn: skipped: not installed".into()),
        Some(tool) => {
            let run = || {
                let mut c = Command::new(&tool);
                c.args(["--quiet", "--ephemeral", "-D"])
                    .arg(&copy)
                    .arg("/bin/true");
                c
            };
            match time_tool("systemd-nspawn --ephemeral /bin/true (minimal)", run) {
                Ok(f) => figures.push(f),
                Err(e) => notes.push(format!("systemd-nspawn: skipped: {e}")),
            }
        }
    }

    match (which("lxc-copy"), which("lxc-execute")) {
        (None, _) => notes.push("lxc: skipped: not installed".into()),
        (_, None) => notes.push("lxc: skipped: lxc-execute not installed".into()),
        (Some(_), Some(tool)) => {
            let rootfs = format!("lxc.rootfs.path=dir:{}", copy.display());
            let run = || {
                let mut c = Command::new(&tool);
                c.args(["-n", "amika-bench", "-s", &rootfs, "--", "/bin/true"]);
                c
            };
            match time_tool("lxc-execute /bin/true (minimal)", run) {
                Ok(f) => figures.push(f),
                Err(e) => notes.push(format!("lxc: skipped: {e}")),
            }
        }
    }

    let _ = Command::new("btrfs")
        .args(["-q", "subvolume", "delete"])
        .arg(&copy)
        .status();
    (figures, notes)
}
