//! The `zfs` and `zpool` commands, found once by absolute path and run through
//! [`crate::command::run`], so every call is logged with its arguments and every failure
//! carries the exit status and stderr.
//!
//! ZFS refuses to destroy or rename a dataset with "dataset is busy" while anything still
//! holds its mount. Right after an unmount that is often only the mount draining: zfs-fuse
//! releases a dataset on its own threads a moment after the kernel lets go, and a sandbox
//! that is booting holds a copy of every host mount until its init pivots and detaches them.
//! The commands that need a dataset free therefore retry that one answer for a bounded time.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::command::{self, CommandError};

/// How long a command refused with "busy" is retried before the refusal is reported.
const BUSY_PATIENCE: Duration = Duration::from_secs(10);

/// The first pause between two tries; each later one doubles, up to [`BUSY_PAUSE_MAX`].
const BUSY_PAUSE: Duration = Duration::from_millis(10);

/// The longest pause between two tries.
const BUSY_PAUSE_MAX: Duration = Duration::from_millis(400);

/// The two ZFS tools, by absolute path.
#[derive(Debug, Clone)]
pub struct Cli {
    zfs: PathBuf,
    zpool: PathBuf,
}

impl Cli {
    /// Finds `zfs` and `zpool` in the system tool directories.
    pub fn find() -> Result<Cli, CommandError> {
        Ok(Cli {
            zfs: command::find_tool("zfs")?,
            zpool: command::find_tool("zpool")?,
        })
    }

    /// Runs `zfs ARGS` and returns its standard output.
    pub fn zfs(&self, args: &[&str]) -> Result<String, CommandError> {
        run(&self.zfs, args)
    }

    /// Runs `zpool ARGS` and returns its standard output.
    pub fn zpool(&self, args: &[&str]) -> Result<String, CommandError> {
        run(&self.zpool, args)
    }

    /// Runs `zfs ARGS`, trying again while ZFS answers that the dataset is busy.
    pub fn zfs_when_free(&self, args: &[&str]) -> Result<String, CommandError> {
        let deadline = Instant::now() + BUSY_PATIENCE;
        let mut pause = BUSY_PAUSE;
        loop {
            match self.zfs(args) {
                Err(e) if is_busy(&e) && Instant::now() + pause < deadline => {
                    tracing::debug!(args = %args.join(" "), ?pause, "dataset busy; retrying");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(BUSY_PAUSE_MAX);
                }
                outcome => return outcome,
            }
        }
    }

    /// What `zfs` prints when run without a command: its list of commands and their flags.
    pub fn zfs_usage(&self) -> String {
        match self.zfs(&[]) {
            Ok(stdout) => stdout,
            // It exits 2 and prints the usage on stderr, which the error keeps in full.
            Err(CommandError::Failed { stderr, .. }) => stderr,
            Err(_) => String::new(),
        }
    }
}

fn run(program: &std::path::Path, args: &[&str]) -> Result<String, CommandError> {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let output = command::run(program, &args)?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Whether ZFS refused because something still holds the dataset or its mount.
pub fn is_busy(err: &CommandError) -> bool {
    stderr_has(err, &["dataset is busy", "target is busy", "umount failed"])
}

/// Whether ZFS refused because the dataset or snapshot does not exist.
pub fn is_missing(err: &CommandError) -> bool {
    stderr_has(err, &["does not exist", "could not find any snapshots"])
}

/// Whether ZFS refused because a dataset or snapshot of that name exists already.
pub fn is_existing(err: &CommandError) -> bool {
    stderr_has(err, &["already exists"])
}

/// Whether an unmount found nothing mounted.
pub fn is_not_mounted(err: &CommandError) -> bool {
    stderr_has(err, &["not currently mounted"])
}

fn stderr_has(err: &CommandError, needles: &[&str]) -> bool {
    match err {
        CommandError::Failed { stderr, .. } => needles.iter().any(|n| stderr.contains(n)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn failed(stderr: &str) -> CommandError {
        CommandError::Failed {
            program: "/sbin/zfs".into(),
            args: "destroy tank/a".into(),
            status: std::process::ExitStatus::from_raw(1 << 8),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn refusals_are_told_apart_by_what_zfs_says() {
        assert!(is_busy(&failed("cannot destroy 'tank/a': dataset is busy")));
        assert!(is_busy(&failed(
            "umount: /tank/a: target is busy.\ncannot unmount '/tank/a': umount failed"
        )));
        assert!(!is_busy(&failed(
            "cannot open 'tank/a': dataset does not exist"
        )));
        assert!(is_missing(&failed(
            "cannot open 'tank/a': dataset does not exist"
        )));
        assert!(is_not_mounted(&failed(
            "cannot unmount 'tank/a': not currently mounted"
        )));
        let spawn = CommandError::Spawn {
            program: "/sbin/zfs".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert!(!is_busy(&spawn) && !is_missing(&spawn));
    }
}
